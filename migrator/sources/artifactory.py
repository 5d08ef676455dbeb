"""JFrog Artifactory: repositories from `/api/repositories`, files from File List or AQL.

Listing strategy per repository (reference §2.4, §2.6, pitfalls 10-15):

1. **File List** (`/api/storage/<repo>/?list&deep=1&listFolders=0&includeRootPath=0`, Pro only):
   the whole tree in one response, with no paging. It is recorded as **one page**, so it is
   either checkpointed entirely or is the one page in flight. A repository with more than
   `filelist_max_files` files is paged with AQL instead (bounded pages, flat memory, resumable
   mid-way). `/api/storageinfo` (admin) tells the size up front; without it, the File List
   itself shows which case we are in.
2. On OSS the File List answers **400** "available only in Artifactory Pro": we remember that and
   use **AQL**: `items.find({"repo":..,"type":"file"})` with item fields only (properties in
   `.include` would break paging), a stable `sort` on path and name, and **keyset** paging: each
   page asks for the rows after the last one seen, `{"$or":[{"path":{"$gt":P}},{"$and":
   [{"path":P},{"name":{"$gt":N}}]}]}` with `.limit()`, and the cursor is `aqlk:["P","N"]`
   (JSON). `.offset(N)` would make the database sort and skip N rows for every page, so a crawl
   of n rows costs O(n²/page) there; `(path, name)` is unique in a repository and indexed, so
   each keyset page is a seek. Cursors `aql:<offset>` written by earlier versions still resume:
   that one page is read by offset, the rest by keyset. The crawl identity should be an admin
   or full-read user: Artifactory filters permissions *after* the limit, and a short page is our
   end-of-data test. `listing="aql"` forces AQL (huge Pro repositories: bounded pages, flat
   memory).

Completeness: AQL filters by permission *after* the limit, so a user without Read on every
path of a repository gets short pages, and a short page is taken for the end; File List
leaves the same files out. After each crawl the planner compares the files listed with
`reported_file_count` (`filesCount` of `/api/storageinfo`, admin only and possibly stale;
`POST /api/storageinfo/calculate` refreshes it), and the preflight warns when it cannot read
that count.

Remote repositories are crawled through their `<key>-cache` (what was cached, with no upstream
fetch) and become pre-warm items; virtual repositories are never crawled. When a path does not
say which npm/PyPI package a file is (local repositories accept any path), the item's
`npm.*`/`pypi.*` properties are fetched, one request per such file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import anyio
import httpx

from migrator.errors import ListingLoop, SourceError
from migrator.manifest import RepositoryMapping
from migrator.models import Check, Format, RepoType, SourceRepository
from migrator.retry import SOURCE_LISTING, RetryPolicy, Sleep
from migrator.sources import Found, Page, SourceProbe, as_size, build_asset, listed_path
from migrator.sources import probe as probing
from migrator.sources.artifactory_aql import (
    AQL_FIELDS,
    KEYSET_CURSOR,
    PATH_FIELDS,
    Position,
    aql_query,
    last_position,
    parse_cursor,
    shorten_position,
)
from migrator.sources.http import (
    DEFAULT_TIMEOUT,
    SourceHTTP,
    SourceStatusError,
    make_client,
)

__all__ = ["ArtifactoryCrawler", "aql_query"]

logger = logging.getLogger(__name__)

_PROPERTY_FORMATS = (Format.NPM, Format.PYPI)


def _context_url(url: str) -> str:
    """`https://host` → `https://host/artifactory`; a URL with a context path is kept."""
    url = url.rstrip("/")
    return url if urlsplit(url).path not in ("", "/") else f"{url}/artifactory"


class ArtifactoryCrawler:
    """The `Crawler` for Artifactory (OSS, Pro, Cloud)."""

    kind = "artifactory"
    system = "Artifactory"
    #: The manifest's explicit generic asset-name mapping (None: off); set by the plan.
    asset_name_map: Mapping[str, str] | None = None
    file_count_field = "filesCount"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        listing: str = "auto",
        page_size: int = 1000,
        filelist_max_files: int = 10_000,
        policy: RetryPolicy = SOURCE_LISTING,
        sleep: Sleep | None = None,
        aql_concurrency: int = 2,
    ) -> None:
        if listing not in ("auto", "aql", "filelist"):
            raise ValueError(f"listing must be auto, aql or filelist, not {listing!r}")
        self.http = SourceHTTP(client, system=self.system, policy=policy, sleep=sleep)
        self.base_url = str(client.base_url).rstrip("/")
        self.page_size = page_size
        self.filelist_max_files = filelist_max_files
        self._file_counts: dict[str, int] | None = None
        self._file_counts_lock = anyio.Lock()
        self.filelist_available: bool | None = None if listing == "auto" else listing == "filelist"
        # Artifactory ≥7.84 queues, then 429s, more than ~3 concurrent AQL queries.
        self._aql_slots = anyio.Semaphore(aql_concurrency)

    @classmethod
    def from_settings(
        cls,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
        max_connections: int = 8,
        verify: bool = True,
        policy: RetryPolicy = SOURCE_LISTING,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        **options: Any,
    ) -> ArtifactoryCrawler:
        client = make_client(
            _context_url(url),
            username=username,
            password=password,
            token=token,
            transport=transport,
            max_connections=max_connections,
            verify=verify,
            timeout=timeout,
        )
        return cls(client, sleep=sleep, policy=policy, **options)

    async def aclose(self) -> None:
        await self.http.client.aclose()

    async def repositories(self) -> list[SourceRepository]:
        """`GET /api/repositories`; `type` is upper case, `packageType` an enum name (Maven)."""
        body = await self.http.json("GET", "/api/repositories")
        if not isinstance(body, list):
            raise SourceError("Artifactory answered GET /api/repositories with a non-list body")
        out: list[SourceRepository] = []
        for entry in body:
            if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
                continue
            try:
                fmt = Format.from_source(str(entry.get("packageType", "")))
                repo_type = RepoType.from_source(str(entry.get("type", "")))
            except ValueError:
                continue  # docker, nuget, federated/distribution, ...
            # For REMOTE entries `url` is the upstream (pitfall 15): exactly what pre-warm needs.
            remote = entry.get("url") if repo_type is RepoType.PROXY else None
            out.append(
                SourceRepository(
                    name=entry["key"],
                    format=fmt,
                    type=repo_type,
                    url=remote if isinstance(remote, str) else None,
                )
            )
        return out

    @staticmethod
    def storage_key(repository: SourceRepository) -> str:
        """Where the files are: a remote's cached files live in `<key>-cache`."""
        if repository.type is RepoType.PROXY and not repository.name.endswith("-cache"):
            return f"{repository.name}-cache"
        return repository.name

    def download_url(self, repository: SourceRepository, path: str) -> str:
        key = quote(self.storage_key(repository), safe="")
        return f"{self.base_url}/{key}/{quote(path)}"

    def npm_packument_urls(self, repository: SourceRepository, name: str) -> tuple[str, ...]:
        """The npm registry document of `name` (`@scope/name`: the slash escaped, the form
        Artifactory documents) through Artifactory's npm API of the repository."""
        return (f"{self.base_url}/api/npm/{quote(repository.name, safe='')}/"
                f"{quote(name, safe='@')}",)

    async def crawl(
        self, repository: SourceRepository, cursor: str | None = None
    ) -> AsyncIterator[Page]:
        """Pages of `repository` from File List or AQL, resuming at `cursor`.

        :raises SourceError: virtual repository, unusable cursor, or a failing server.
        """
        if repository.type is RepoType.GROUP:
            raise SourceError(
                f"Artifactory repository {repository.name!r} is virtual; crawl its members instead"
            )
        start = parse_cursor(cursor) if cursor else None
        if cursor is None and self.filelist_available is not False and (
            await self._known_file_count(repository) or 0
        ) <= self.filelist_max_files:
            listing = await self._file_list(repository)
            if listing is not None and len(listing) <= self.filelist_max_files:
                yield await self._filelist_page(repository, listing)
                return
            if listing is not None:
                logger.info("%s: File List has %d files; paging with AQL instead",
                            repository.name, len(listing))
        async for page in self._aql_pages(repository, start):
            yield page

    async def _known_file_count(self, repository: SourceRepository) -> int | None:
        """Files in the repository per `/api/storageinfo` (admin only; may be stale), or None.

        Read once per crawler, so a repository too big for one File List response goes straight
        to AQL instead of first downloading a listing of millions of files.
        """
        async with self._file_counts_lock:
            if self._file_counts is None:
                self._file_counts = await self._storage_info()
        return self._file_counts.get(self.storage_key(repository))

    async def reported_file_count(self, repository: SourceRepository) -> int | None:
        """`filesCount` of the repository's storage key in `/api/storageinfo` (every file,
        sidecars and metadata included), read once per crawler; None when the server did not
        say (not an admin, or no such row)."""
        return await self._known_file_count(repository)

    async def _storage_info(self) -> dict[str, int]:
        return await self._storage_summary() or {}

    async def _storage_summary(self) -> dict[str, int] | None:
        """storage key → filesCount, or None when `/api/storageinfo` is refused or absent."""
        try:
            body = await self.http.json("GET", "/api/storageinfo")
        except SourceError as exc:  # 401/403 for non-admins, 404 on servers without it
            logger.debug("storage info unavailable: %s", exc.message)
            return None
        rows = body.get("repositoriesSummaryList") if isinstance(body, dict) else None
        counts: dict[str, int] = {}
        for row in rows if isinstance(rows, list) else ():
            if isinstance(row, dict) and isinstance(row.get("repoKey"), str):
                count = as_size(row.get("filesCount"))
                if count is not None:
                    counts[row["repoKey"]] = count
        return counts

    async def probe(self, mappings: Sequence[RepositoryMapping], *,
                    credentials: str) -> SourceProbe:
        """Preflight (`migrator.sources.probe`): `/api/system/ping` answers,
        `/api/repositories` accepts the credentials and lists each mapped repository, and
        `/api/storageinfo` gives the count each crawl will be checked against."""
        return await probing.probe_source(
            self, mappings, ping_path="/api/system/ping", credentials=credentials,
            read_access=self._read_access, hint_url="https://artifactory.example.com/artifactory")

    async def _read_access(self, found: probing.Found) -> list[Check]:
        counts = await self._storage_summary()
        if counts is not None:
            async with self._file_counts_lock:
                self._file_counts = counts
        out: list[Check] = []
        for _, repo in found:
            key, subject = self.storage_key(repo), f"read access {repo.name}"
            count = None if counts is None else counts.get(key)
            if count is not None:
                out.append(Check.ok(
                    self.system, subject,
                    f"Artifactory reports {count:,} files in {key!r} (filesCount); the crawl's "
                    f"count is checked against it"))
                continue
            why = ("/api/storageinfo (admin only) was refused, so the crawl cannot be checked "
                   "against the server's count" if counts is None else
                   f"/api/storageinfo has no filesCount for {key!r} yet (POST "
                   f"/api/storageinfo/calculate as an admin computes it)")
            out.append(Check.warning(
                self.system, subject,
                f"Artifactory: cannot tell that the crawl user may read every file of "
                f"{key!r}: AQL leaves out files the user may not read after applying the page "
                f"limit, so a short page ends the crawl early, and {why}; give the user the "
                f"Read permission on the whole repository (a permission target on {key!r} with "
                f"include pattern '**' and no exclude pattern) or crawl as an admin"))
        return out

    async def _file_list(self, repository: SourceRepository) -> list[dict[str, Any]] | None:
        key = quote(self.storage_key(repository), safe="")
        url = f"/api/storage/{key}/?list&deep=1&listFolders=0&mdTimestamps=0&includeRootPath=0"
        try:
            body = await self.http.json("GET", url)
        except SourceStatusError as exc:
            # OSS: 400 text/plain "This REST API is available only in Artifactory Pro". Several
            # repositories may probe at once, so only a File List that already worked makes a
            # 400 a real error.
            if exc.status == 400 and self.filelist_available is not True:
                self.filelist_available = False
                return None
            raise
        self.filelist_available = True
        files = body.get("files") if isinstance(body, dict) else None
        if not isinstance(files, list):
            raise SourceError(
                f"Artifactory File List for {repository.name!r} has no 'files' list"
            )
        return [f for f in files if isinstance(f, dict) and not f.get("folder")]

    async def _filelist_page(
        self, repository: SourceRepository, files: list[dict[str, Any]]
    ) -> Page:
        items, requests = await self._assets(
            repository,
            [(f.get("uri"), f.get("size"), {"sha1": f.get("sha1"), "sha2": f.get("sha2")},
              f.get("lastModified"), None) for f in files],
            strip_leading_slash=True,  # File List `uri`s are relative to the folder: "/a/b.jar"
        )
        return Page(items=items, cursor=None, done=True, requests=1 + requests)

    async def _aql_rows(self, repository: SourceRepository, start: int | Position | None,
                        fields: Sequence[str], criteria: Mapping[str, Any] | None
                        ) -> AsyncIterator[tuple[list[dict[str, Any]], str | None]]:
        """AQL pages of `repository` as (rows, cursor of what follows; None at the end).

        `start` is where to begin: None the first row, a (path, name) the row after it, an int
        an offset (a cursor of an earlier version: only that page is read by offset).
        """
        key = self.storage_key(repository)
        offset, after = (start, None) if isinstance(start, int) else (0, start)
        while True:
            query = aql_query(key, offset=offset, limit=self.page_size, fields=fields,
                              criteria=criteria, after=after)
            async with self._aql_slots:
                body = await self.http.json(
                    "POST",
                    "/api/search/aql",
                    content=query.encode(),
                    headers={"Content-Type": "text/plain"},
                )
            rows = body.get("results") if isinstance(body, dict) else None
            if not isinstance(rows, list):
                raise SourceError(f"Artifactory AQL for {repository.name!r} has no 'results' list")
            done = len(rows) < self.page_size
            last = last_position(rows)
            if not done and last is None:
                raise SourceError(
                    f"Artifactory AQL for {repository.name!r} answered a full page without "
                    "'path' and 'name' in its last row, so the next page cannot be asked for",
                    hint="check that the server honours .include(\"repo\",\"path\",\"name\")")
            if not done and last is not None and last == after:
                # The server ignored the keyset criteria: following it would loop for ever.
                # (Equality only: the server's collation, not Python's, orders the rows.)
                raise ListingLoop(
                    f"Artifactory AQL for {repository.name!r} answered the same page again "
                    f"(last row {shorten_position(last)}); the listing would never end",
                    hint="check the Artifactory server's AQL (its logs, its database), then run "
                    "`migrator plan` again")
            offset, after = 0, last
            cursor = None if done else KEYSET_CURSOR + json.dumps(list(last or ("", "")))
            yield rows, cursor
            if done:
                return

    async def _aql_pages(self, repository: SourceRepository, start: int | Position | None,
                         criteria: Mapping[str, Any] | None = None) -> AsyncIterator[Page]:
        async for rows, cursor in self._aql_rows(repository, start, AQL_FIELDS, criteria):
            entries = []
            for row in rows:
                if not isinstance(row, dict):
                    continue
                folder, name = row.get("path"), row.get("name")
                if isinstance(folder, str) and isinstance(name, str):
                    # `.` is the repository root (pitfall 11).
                    raw: object = name if folder in (".", "") else f"{folder}/{name}"
                else:
                    raw = name if isinstance(name, str) else None
                checks = {k: row.get(k) for k in ("actual_sha1", "actual_md5", "sha256")}
                entries.append((raw, row.get("size"), checks, row.get("modified"),
                                row.get("created")))
            items, requests = await self._assets(repository, entries, strip_leading_slash=False)
            yield Page(items=items, cursor=cursor, done=cursor is None, requests=1 + requests)

    async def _assets(
        self,
        repository: SourceRepository,
        entries: list[tuple[object, object, dict[str, Any], object, object]],
        *,
        strip_leading_slash: bool,
    ) -> tuple[list[Found], int]:
        """Build the page's assets; look up properties where the path says too little."""
        items: list[Found] = []
        requests = 0
        for raw, size, checksums, modified, created in entries:
            found = build_asset(
                repository.format, repository.name, raw, size=size, checksums=checksums,
                last_modified=modified, strip_leading_slash=strip_leading_slash,
                asset_name_map=self.asset_name_map, created=created,
            )
            asset = found[0]
            if (
                repository.format in _PROPERTY_FORMATS
                and asset.refused
                and not asset.refused.startswith("unsafe path")
            ):
                properties = await self._properties(repository, asset.path)
                requests += 1
                if properties:
                    found = build_asset(
                        repository.format, repository.name, asset.path, size=size,
                        checksums=checksums, last_modified=modified, properties=properties,
                        asset_name_map=self.asset_name_map, created=created,
                    )
            items.append(found)
        return items, requests

    async def _properties(self, repository: SourceRepository, path: str) -> dict[str, Any]:
        """`GET /api/storage/<repo>/<path>?properties`; 404 means the item has none."""
        key = quote(self.storage_key(repository), safe="")
        url = f"/api/storage/{key}/{quote(path)}?properties"
        try:
            body = await self.http.json("GET", url)
        except SourceStatusError as exc:
            if exc.status == 404:
                return {}
            raise
        props = body.get("properties") if isinstance(body, dict) else None
        return props if isinstance(props, dict) else {}

    # -- incremental listing (`migrator sync`) -----------------------------------------------

    async def crawl_modified(self, repository: SourceRepository, since: str
                             ) -> AsyncIterator[Page]:
        """Pages of the files of `repository` modified at or after `since` (AQL on
        `modified`; ISO-8601), with checksums, as `crawl` builds them."""
        async for page in self._aql_pages(repository, 0, {"modified": {"$gte": since}}):
            yield page

    async def list_paths(self, repository: SourceRepository,
                         criteria: Mapping[str, Any] | None = None) -> AsyncIterator[list[str]]:
        """Every file path of `repository` (or those matching `criteria`), a page at a time,
        with nothing but the path: what a sync needs to see deletions at the source, and
        scoping by use (`{"stat.downloaded": {"$gte": ...}}`) to see what was used."""
        async for rows, _ in self._aql_rows(repository, None, PATH_FIELDS, criteria):
            paths = []
            for row in rows:
                if not isinstance(row, dict) or not isinstance(row.get("name"), str):
                    continue
                folder, name = row.get("path"), row["name"]
                raw = name if folder in (".", "", None) else f"{folder}/{name}"
                paths.append(listed_path(raw))
            yield paths
