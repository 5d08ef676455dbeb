"""`migrator plan` killed with SIGKILL mid-crawl, then run again: no page is read twice
(except those in flight at the kill), and the state ends as an uninterrupted crawl's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from urllib.parse import parse_qs

import httpx

from .conftest import start_sandbox, stop_sandbox


def asset_pages(nexus: str) -> list[tuple[str, str]]:
    log = httpx.get(f"{nexus}/_sandbox/requests").json()
    entries = log["requests"] if isinstance(log, dict) else log
    out = []
    for e in entries:
        if e["path"] == "/service/rest/v1/assets" and e["status"] == 200:
            q = parse_qs(e["query"])
            out.append((q["repository"][0], q.get("continuationToken", [""])[0]))
    return out


def test_sigkill_during_plan_then_plan_again_reads_no_page_twice(tmp_path):
    sb = start_sandbox(tmp_path, "--nexus-mode", "orient", "--source-latency", "0.05")
    try:
        nexus = sb.info["nexus"]["url"]
        proc = subprocess.Popen([sys.executable, "-m", "migrator", "plan", "demo.toml"],
                                cwd=tmp_path, env=sb.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(asset_pages(nexus)) < 5 and time.monotonic() < deadline:
            assert proc.poll() is None, "the plan finished before it could be interrupted"
            time.sleep(0.02)  # polling the sandbox's log, bounded by the deadline
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        before = asset_pages(nexus)
        assert len(before) >= 5

        r = sb.migrator("plan", "demo.toml", "--json")
        assert r.returncode == 0, r.stderr
        pages = asset_pages(nexus)
        seen: dict[tuple[str, str], int] = {}
        for p in pages:
            seen[p] = seen.get(p, 0) + 1
        twice = [p for p, n in seen.items() if n > 1]
        # only a page that was in flight when the process died may be asked for again: at
        # most one per repository being crawled at that moment (source_concurrency = 4)
        last_before = {}
        for repo, token in before:
            last_before[repo] = token
        assert all(last_before.get(repo) == token for repo, token in twice), twice
        assert len(twice) <= 4

        status = json.loads(sb.migrator("status", "demo.toml", "--json").stdout)
    finally:
        stop_sandbox(sb)

    # the same inventory as an uninterrupted crawl of a fresh sandbox
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    sb2 = start_sandbox(fresh, "--nexus-mode", "orient")
    try:
        assert sb2.migrator("plan", "demo.toml").returncode == 0
        expected = json.loads(sb2.migrator("status", "demo.toml", "--json").stdout)
    finally:
        stop_sandbox(sb2)
    for name, repo in expected["repositories"].items():
        got = status["repositories"][name]
        assert (got["assets"], got["versions"], got["crawl"]) == (
            repo["assets"], repo["versions"], "complete"), name
