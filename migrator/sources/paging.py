"""The one guard on a crawl's paging: a listing must move forward, or the crawl stops.

A source hands out the cursor of the next page with each page (Nexus: a continuation token,
Artifactory: an offset). A server that is broken or hostile can hand out a token it handed out
before, or pages that never add anything, and a loop that trusts it never ends: it writes the
same rows into the state for ever. Both crawlers' pages go through `guard_pages`, which stops
the crawl with a `ListingLoop` naming the system and the repository when

- a cursor repeats one this crawl already followed (a cycle of any length), or
- `MAX_IDLE_PAGES` pages in a row bring nothing new: no item at all, or exactly the paths of
  the page before. A few empty pages are legitimate (Nexus filters a page by permissions after
  reading it, so a page can come back empty with a token), an endless run of them is not.

Memory stays flat for a long crawl: the cursors are kept as 64-bit digests, and only the
previous page's paths are remembered.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

from migrator.errors import ListingLoop, shorten
from migrator.sources import Page

__all__ = ["MAX_IDLE_PAGES", "guard_pages"]

#: Pages in a row that add nothing before the crawl is stopped.
MAX_IDLE_PAGES = 20


def _digest(cursor: str) -> bytes:
    return hashlib.blake2b(cursor.encode("utf-8", "surrogatepass"), digest_size=8).digest()


async def guard_pages(pages: AsyncIterator[Page], *, system: str, repository: str,
                      start: str | None = None) -> AsyncIterator[Page]:
    """`pages` unchanged, stopped with `ListingLoop` as soon as the listing goes round in a
    circle (see the module docstring). `start` is the cursor the crawl resumed from."""
    followed: set[bytes] = {_digest(start)} if start else set()
    previous: frozenset[str] | None = None
    idle = 0
    async for page in pages:
        paths = frozenset(asset.path for asset, _ in page.items)
        idle = idle + 1 if (not paths or paths == previous) else 0
        previous = paths
        if not page.done and page.cursor is not None:
            key = _digest(page.cursor)
            if key in followed:
                raise ListingLoop(
                    f"{system}: the listing of repository {repository!r} handed out a "
                    f"continuation token it had handed out before "
                    f"({shorten(page.cursor, 60)!r}); it would never end",
                    hint=f"the {system} server's listing of {repository!r} is broken: check "
                    "the server (its logs, a reindex of the repository), then run `migrator "
                    "plan` again; the other repositories are not affected")
            followed.add(key)
        if idle >= MAX_IDLE_PAGES and not page.done:
            raise ListingLoop(
                f"{system}: the listing of repository {repository!r} sent {idle} pages in a "
                "row that add nothing (empty, or the same files again); it would never end",
                hint=f"the {system} server's listing of {repository!r} is broken: check the "
                "server, then run `migrator plan` again; the other repositories are not "
                "affected")
        yield page
