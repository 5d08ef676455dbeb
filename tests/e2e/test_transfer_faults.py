"""A hostile day: the target answers 10 % 5xx, 5 % 429 ThrottlingException with Retry-After,
resets 2 % of connections, stores 10 % of the writes but loses their answers (reset after the
write), all under the default read lag; the source answers 5 % 5xx and reports a wrong
checksum for one file. The run still ends with everything verified except that file:
failed_permanent, both checksums in its reason, named in the summary, exit code 1; no write
whose answer was lost ends as a conflict."""

from __future__ import annotations

import httpx
import pytest

from .conftest import start_sandbox, stop_sandbox
from .transfer_helpers import asset_statuses, engine, request_log, state_rows, summary

pytestmark = pytest.mark.e2e

CORRUPT = ("npm-internal", "is-number/-/is-number-6.0.0.tgz")


def test_faults_everywhere_everything_verified_but_the_corrupt_file(tmp_path):
    sb = start_sandbox(tmp_path, "--error-rate", "0.10", "--throttle-rate", "0.05",
                       "--reset-rate", "0.02", "--fault-seed", "7")
    try:
        nexus = sb.info["nexus"]["url"]
        r = httpx.post(f"{nexus}/_sandbox/knobs", json={
            "error_rate": 0.05, "seed": 11, "corrupt_checksum": ["/".join(CORRUPT)]})
        assert r.status_code == 200
        # the rate draws from one RNG shared by concurrent requests, so which writes lose
        # their answer varies run to run; the counter makes the first three certain
        r = httpx.post(sb.info["codeartifact"]["faults_url"],
                       json={"lost_answer_rate": 0.10, "lost_answers": 3})
        assert r.status_code == 200
        r = engine(sb, "run", "demo.toml", "--json", "--no-progress", timeout=240)
        assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]
        result = summary(r)
        statuses = asset_statuses(sb.workdir)
        modes = dict(state_rows(sb.workdir, "SELECT source, mode FROM repositories"))
        bad = statuses.pop(CORRUPT)
        assert bad == "failed_permanent"
        for (repo, path), s in statuses.items():
            if s != "excluded":
                # a write whose answer was lost is settled by its retry: the retry meets the
                # bytes already there (skipped_identical) or stores them (then verified)
                done = {"verified", "skipped_identical"} if modes[repo] == "copy" else \
                    {"ingested"}
                assert s in done, (repo, path, s)
        reason = state_rows(sb.workdir, "SELECT reason FROM assets WHERE path = ?",
                            (CORRUPT[1],))[0][0]
        assert "checksum mismatch" in reason and "source says" in reason
        assert "downloaded" in reason
        named = [f for f in result["failures"] if f["path"] == CORRUPT[1]]
        assert named and named[0]["status"] == "failed_permanent"
        # the faults really happened
        log = request_log(sb)
        assert log["by_status"].get("429", 0) > 0  # injected throttling, honoured
        assert log["by_status"].get("500", 0) + log["by_status"].get("503", 0) > 0
        assert log["by_status"].get("-1", 0) > 0  # resets
        entries = httpx.get(sb.info["codeartifact"]["requests_url"]).json()["entries"]
        assert [e for e in entries if e.get("fault") == "lost-answer"]  # writes that landed
        # the corrupt bytes were never offered to the target
        assert not any("is-number/6.0.0" in k for k in log["by_asset"])
    finally:
        stop_sandbox(sb)
