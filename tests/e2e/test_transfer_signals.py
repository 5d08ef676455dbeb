"""SIGTERM in the middle of a run: the versions in flight are finished (or given back), the
process exits 3 with nothing left claimed, and a resume completes with each asset written
exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from .conftest import start_sandbox, stop_sandbox
from .transfer_helpers import MIGRATOR, engine, publish_writes, request_log, state_rows, summary

pytestmark = pytest.mark.e2e


def test_sigterm_stops_cleanly_with_exit_3_and_resume_finishes(tmp_path):
    sb = start_sandbox(tmp_path, "--latency", "0.15")
    proc = None
    try:
        plan = sb.migrator("plan", "demo.toml")
        assert plan.returncode == 0, plan.stderr
        proc = subprocess.Popen([*MIGRATOR, "run", "demo.toml"],
                                cwd=sb.workdir, env=sb.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(publish_writes(sb)) < 3:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 3, err[-3000:]
        assert "migrator resume" in err
        claimed = state_rows(sb.workdir, "SELECT count(*) FROM versions WHERE status = "
                             "'claimed'")[0][0]
        assert claimed == 0
        partial = len(publish_writes(sb))
        r = engine(sb, "resume", "--state", "state/demo.sqlite", "--json", "--no-progress")
        assert r.returncode == 0, r.stderr[-3000:]
        writes = publish_writes(sb)
        assert len(writes) > partial and set(writes.values()) == {1}
        assert len(writes) == summary(r)["assets"]["verified"]
        codes = [c for (c,) in state_rows(sb.workdir, "SELECT exit_code FROM runs "
                                          "WHERE command != 'plan' ORDER BY id")]
        assert codes[-2:] == [3, 0]
        assert request_log(sb)["by_status"].get("429", 0) == 0
    finally:
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        stop_sandbox(sb)
