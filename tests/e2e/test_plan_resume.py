"""`migrator plan` killed with SIGKILL mid-crawl, then run again: no page is read twice
(except one that was in flight at the kill, where the resume must start), and the state ends
as an uninterrupted crawl's.

The kill is the crash point `crawl` (`MIGRATOR_TEST_CRASH_AT=crawl:5`: the process kills
itself right after its 5th page is committed), not a guess from the sandbox's log. Which other
pages were in flight at that instant is not fixed (repositories are crawled four at a time), so
the pages allowed a second read are taken from the state the kill left: for each repository
still `crawling`, the page at its saved cursor. Any other page read twice is a resume bug."""

from __future__ import annotations

import json
import signal
import sqlite3
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs

import httpx

from .conftest import start_sandbox, stop_sandbox

SOURCE_CONCURRENCY = 4  # the sandbox manifest's default: repositories crawled at once


def asset_pages(nexus: str) -> list[tuple[str, str]]:
    """(repository, continuation token) of every /v1/assets page the sandbox served."""
    out = []
    for e in httpx.get(f"{nexus}/_sandbox/requests").json():
        if e["path"] == "/service/rest/v1/assets" and e["status"] == 200:
            q = parse_qs(e["query"])
            out.append((q["repository"][0], q.get("continuationToken", [""])[0]))
    return out


def crawl_state(workdir: Path) -> dict[str, tuple[str, str | None, int]]:
    con = sqlite3.connect(workdir / "state" / "demo.sqlite")
    try:
        return {name: (status, cursor, pages) for name, status, cursor, pages in con.execute(
            "SELECT source, crawl_status, crawl_cursor, crawl_pages FROM repositories")}
    finally:
        con.close()


def test_sigkill_during_plan_then_plan_again_reads_no_page_twice(tmp_path):
    sb = start_sandbox(tmp_path, "--nexus-mode", "orient", "--source-latency", "0.05")
    try:
        nexus = sb.info["nexus"]["url"]
        killed = sb.migrator("plan", "demo.toml",
                             env={**sb.env, "MIGRATOR_TEST_CRASH_AT": "crawl:5"})
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        at_kill = crawl_state(tmp_path)
        assert sum(pages for _, _, pages in at_kill.values()) == 5  # killed where asked
        # where the resume must start: the saved cursor of each unfinished crawl (no token:
        # its first page). Only these pages can have been fetched and not recorded.
        resume_starts = {(repo, cursor or "") for repo, (status, cursor, _) in at_kill.items()
                         if status == "crawling"}
        assert 1 <= len(resume_starts) <= SOURCE_CONCURRENCY, at_kill

        r = sb.migrator("plan", "demo.toml", "--json")
        assert r.returncode == 0, r.stderr
        reads = Counter(asset_pages(nexus))
        twice = {page for page, n in reads.items() if n > 1}
        assert max(reads.values()) <= 2, reads
        assert twice <= resume_starts, (twice, resume_starts)
        status = json.loads(sb.migrator("status", "demo.toml", "--json").stdout)
    finally:
        stop_sandbox(sb)

    # the same pages and the same inventory as an uninterrupted crawl of a fresh sandbox
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    sb2 = start_sandbox(fresh, "--nexus-mode", "orient")
    try:
        assert sb2.migrator("plan", "demo.toml").returncode == 0
        expected = json.loads(sb2.migrator("status", "demo.toml", "--json").stdout)
        uninterrupted = Counter(asset_pages(sb2.info["nexus"]["url"]))
    finally:
        stop_sandbox(sb2)
    assert set(uninterrupted.values()) == {1}
    # every page read, by the two runs together (tokens differ per server: count per repository)
    assert Counter(repo for repo, _ in reads) == Counter(repo for repo, _ in uninterrupted)
    for name, repo in expected["repositories"].items():
        got = status["repositories"][name]
        assert (got["assets"], got["versions"], got["crawl"]) == (
            repo["assets"], repo["versions"], "complete"), name
