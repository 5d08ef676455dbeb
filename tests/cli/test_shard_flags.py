"""`--shard`, `--shards`, `--rate-share` and `--state s3://` on the command line, and the
manifest's `state_url` / checkpoint / lease options: mistakes are one line and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from migrator.errors import ManifestError
from migrator.manifest import Options, parse_manifest

MANIFEST = """
[source]
kind = "nexus"
url = "http://127.0.0.1:9"
username_env = "NX_USER"
password_env = "NX_PASS"

[target]
domain = "acme"
domain_owner = "111122223333"
region = "eu-west-1"

[[repositories]]
source = "npm-internal"
target = "npm-internal"
"""


def run_cli(tmp_path, *args, env=None):
    (tmp_path / "m.toml").write_text(MANIFEST)
    clean = {k: v for k, v in os.environ.items()
             if k not in ("JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX",
                          "MIGRATOR_SHARDS", "AWS_BATCH_JOB_ARRAY_SIZE")}
    return subprocess.run([sys.executable, "-m", "migrator", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60,
                          env={**clean, "NX_USER": "u", "NX_PASS": "p", **(env or {})})


@pytest.mark.parametrize(("args", "env", "says"), [
    (("run", "m.toml", "--shard", "4/3"), {}, "shard 4 of 3 does not exist"),
    (("plan", "m.toml", "--shard", "two"), {}, "expected K/N"),
    (("run", "m.toml", "--shard", "auto"), {}, "neither JOB_COMPLETION_INDEX"),
    (("run", "m.toml", "--shard", "auto"), {"JOB_COMPLETION_INDEX": "1"},
     "nothing gives the number of shards"),
    (("resume", "m.toml", "--shards", "3"), {}, "--shards 3 needs --shard auto"),
    (("run", "m.toml", "--state", "s3://bucket-only"), {}, "not an s3://bucket/key URL"),
    # every command that takes a state reads the URL the same way
    *[((*cmd, "--state", "s3://bucket-only"), {}, "not an s3://bucket/key URL") for cmd in (
        ("status",), ("report",), ("verify",), ("retry",), ("state", "backup"),
        ("cutover", "m.toml", "--out", "kit"), ("sync", "m.toml"),
        ("prewarm", "m.toml", "--dry-run"), ("run", "m.toml", "--only-failed", "x.csv"))],
    (("status", "--merge", "s3://b/k.sqlite", "s3://b/k.sqlite"), {}, "given twice"),
])
def test_mistakes_are_one_line_and_exit_2(tmp_path, args, env, says):
    r = run_cli(tmp_path, *args, env=env)
    assert r.returncode == 2, r.stderr
    assert says in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").iterdir())


def test_the_flags_are_in_the_help(tmp_path):
    for command in ("plan", "run", "resume"):
        r = run_cli(tmp_path, command, "--help")
        assert r.returncode == 0
        for flag in ("--shard", "--shards", "--rate-share", "s3://"):
            assert flag in r.stdout, (command, flag)
    for command in (("status",), ("report",), ("verify",), ("retry",), ("cutover",),
                    ("state", "backup"), ("prewarm",)):
        r = run_cli(tmp_path, *command, "--help")
        assert r.returncode == 0 and "s3://" in r.stdout, command


def test_manifest_state_options():
    m = parse_manifest(MANIFEST + '[options]\nstate_url = "s3://acme-state/m/demo.sqlite"\n'
                       "state_checkpoint_seconds = 5\nstate_lease_seconds = 30\n", "m.toml")
    assert m.options.state_url == "s3://acme-state/m/demo.sqlite"
    assert (m.options.state_checkpoint_seconds, m.options.state_lease_seconds) == (5.0, 30.0)
    d = parse_manifest(MANIFEST, "m.toml").options
    assert d.state_url is None and d.state_checkpoint_seconds == Options.state_checkpoint_seconds


@pytest.mark.parametrize(("line", "key"), [
    ('state_url = "/var/state.sqlite"', "options.state_url"),
    ('state_url = "s3://Bad_Bucket/k"', "options.state_url"),
    ("state_checkpoint_seconds = 0", "options.state_checkpoint_seconds"),
    ('state_lease_seconds = "long"', "options.state_lease_seconds"),
])
def test_bad_state_options_name_the_key(line, key):
    with pytest.raises(ManifestError) as err:
        parse_manifest(MANIFEST + f"[options]\n{line}\n", "m.toml")
    assert key in str(err.value)
