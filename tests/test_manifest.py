"""The manifest: every sample loads; every mistake is named by file, key, problem and fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from migrator.errors import ConfigError, ManifestError
from migrator.manifest import glob_match, load_manifest
from migrator.models import Format

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "sample-manifests").glob("*.toml"))

GOOD = """
[source]
kind = "nexus"
url = "https://nexus.example.com/"
username_env = "NX_USER"
password_env = "NX_PASS"

[target]
domain = "acme"
domain_owner = "111122223333"
region = "eu-west-1"

[[repositories]]
source = "maven-releases"
target = "maven-internal"
"""


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_every_sample_manifest_loads(path):
    m = load_manifest(path)
    assert m.repositories and m.source.kind in ("nexus", "artifactory")


def test_a_minimal_manifest_gets_the_documented_defaults(tmp_path):
    p = tmp_path / "wave1.toml"
    p.write_text(GOOD)
    m = load_manifest(p)
    assert m.source.url == "https://nexus.example.com"
    assert m.state_path == tmp_path.resolve() / "state" / "wave1.sqlite"
    assert m.options.spool_dir is None
    assert m.spool_path(m.state_path) == tmp_path.resolve() / "state" / "spool"
    [r] = m.repositories
    assert (r.mode, r.stage, r.format, r.include, r.exclude) == ("copy", 1, None, (), ())
    o = m.options
    assert (o.concurrency, o.rate_budget, o.snapshots, o.origin_control, o.max_attempts) == (
        8, 90.0, "all", "block-upstream", 5)
    assert m.source.credentials({"NX_USER": "u", "NX_PASS": "p"}) == ("u", "p", None)
    assert m.missing_env({"NX_USER": "u"}) == ["NX_PASS"]


def test_state_and_spool_paths_are_relative_to_the_manifest_not_the_working_directory(
        tmp_path, monkeypatch):
    folder = tmp_path / "ops"
    folder.mkdir()
    (folder / "wave1.toml").write_text(GOOD)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    # the same manifest named from another folder, by a relative path: the same state
    m = load_manifest(Path("..") / "ops" / "wave1.toml")
    assert m.state_path == folder.resolve() / "state" / "wave1.sqlite"
    monkeypatch.chdir(folder)
    assert load_manifest("wave1.toml").state_path == m.state_path
    # a relative state_dir / spool_dir: from the manifest's folder; absolute stays absolute
    (folder / "wave2.toml").write_text(
        GOOD + f'\n[options]\nstate_dir = "../states"\nspool_dir = "{tmp_path / "big"}"\n')
    monkeypatch.chdir(elsewhere)
    m2 = load_manifest(folder / "wave2.toml")
    assert m2.state_path == tmp_path.resolve() / "states" / "wave2.sqlite"
    assert m2.spool_path(m2.state_path) == tmp_path / "big"
    (folder / "wave3.toml").write_text(
        GOOD + f'\n[options]\nstate_dir = "{tmp_path / "abs"}"\nspool_dir = "tmp/spool"\n')
    m3 = load_manifest(folder / "wave3.toml")
    assert m3.state_path == tmp_path / "abs" / "wave3.sqlite"
    assert m3.spool_path(m3.state_path) == folder.resolve() / "tmp" / "spool"
    # without spool_dir, the spool follows the state actually used (e.g. --state)
    assert m.spool_path(tmp_path / "x" / "s.sqlite") == tmp_path / "x" / "spool"


def test_a_stored_manifest_copy_finds_the_same_state(tmp_path, monkeypatch):
    """A resumed run parses the copy `plan` stored, under the manifest's resolved path."""
    from migrator.manifest import parse_manifest

    (tmp_path / "w.toml").write_text(GOOD + '\n[options]\nstate_dir = "st"\n')
    monkeypatch.chdir(tmp_path)
    m = load_manifest("w.toml")
    monkeypatch.chdir("/")
    stored = parse_manifest(m.text, str(m.location))  # what remember_manifest keeps
    assert stored.state_path == m.state_path == tmp_path.resolve() / "st" / "w.sqlite"
    assert stored.spool_path(stored.state_path) == m.spool_path(m.state_path)
    # a manifest reached through a symlink of another name: its state is the link's
    (tmp_path / "links").mkdir()
    (tmp_path / "links" / "wave9.toml").symlink_to(tmp_path / "w.toml")
    linked = load_manifest(tmp_path / "links" / "wave9.toml")
    again = parse_manifest(linked.text, str(linked.location))
    assert again.state_path == linked.state_path == (
        tmp_path.resolve() / "links" / "st" / "wave9.sqlite")


