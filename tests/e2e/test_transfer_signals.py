"""SIGTERM in the middle of a run: the versions in flight are finished (or given back), the
process exits 3 with nothing left claimed, and a resume completes with each asset written
exactly once.

The signal comes at a known point, not at a guessed time: `MIGRATOR_TEST_CRASH_AT=recorded:3:
SIGTERM` makes the run send itself SIGTERM once, right after its 3rd publish fact is committed.
The run's own signal handling takes it from there, exactly as for a SIGTERM from outside."""

from __future__ import annotations

import pytest

from .conftest import start_sandbox, stop_sandbox
from .transfer_helpers import engine, publish_writes, request_log, state_rows, summary

pytestmark = pytest.mark.e2e


def test_sigterm_stops_cleanly_with_exit_3_and_resume_finishes(tmp_path):
    sb = start_sandbox(tmp_path)
    try:
        plan = sb.migrator("plan", "demo.toml")
        assert plan.returncode == 0, plan.stderr
        planned = state_rows(sb.workdir, "SELECT count(*) FROM versions v JOIN repositories r "
                             "ON r.id = v.repository_id WHERE r.mode = 'copy' AND "
                             "v.status = 'discovered'")[0][0]
        stopped = engine(sb, "run", "demo.toml",
                         env={"MIGRATOR_TEST_CRASH_AT": "recorded:3:SIGTERM"})
        assert stopped.returncode == 3, stopped.stderr[-3000:]
        assert "SIGTERM: finishing the work in flight" in stopped.stderr
        assert "stopping now" not in stopped.stderr  # one signal, so the grace period ran
        assert "migrator resume" in stopped.stderr
        claimed = state_rows(sb.workdir, "SELECT count(*) FROM versions WHERE status = "
                             "'claimed'")[0][0]
        assert claimed == 0
        partial = publish_writes(sb)
        assert len(partial) >= 3  # at least the three facts before the signal
        verified = state_rows(sb.workdir, "SELECT count(*) FROM versions WHERE status = "
                              "'verified'")[0][0]
        assert verified < planned  # it stopped: work was left for the resume
        r = engine(sb, "resume", "--state", "state/demo.sqlite", "--json", "--no-progress")
        assert r.returncode == 0, r.stderr[-3000:]
        writes = publish_writes(sb)
        assert len(writes) > len(partial) and set(writes.values()) == {1}
        assert len(writes) == summary(r)["assets"]["verified"]
        codes = [c for (c,) in state_rows(sb.workdir, "SELECT exit_code FROM runs "
                                          "WHERE command != 'plan' ORDER BY id")]
        assert codes[-2:] == [3, 0]
        assert request_log(sb)["by_status"].get("429", 0) == 0
    finally:
        stop_sandbox(sb)
