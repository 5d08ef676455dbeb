"""Scoping by use and time: migrate only the versions used lately, or published lately.

`options.downloaded_within_days = N` keeps the versions with a file downloaded within the
last N days (Nexus: `lastDownloaded` of `/v1/assets`; Artifactory: `stat.downloaded`, asked
with one paged AQL per repository, `items.find({"repo":..,"stat.downloaded":{"$gte":..}})`,
whose include list holds item fields only so paging keeps working). `options.published_after
= YYYY-MM-DD` keeps the versions with a file stored at the source on or after that day
(Nexus `blobCreated`, Artifactory `created`, else the modification time).

A version is always kept whole: it is included when **any** of its files qualifies, so never
half a version is published. The others are `excluded` with the reason (counted and listed
by `status` and `report`). Scoping applies to copied repositories; pre-warm items are not
scoped. It is decided when a version is first discovered (plan, or a sync finding it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from migrator.manifest import Options
from migrator.models import SourceRepository
from migrator.sources import Found
from migrator.state import WorkQueue
from migrator.state import sync as sync_state

__all__ = ["Scope", "apply_scope", "record_page_dates", "scope_for"]


@dataclass(frozen=True)
class Scope:
    downloaded_since: str | None  # ISO-8601 UTC, `...Z`
    published_since: str | None
    reason: str


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def scope_for(options: Options, now: datetime | None = None) -> Scope | None:
    """The scope the options ask for, or None (everything)."""
    days, after = options.downloaded_within_days, options.published_after
    if days is None and after is None:
        return None
    now = now or datetime.now(UTC)
    downloaded = _iso(now - timedelta(days=days)) if days is not None else None
    published = f"{after}T00:00:00.000Z" if after is not None else None
    rules = []
    if downloaded:
        rules.append(f"downloaded within {days} days (since {downloaded[:10]})")
    if published:
        rules.append(f"stored at the source on or after {after}")
    reason = ("out of scope: no file of this version was " + " and ".join(rules)
              + " (options.downloaded_within_days / published_after; versions are kept whole)")
    return Scope(downloaded, published, reason)


def record_page_dates(queue: WorkQueue, repository_id: int, items: list[Found]) -> None:
    """Keep the dates a listing page tells (one write per page)."""
    sync_state.record_dates(queue, repository_id, [(a.path, a.last_downloaded, a.created)
                                                   for a, _ in items])


async def apply_scope(crawler: Any, queue: WorkQueue, repo: SourceRepository,
                      repository_id: int, scope: Scope) -> int:
    """Exclude the discovered versions of one crawled repository that the scope leaves out;
    returns how many. Artifactory's listing carries no download dates, so the files
    downloaded since the cut-off are asked for (their date is recorded as that cut-off: all
    the scope needs to know is that they were)."""
    if scope.downloaded_since and hasattr(crawler, "list_paths"):
        async for paths in crawler.list_paths(
                repo, {"stat.downloaded": {"$gte": scope.downloaded_since}}):
            sync_state.record_dates(queue, repository_id,
                                    [(p, scope.downloaded_since, None) for p in paths])
    return sync_state.scope_versions(queue, repository_id,
                                     downloaded_since=scope.downloaded_since,
                                     published_since=scope.published_since,
                                     reason=scope.reason)
