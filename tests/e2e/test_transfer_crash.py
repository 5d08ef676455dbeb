"""`run` killed with SIGKILL at named points (during the crawl, mid-download, between a
Maven file's PUT and the version's metadata PUT, during verification), then resumed: every
asset ends verified and the sandbox's request log shows each one written exactly once.

Points: a page recorded, a body on disk but not checked, a download checked but not
published, a Maven file's fact committed before the version's next PUT, then any format's,
CodeArtifact's facts read but not recorded. They are deterministic:
`MIGRATOR_TEST_CRASH_AT=<point>:<n>` makes the process kill itself (SIGKILL) the n-th time it
passes the point. The crash runs use one worker, so no other upload is between its answer and
its commit at the instant of the kill (a kill at an arbitrary instant may repeat one upload of
identical bytes, which the target accepts as the same asset)."""

from __future__ import annotations

import signal

import pytest

from .conftest import start_sandbox, stop_sandbox
from .transfer_helpers import asset_statuses, engine, publish_writes, state_rows, summary

pytestmark = pytest.mark.e2e


def test_sigkill_at_each_point_then_resume_publishes_each_asset_once(tmp_path):
    sb = start_sandbox(tmp_path)
    try:
        manifest = sb.manifest.read_text().replace("concurrency = 8", "concurrency = 1")
        sb.manifest.write_text(manifest)
        points = ["crawl:2", "mid-download:2", "download:5", "recorded-maven:2", "recorded:7",
                  "verify:4"]
        for point in points:
            r = engine(sb, "run", "demo.toml", "--no-progress",
                       env={"MIGRATOR_TEST_CRASH_AT": point})
            assert r.returncode == -signal.SIGKILL, (point, r.returncode, r.stderr[-2000:])
        claimed = state_rows(sb.workdir, "SELECT count(*) FROM versions WHERE status = "
                             "'claimed'")[0][0]
        assert claimed >= 1  # the killed run's lease is still in the state
        r = engine(sb, "resume", "--state", "state/demo.sqlite", "--json", "--no-progress")
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        result = summary(r)
        statuses = asset_statuses(sb.workdir)
        modes = dict(state_rows(sb.workdir, "SELECT source, mode FROM repositories"))
        copied = {k for k, s in statuses.items() if modes[k[0]] == "copy" and s != "excluded"}
        assert {statuses[k] for k in copied} == {"verified"}
        assert len(copied) == result["assets"]["verified"]
        writes = publish_writes(sb)
        assert len(writes) == len(copied)
        assert set(writes.values()) == {1}, {k: n for k, n in writes.items() if n != 1}
        # and the crashes really happened where they were asked to
        runs = state_rows(sb.workdir, "SELECT command, exit_code FROM runs ORDER BY id")
        assert [code for _, code in runs] == [None] * len(points) + [0]
    finally:
        stop_sandbox(sb)
