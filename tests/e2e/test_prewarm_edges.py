"""`migrator prewarm` and `[prewarm] in_run` at the edges, against the sandbox's built-in public
registry (the seed's proxy caches served anonymously), one sandbox for the module and a state
of its own per test: `run` pre-warms the manifest's lockfiles; kill -9 in the middle of a
pre-warm and a re-run end where an uninterrupted one does; bad lockfiles and missing target
repositories are one line and exit 2, before anything is requested."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from migrator.crashpoints import CRASH_ENV

from .conftest import start_sandbox, stop_sandbox
from .transfer_helpers import codeartifact, summary

pytestmark = pytest.mark.e2e

LOCKS = Path(__file__).resolve().parents[2] / "sample-manifests" / "lockfiles"
LOCKFILES = [str(LOCKS / p) for p in ("yarn-classic/yarn.lock", "python/poetry.lock",
                                      "maven/gradle.lockfile")]


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    running = start_sandbox(tmp_path_factory.mktemp("prewarm-edges"))
    yield running
    stop_sandbox(running)


def manifest(sb, folder: Path, extra: str = "") -> Path:
    path = folder / "m.toml"
    path.write_text(sb.manifest.read_text() + extra)
    return path


def rows(state: Path, where: str = "1") -> dict[tuple[str, str], str]:
    con = sqlite3.connect(state)
    try:
        return {(r, p): s for r, p, s in con.execute(
            "SELECT r.source, a.path, a.status FROM assets a JOIN repositories r ON r.id = "
            f"a.repository_id WHERE {where}")}
    finally:
        con.close()


def test_run_prewarms_the_manifest_lockfiles_when_in_run(sb, tmp_path):
    m = manifest(sb, tmp_path, f"""
[prewarm]
lockfiles = ["{LOCKS / 'yarn-classic' / 'yarn.lock'}"]
in_run = true
""")
    proc = sb.migrator("--no-progress", "run", str(m), "--json", timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    state = tmp_path / "state" / "m.sqlite"
    # ms and @isaacs/string-locale-compare are in the npm-proxy cache too: requested once,
    # there; is-number is internal (migrated by copy by this very run): excluded
    assert rows(state, "r.source = 'lockfiles:npm'") == {
        ("lockfiles:npm", "is-number/-/is-number-7.0.0.tgz"): "excluded"}
    tarballs = {p: s for (_, p), s in rows(state, "r.source = 'npm-proxy'").items()
                if p.endswith(".tgz")}
    assert "ms/-/ms-2.1.3.tgz" in tarballs and set(tarballs.values()) == {"ingested"}
    internal = summary(proc)["repositories"]["npm-internal"]["assets"]
    assert set(internal) <= {"verified", "excluded"}


def test_kill_9_mid_prewarm_then_again_ends_as_an_uninterrupted_run(sb, tmp_path):
    m = manifest(sb, tmp_path)
    # killed between two formats' lockfile items, then between a GET and its record
    for point in ("lockfiles:1", "requested:2"):
        killed = sb.migrator("--no-progress", "prewarm", str(m), *LOCKFILES,
                             env={**sb.env, CRASH_ENV: point})
        assert killed.returncode == -9, killed.stdout + killed.stderr
    again = sb.migrator("--no-progress", "prewarm", str(m), *LOCKFILES, "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    uninterrupted = tmp_path / "once.sqlite"
    once = sb.migrator("--no-progress", "prewarm", str(m), *LOCKFILES, "--state",
                       str(uninterrupted))
    assert once.returncode == 0, once.stdout + once.stderr
    assert rows(tmp_path / "state" / "m.sqlite") == rows(uninterrupted)
    assert set(summary(again)["run"]["assets"]) == {"ingested", "excluded"}


def test_bad_lockfile_and_missing_target_are_one_line_and_exit_2(sb, tmp_path):
    m = manifest(sb, tmp_path)
    bad = tmp_path / "requirements.txt"
    bad.write_text("six>=1.16\n")
    proc = sb.migrator("--no-progress", "prewarm", str(m), str(bad))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: {bad}:1: six>=1.16 is not pinned to one version")
    assert "Traceback" not in proc.stderr

    missing = sb.migrator("--no-progress", "prewarm", str(m), str(tmp_path / "nope.lock"))
    assert missing.returncode == 2 and "no such file" in missing.stderr

    m = manifest(sb, tmp_path, '[prewarm.targets]\nnpm = "no-such-team"\n')
    proc = sb.migrator("--no-progress", "prewarm", str(m),
                       str(LOCKS / "npm" / "package-lock.json"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no-such-team" in proc.stderr and "Traceback" not in proc.stderr
    assert not rows(tmp_path / "state" / "m.sqlite", "a.status = 'not_found_upstream'")


def test_the_target_is_found_by_walking_the_upstream_chains(sb, tmp_path):
    """No [prewarm.targets] and no pre-warm mapping: the one end of a chain reaching npm-store's
    public:npmjs in the domain (npm-proxy → npm-store); once a team repository the manifest
    copies into reaches it too, that one; two ends and no team repository: ambiguous."""
    head = sb.manifest.read_text().split("\n[[repositories]]", 1)[0]
    lock = str(LOCKS / "yarn-classic" / "yarn.lock")

    def manifest_into(target: str) -> Path:
        m = tmp_path / f"{target}.toml"
        m.write_text(head + f'\n[[repositories]]\nsource = "npm-internal"\ntarget = "{target}"\n')
        return m

    def dry(m: Path):
        return sb.migrator("--no-progress", "prewarm", str(m), lock, "--dry-run", "--json")

    alone = dry(manifest_into("npm-internal"))  # npm-internal has no upstreams
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert summary(alone)["lockfiles"]["targets"] == {"npm": "npm-proxy"}

    client = codeartifact(sb)
    domain = sb.info["codeartifact"]["domain"]
    client.create_repository(domain=domain, repository="web-team",
                             upstreams=[{"repositoryName": "npm-store"}])
    team = manifest_into("web-team")
    found = dry(team)
    assert found.returncode == 0, found.stdout + found.stderr
    assert summary(found)["lockfiles"]["targets"] == {"npm": "web-team"}
    ambiguous = dry(manifest_into("npm-internal"))
    assert ambiguous.returncode == 2, ambiguous.stdout + ambiguous.stderr
    assert ("several repositories of domain demo end in an external connection for npm: "
            "npm-proxy, web-team") in ambiguous.stderr
    assert '[prewarm.targets] npm = "REPOSITORY"' in ambiguous.stderr
    assert "Traceback" not in ambiguous.stderr

    done = sb.migrator("--no-progress", "prewarm", str(team), lock, "--json", timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    packages = {p["package"] for p in client.list_packages(
        domain=domain, repository="web-team")["packages"]}
    assert "ms" in packages  # fetched through web-team's own chain
