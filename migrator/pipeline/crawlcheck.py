"""A crawl that saw everything: compare what a crawl listed with what the server counts.

Artifactory filters AQL results by permission *after* the limit: a user without Read on
every path gets short pages, and a short page is the crawler's end-of-data test, so such a
crawl ends early without any error. The server's own count (`Crawler.reported_file_count`:
Artifactory's `filesCount`; Nexus reports none) catches it: fewer files listed than the
server counts is a `CrawlShortfall` naming the repository and both numbers.

What was listed: the items of this crawl when it ran from the beginning (counted by the
planner's loop), or every item the state holds for the repository when it resumed from a
cursor (`WorkQueue.counts`: excluded and refused items included, as the server's count
includes checksum sidecars and metadata files). A repository that comes up short is put back
to "crawl from the beginning", so the next `migrator plan` lists it again instead of taking
the short listing as complete.
"""

from __future__ import annotations

import logging

from migrator.errors import CrawlShortfall
from migrator.models import SourceRepository
from migrator.sources import Crawler
from migrator.state import WorkQueue

__all__ = ["check_crawl_count"]

logger = logging.getLogger(__name__)


async def check_crawl_count(crawler: Crawler, queue: WorkQueue, repository: SourceRepository,
                            repository_id: int, *, listed: int | None = None) -> None:
    """After the crawl of `repository` finished: raise when it listed fewer files than the
    server reports. `listed`: the files this crawl listed when it started from the beginning;
    None for a resumed crawl (then the state's count of the repository is used).

    :raises CrawlShortfall: (exit code 2) with both numbers; the repository's crawl is
        reopened so that the next plan lists it again from the beginning.
    """
    reported = await crawler.reported_file_count(repository)
    if reported is None:
        logger.debug("%s: the %s server reports no file count; nothing to compare the crawl "
                     "with", repository.name, crawler.kind)
        return
    if listed is None:
        counts = queue.counts([repository_id]).get(repository.name)
        listed = sum(counts.assets.values()) if counts is not None else 0
    field = crawler.file_count_field or "file count"
    if listed >= reported:
        logger.debug("%s: listed %d files; the server reports %d (%s)", repository.name,
                    listed, reported, field)
        return
    queue.begin_crawl(repository_id)  # from the beginning next time, not "complete"
    raise CrawlShortfall(
        f"{crawler.kind} repository {repository.name!r} listed {_files(listed)} but the "
        f"server reports {reported:,} ({field}); the crawl user may lack read permission on "
        f"some paths: grant Read on the whole repository, then run `migrator plan` again",
        repository=repository.name, listed=listed, reported=reported,
        hint="if files were deleted after the server last counted them, have an admin "
             "refresh the server's storage summary first; `migrator doctor` shows the count "
             "it reports")


def _files(n: int) -> str:
    return f"{n:,} file{'' if n == 1 else 's'}"