BAD = [
    # (what to change, key in message, problem fragment, fix fragment)
    ('[source]\nkind = nexus', "(syntax)", "not valid TOML", "fix the TOML syntax"),
    (GOOD.replace('kind = "nexus"', 'kind = "nexsus"'), "source.kind",
     "'nexsus' is not one of nexus, artifactory", "one of: nexus, artifactory"),
    (GOOD.replace('kind = "nexus"\n', ""), "source.kind", "missing", 'kind = "nexus"'),
    (GOOD.replace("https://nexus.example.com/", "https://bob:hunter2@nexus.example.com"),
     "source.url", "the URL contains credentials", "username_env"),
    (GOOD.replace("https://nexus.example.com/", "nexus.example.com"), "source.url",
     "is not an http(s) URL", "base URL"),
    (GOOD.replace('password_env = "NX_PASS"', 'password = "hunter2"'), "source.password",
     "unknown key", "did you mean 'password_env'?"),
    (GOOD.replace('password_env = "NX_PASS"\n', ""), "source.password_env",
     "username_env and password_env go together", "add password_env"),
    (GOOD.replace('"NX_PASS"', '"my secret value"'), "source.password_env",
     "must be the NAME of an environment variable", "secrets never go in the manifest"),
    (GOOD.replace('domain = "acme"', 'domain = "Acme_Corp"'), "target.domain",
     "'Acme_Corp' is not a valid CodeArtifact domain name", 'like "acme"'),
    (GOOD.replace('"111122223333"', '"1234"'), "target.domain_owner",
     "is not a valid 12-digit AWS account id", '"111122223333"'),
    (GOOD.replace('region = "eu-west-1"', 'region = "europe"'), "target.region",
     "'europe' is not a valid AWS region", "eu-west-1"),
    (GOOD.replace('region = "eu-west-1"\n', ""), "target.region", "missing", "add region"),
    (GOOD.split("[[repositories]]")[0], "repositories", "no repositories",
     "add at least one [[repositories]]"),
    (GOOD + 'mode = "copyy"\n', "repositories[0].mode",
     "'copyy' is not one of copy, prewarm, skip", "set mode to one of"),
    (GOOD + 'format = "nuget"\n', "repositories[0].format", "'nuget' is not supported",
     "use maven, npm, pypi or generic"),
    (GOOD + 'include = "com/acme/**"\nexclude = [1]\n', "repositories[0].exclude",
     "must be a list of glob strings", 'exclude = ["com/acme/**"]'),
    (GOOD + "stage = -1\n", "repositories[0].stage", "whole number from 0 to 1000",
     "stage = 1"),
    (GOOD + '[[repositories]]\nsource = "maven-releases"\ntarget = "x1"\n',
     "repositories[1].source", "'maven-releases' is mapped twice", "one [[repositories]]"),
    (GOOD + '[[repositories]]\nsource = "npm"\n', "repositories[1].target", "missing",
     "add target"),
    (GOOD + '[[repositories]]\nsource = "npm"\ntarget = "bad/name"\n',
     "repositories[1].target", "not a valid CodeArtifact repository name", "like"),
    (GOOD + "[options]\nrate_budget = 0\n", "options.rate_budget",
     "must be a number of writes per second above 0", "rate_budget = 90"),
    (GOOD + '[options]\nconcurrency = "lots"\n', "options.concurrency",
     "must be a whole number from 1 to 256", "concurrency = 8"),
    (GOOD + '[options]\nsnapshots = "some"\n', "options.snapshots",
     "'some' is not one of all, latest, none", "snapshots"),
    (GOOD + "[optoins]\n", "optoins", "unknown key", "did you mean 'options'?"),
    (GOOD.replace('username_env = "NX_USER"\npassword_env = "NX_PASS"',
                  'token_env = "NX_TOKEN"'), "source.token_env",
     "Nexus authenticates with Basic credentials", "username_env/password_env"),
]


@pytest.mark.parametrize(("text", "key", "problem", "fix"), BAD,
                         ids=[b[1] + ":" + b[2][:20] for b in BAD])
def test_bad_manifests_name_file_key_problem_and_fix(tmp_path, text, key, problem, fix):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ManifestError) as exc:
        load_manifest(p)
    message = str(exc.value)
    assert message.startswith(f"{p}: {key}: ")
    assert problem in message
    assert fix in exc.value.hint
    assert "hunter2" not in message and "my secret value" not in message


def test_missing_manifest_file(tmp_path):
    with pytest.raises(ConfigError, match="no such manifest file"):
        load_manifest(tmp_path / "nope.toml")


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "migrator", *args], capture_output=True,
                          text=True, env=env, timeout=60)


@pytest.mark.parametrize(("text", "key", "problem", "fix"), BAD[:6], ids=[b[1] for b in BAD[:6]])
def test_validate_exits_2_with_the_message(tmp_path, text, key, problem, fix):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    r = run_cli("validate", str(p))
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.startswith(f"error: {p}: {key}: ")
    assert problem in r.stderr and fix in r.stderr
    assert "Traceback" not in r.stderr


def test_validate_checks_the_named_variables_are_set(tmp_path):
    import os
    p = tmp_path / "m.toml"
    p.write_text(GOOD)
    env = {k: v for k, v in os.environ.items() if k not in ("NX_USER", "NX_PASS")}
    r = run_cli("validate", str(p), env=env)
    assert r.returncode == 2
    assert "environment variable(s) NX_USER, NX_PASS not set" in r.stderr
    r = run_cli("validate", str(p), env={**env, "NX_USER": "u", "NX_PASS": "s3cr3t-value"})
    assert r.returncode == 0, r.stderr
    assert "ok (nexus https://nexus.example.com -> CodeArtifact domain acme" in r.stdout
    assert "s3cr3t-value" not in r.stdout + r.stderr


def test_manifest_formats_are_normalised(tmp_path):
    p = tmp_path / "m.toml"
    p.write_text(GOOD + 'format = "maven2"\n')
    assert load_manifest(p).repositories[0].format is Format.MAVEN


@pytest.mark.parametrize(("pattern", "path", "hit"), [
    ("com/acme/**", "com/acme/app/1.0/app-1.0.jar", True),
    ("com/acme/**", "com/acmex/app/1.0/app.jar", False),
    ("**/*.jar", "com/acme/app/1.0/app-1.0.jar", True),
    ("**/*.jar", "app.jar", True),
    ("*.jar", "com/app.jar", False),
    ("@acme/**", "@acme/ui/-/ui-1.0.0.tgz", True),
    ("com/?cme/*", "com/acme/x", True),
])
def test_globs(pattern, path, hit):
    assert glob_match(pattern, path) is hit

