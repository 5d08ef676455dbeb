"""`migrator prewarm` and `[prewarm] in_run` at the edges, against the sandbox's built-in public
registry (the seed's proxy caches served anonymously): `run` pre-warms the manifest's
lockfiles; bad lockfiles and missing target repositories are one line and exit 2, before
anything is requested."""

from __future__ import annotations

from pathlib import Path

import pytest

from .transfer_helpers import state_rows, summary

pytestmark = pytest.mark.e2e

LOCKS = Path(__file__).resolve().parents[2] / "sample-manifests" / "lockfiles"


def test_run_prewarms_the_manifest_lockfiles_when_in_run(sandbox):
    lock = LOCKS / "yarn-classic" / "yarn.lock"
    sandbox.manifest.write_text(sandbox.manifest.read_text() + f"""
[prewarm]
lockfiles = ["{lock}"]
in_run = true
""")
    proc = sandbox.migrator("--no-progress", "run", str(sandbox.manifest), "--json",
                            timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = dict(state_rows(sandbox.workdir, "SELECT a.path, a.status FROM assets a JOIN "
                           "repositories r ON r.id = a.repository_id WHERE r.source = "
                           "'lockfiles:npm'"))
    # ms and @isaacs/string-locale-compare are in the npm-proxy cache too: requested once,
    # there; is-number is internal (migrated by copy by this very run): excluded
    assert rows == {"is-number/-/is-number-7.0.0.tgz": "excluded"}
    cached = dict(state_rows(sandbox.workdir, "SELECT a.path, a.status FROM assets a JOIN "
                             "repositories r ON r.id = a.repository_id WHERE r.source = "
                             "'npm-proxy'"))
    tarballs = {p: s for p, s in cached.items() if p.endswith(".tgz")}
    assert "ms/-/ms-2.1.3.tgz" in tarballs and set(tarballs.values()) == {"ingested"}
    internal = summary(proc)["repositories"]["npm-internal"]["assets"]
    assert set(internal) <= {"verified", "excluded"}


def test_bad_lockfile_and_missing_target_are_one_line_and_exit_2(sandbox, tmp_path):
    bad = tmp_path / "requirements.txt"
    bad.write_text("six>=1.16\n")
    proc = sandbox.migrator("--no-progress", "prewarm", str(sandbox.manifest), str(bad))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: {bad}:1: six>=1.16 is not pinned to one version")
    assert "Traceback" not in proc.stderr

    missing = sandbox.migrator("--no-progress", "prewarm", str(sandbox.manifest),
                               str(tmp_path / "nope.lock"))
    assert missing.returncode == 2 and "no such file" in missing.stderr

    sandbox.manifest.write_text(sandbox.manifest.read_text() + """
[prewarm.targets]
npm = "no-such-team"
""")
    proc = sandbox.migrator("--no-progress", "prewarm", str(sandbox.manifest),
                            str(LOCKS / "npm" / "package-lock.json"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no-such-team" in proc.stderr and "Traceback" not in proc.stderr
    assert not state_rows(sandbox.workdir, "SELECT id FROM assets a WHERE a.status = "
                          "'not_found_upstream'")
