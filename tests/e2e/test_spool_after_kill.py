"""The spool with the real CLI: beside the state by default; a run killed with SIGKILL right
after a download leaves its spool folder behind, and the next run (started from another
folder, naming the same manifest) finds the same state, removes that folder and completes."""

from __future__ import annotations

import signal
import subprocess

import pytest

from .conftest import start_sandbox, stop_sandbox
from .transfer_helpers import MIGRATOR, asset_statuses, state_rows

pytestmark = pytest.mark.e2e


def test_a_killed_runs_spool_is_removed_by_the_next_run_which_completes(tmp_path):
    sb = start_sandbox(tmp_path)
    try:
        spool_root = sb.workdir / "state" / "spool"
        r = sb.migrator("--no-progress", "run", "demo.toml",
                        env={**sb.env, "MIGRATOR_TEST_CRASH_AT": "download:1"})
        assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
        [dead] = list(spool_root.iterdir())
        assert dead.name.startswith("demo-") and "-run-" in dead.name
        assert (dead / "owner.json").is_file()
        left = [f for f in dead.rglob("*") if f.is_file() and f.name != "owner.json"]
        assert left, "the killed run's download should still be in its spool folder"

        # from another folder, by the manifest's path: the same state (no new crawl)
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        r = subprocess.run([*MIGRATOR, "-v", "run", str(sb.manifest), "--json"],
                           cwd=elsewhere, env=sb.env, capture_output=True, text=True,
                           timeout=180)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        assert not (elsewhere / "state").exists()
        assert not dead.exists()
        assert "removed 1 spool folder(s) of dead runs" in r.stderr
        assert list(spool_root.iterdir()) == []  # the finished run removed its own too
        runs = state_rows(sb.workdir, "SELECT command, exit_code FROM runs ORDER BY id")
        assert [code for _, code in runs] == [None, 0]
        modes = dict(state_rows(sb.workdir, "SELECT source, mode FROM repositories"))
        copied = {s for k, s in asset_statuses(sb.workdir).items()
                  if modes[k[0]] == "copy" and s != "excluded"}
        assert copied == {"verified"}
    finally:
        stop_sandbox(sb)
