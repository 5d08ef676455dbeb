"""A crawl that saw everything: a permission-restricted Artifactory user gets short AQL pages
(filtered after the limit) and plan must say so with both numbers, not take them for the end."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import pytest

from migrator.errors import CrawlShortfall
from migrator.models import DiscoveredAsset, Format, RepoType, SourceRepository
from migrator.pipeline.crawlcheck import check_crawl_count
from migrator.state import WorkQueue

from .conftest import SOURCES, Source
from .test_planner import run_plan, write_manifest

REPOS = {"maven-releases": "maven-internal", "npm-internal": "npm-internal"}
PARTIAL = {"username": "partial", "password": "partial-secret"}  # sandbox default user


def artifactory(edition: str) -> Source:
    return SOURCES[f"artifactory-{edition}"]()


def crawl_status(state: Path, name: str) -> str:
    with WorkQueue.open(state) as queue:
        return {r["source"]: r["crawl_status"] for r in queue.repositories()}[name]


@pytest.mark.parametrize(("edition", "options"), [
    ("oss", {"page_size": 2}),  # AQL: the first page comes back short and ends the crawl
    ("pro", {"listing": "aql", "page_size": 2}),
    ("pro", {}),  # File List: the hidden files are simply not listed
])
def test_a_restricted_user_is_an_error_with_both_numbers(tmp_path: Path, edition: str,
                                                         options: dict[str, Any]) -> None:
    source = artifactory(edition)
    manifest = write_manifest(tmp_path, source, repos=REPOS)
    app = source.app()
    with pytest.raises(CrawlShortfall) as caught:
        run_plan(manifest, tmp_path / "s.sqlite", source, app, **PARTIAL, **options)
    exc = caught.value
    assert (exc.exit_code, exc.retryable, exc.repository) == (2, False, "maven-releases")
    assert exc.listed < exc.reported
    assert re.fullmatch(
        r"artifactory repository 'maven-releases' listed \d+ files? but the server reports "
        r"\d+ \(filesCount\); the crawl user may lack read permission on some paths: grant "
        r"Read on the whole repository, then run `migrator plan` again", exc.message)
    assert f"listed {exc.listed:,} file" in exc.message
    assert f"reports {exc.reported:,} (filesCount)" in exc.message
    # The short listing is not taken as complete: the next plan lists it again.
    assert crawl_status(tmp_path / "s.sqlite", "maven-releases") == "crawling"


def test_a_short_aql_page_hides_even_files_the_user_may_read(tmp_path: Path) -> None:
    """The point of the check: after-the-limit filtering ends the crawl early, so the crawl
    misses visible files too (1.1.0 sorts after the hidden 1.0.0 folder)."""
    source = artifactory("oss")
    manifest = write_manifest(tmp_path, source, repos={"maven-releases": "maven-internal"})
    app = source.app()
    with pytest.raises(CrawlShortfall) as caught:
        run_plan(manifest, tmp_path / "s.sqlite", source, app, **PARTIAL, page_size=2)
    hidden = app.state.artifactory.users["partial"].hidden
    assert hidden == ("maven-releases/com/acme/greeter/1.0.0/*",)
    with WorkQueue.open(tmp_path / "s.sqlite") as queue:
        paths = [p for (p,) in queue.conn.execute("SELECT path FROM assets")]
    visible_1_1 = [p for p in paths if "/1.1.0/" in p]
    assert visible_1_1 == []  # never reached: the short first page was taken for the end
    assert caught.value.listed == len(paths)


def test_after_the_permission_is_granted_plan_lists_it_again_and_passes(tmp_path: Path) -> None:
    source = artifactory("oss")
    manifest = write_manifest(tmp_path, source, repos=REPOS)
    app, state = source.app(), tmp_path / "s.sqlite"
    with pytest.raises(CrawlShortfall):
        run_plan(manifest, state, source, app, **PARTIAL, page_size=2)
    summary = run_plan(manifest, state, source, app, page_size=2)  # the full-read user
    assert {r.source: r.crawl for r in summary.repositories} == {
        "maven-releases": "complete", "npm-internal": "complete"}
    releases = next(r for r in summary.repositories if r.source == "maven-releases")
    assert releases.assets == 6  # jars, sources jars and POMs of 1.0.0 and 1.1.0


def test_an_unrestricted_crawl_of_every_repository_passes(tmp_path: Path, source: Source) -> None:
    """No false alarm on any emulated server (Nexus reports no count: nothing to compare)."""
    manifest = write_manifest(tmp_path, source)
    summary = run_plan(manifest, tmp_path / "s.sqlite", source, source.app(),
                       **({"page_size": 3} if source.kind == "artifactory" else {}))
    assert all(r.crawl == "complete" for r in summary.repositories)


# -- check_crawl_count on its own: a resumed crawl is counted from the state -------------------


class FakeCrawler:
    kind = "artifactory"
    file_count_field = "filesCount"

    def __init__(self, reported: int | None) -> None:
        self.reported = reported

    async def reported_file_count(self, repository: SourceRepository) -> int | None:
        return self.reported


def recorded_state(tmp_path: Path) -> tuple[WorkQueue, int]:
    queue = WorkQueue.open(tmp_path / "s.sqlite")
    repo_id = queue.upsert_repository(source="libs", target="libs", format=Format.GENERIC,
                                      repo_type=RepoType.HOSTED, mode="copy")
    queue.begin_crawl(repo_id)
    items = [(DiscoveredAsset(path=f"f{i}.txt", size=1, checksums={}, coordinates=None),
              "a sidecar" if i % 2 else None) for i in range(5)]  # excluded ones count too
    queue.record_page(repo_id, items, cursor=None, done=True)
    return queue, repo_id


LIBS = SourceRepository("libs", Format.GENERIC, RepoType.HOSTED)


@pytest.mark.parametrize("reported", [None, 4, 5])
def test_a_resumed_crawl_with_enough_recorded_items_passes(tmp_path: Path,
                                                           reported: int | None) -> None:
    queue, repo_id = recorded_state(tmp_path)
    with queue:
        anyio.run(lambda: check_crawl_count(FakeCrawler(reported), queue, LIBS, repo_id))
        assert queue.crawl_state(repo_id).status == "complete"


def test_a_resumed_crawl_short_of_the_count_is_reopened(tmp_path: Path) -> None:
    queue, repo_id = recorded_state(tmp_path)
    with queue, pytest.raises(CrawlShortfall, match=r"listed 5 files but the server reports "
                                                     r"6 \(filesCount\)"):
        anyio.run(lambda: check_crawl_count(FakeCrawler(6), queue, LIBS, repo_id))
    with WorkQueue.open(tmp_path / "s.sqlite") as queue:
        state = queue.crawl_state(repo_id)
        assert (state.status, state.cursor, state.pages) == ("crawling", None, 0)


def test_this_crawls_own_count_wins_over_the_state(tmp_path: Path) -> None:
    """A fresh crawl (a sync) compares its own listing: files the state kept from an earlier
    crawl do not hide a shortfall now."""
    queue, repo_id = recorded_state(tmp_path)
    with queue, pytest.raises(CrawlShortfall, match="listed 1 file but"):
        anyio.run(lambda: check_crawl_count(FakeCrawler(5), queue, LIBS, repo_id, listed=1))
