"""Sonatype Nexus Repository 3: repositories from `/v1/repositories`, files from `/v1/assets`.

Why `/v1/assets` (reference §1.5): it is the one call that returns every file, including the
component-less ones (packuments, maven-metadata.xml, simple pages) we must recognise; one page
costs one request. Both storage back ends are handled:

- OrientDB (≤3.70): 10 items per page, opaque tokens, paths without a leading '/'.
- SQL/datastore: 100 items per page, hex tokens, paths with a leading '/', a token only on full
  pages (so an exact multiple of 100 ends with an empty page and a null token).

`/v1/search` is not used for enumeration: its Elasticsearch window stops at 10,000 hits and
its order is unstable without `sort` (pitfall 5); `/v1/assets` has neither problem.

The continuation token is handed out with each page: it is the checkpoint. Group repositories
are never crawled (they repeat their members); `downloadUrl` is ignored because its host is the
Nexus "Base URL" setting, not necessarily the host we talk to (pitfall 3).

Completeness: `/v1/assets` filters by permission *before* paging (the server keeps reading
until a page is full), so a restricted user never ends a crawl early; but files a content
selector or a missing privilege hides are left out without notice, and no Nexus listing
reports a total to compare a crawl with (`/v1/assets` pages carry only a continuation token;
`/v1/repositories/{name}` has `size`, in bytes, from 3.65, and it may be null). So
`reported_file_count` is always None, and the preflight says it cannot tell unless the user
administers the repository (it then appears in `/v1/repositorySettings`, which lists only
repositories the caller has admin rights on).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from migrator.errors import SourceAuthError, SourceError
from migrator.manifest import RepositoryMapping
from migrator.models import Check, Format, RepoType, SourceRepository
from migrator.retry import SOURCE_LISTING, RetryPolicy, Sleep
from migrator.sources import Found, Page, SourceProbe, build_asset
from migrator.sources import probe as probing
from migrator.sources.http import (
    DEFAULT_TIMEOUT,
    SourceHTTP,
    SourceStatusError,
    make_client,
)

__all__ = ["NexusCrawler"]

API = "/service/rest/v1"
_STALE_TOKEN_HINT = ("the server's data changed under the token; start a fresh crawl of this "
                     "repository with a new state file")


class NexusCrawler:
    """The `Crawler` for Nexus 3 (OSS, Pro, Community; OrientDB or SQL)."""

    kind = "nexus"
    system = "Nexus"
    #: The manifest's explicit generic asset-name mapping (None: off); set by the plan.
    asset_name_map: Mapping[str, str] | None = None
    file_count_field = None  # no Nexus listing reports a total (module docstring)

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        policy: RetryPolicy = SOURCE_LISTING,
        sleep: Sleep | None = None,
    ) -> None:
        self.http = SourceHTTP(client, system=self.system, policy=policy, sleep=sleep)
        self.base_url = str(client.base_url).rstrip("/")

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
    ) -> NexusCrawler:
        # Nexus has no bearer tokens: Pro user tokens are a name/pass code pair used as Basic.
        client = make_client(
            url.rstrip("/"),
            username=username,
            password=password if password is not None else token,
            transport=transport,
            max_connections=max_connections,
            verify=verify,
            timeout=timeout,
        )
        return cls(client, sleep=sleep, policy=policy)

    async def aclose(self) -> None:
        await self.http.client.aclose()

    async def repositories(self) -> list[SourceRepository]:
        """`GET /v1/repositories`; repositories of formats we do not migrate are left out."""
        body = await self.http.json("GET", f"{API}/repositories")
        if not isinstance(body, list):
            raise SourceError("Nexus answered GET /v1/repositories with something not a list")
        out: list[SourceRepository] = []
        for entry in body:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                continue
            try:
                fmt = Format.from_source(str(entry.get("format", "")))
                repo_type = RepoType.from_source(str(entry.get("type", "")))
            except ValueError:
                continue  # nuget, docker, ...: not ours to migrate
            attributes = entry.get("attributes") or {}
            proxy = attributes.get("proxy") if isinstance(attributes, dict) else None
            remote = proxy.get("remoteUrl") if isinstance(proxy, dict) else None
            group = attributes.get("group") if isinstance(attributes, dict) else None
            members = group.get("memberNames") if isinstance(group, dict) else None
            out.append(
                SourceRepository(
                    name=entry["name"],
                    format=fmt,
                    type=repo_type,
                    url=remote if isinstance(remote, str) else None,
                    members=tuple(m for m in members or () if isinstance(m, str)),
                )
            )
        return out

    async def reported_file_count(self, repository: SourceRepository) -> int | None:
        """Always None: Nexus reports no file count to compare a crawl with."""
        return None

    async def probe(self, mappings: Sequence[RepositoryMapping], *,
                    credentials: str) -> SourceProbe:
        """Preflight (`migrator.sources.probe`): `/v1/status` answers, `/v1/repositories`
        accepts the credentials and lists each mapped repository; read access is confirmed
        only for repositories the user administers (see the module docstring)."""
        return await probing.probe_source(
            self, mappings, ping_path=f"{API}/status", credentials=credentials,
            read_access=self._read_access, hint_url="https://nexus.example.com")

    async def _read_access(self, found: probing.Found) -> list[Check]:
        try:
            body = await self.http.json("GET", f"{API}/repositorySettings")
        except SourceError:  # older than 3.26, or refused: it says nothing either way
            body = []
        administered = {e.get("name") for e in body if isinstance(e, dict)} if isinstance(
            body, list) else set()
        out: list[Check] = []
        for _, repo in found:
            subject = f"read access {repo.name}"
            if repo.name in administered:
                out.append(Check.ok(self.system, subject,
                                    f"Nexus user administers {repo.name!r}: it reads every file"))
                continue
            fmt = self._format_key(repo)
            out.append(Check.warning(
                self.system, subject,
                f"Nexus: cannot tell that the crawl user may read every file of "
                f"{repo.name!r}: a content selector or a missing privilege leaves files out "
                f"without notice, and Nexus reports no file count to compare a crawl with; "
                f"give the user nx-repository-view-{fmt}-{repo.name}-browse and "
                f"nx-repository-view-{fmt}-{repo.name}-read with no content selector (add "
                f"nx-repository-admin-{fmt}-{repo.name}-read to let preflight confirm it)"))
        return out

    async def crawl(
        self, repository: SourceRepository, cursor: str | None = None
    ) -> AsyncIterator[Page]:
        """Page through `/v1/assets?repository=...`, resuming at the continuation token `cursor`.

        :raises SourceError: the repository is a group, the token was refused (406), or the
            server failed.
        """
        if repository.type is RepoType.GROUP:
            raise SourceError(
                f"Nexus repository {repository.name!r} is a group; crawl its members instead"
            )
        token = cursor
        while True:
            params = {"repository": repository.name}
            if token:
                params["continuationToken"] = token
            try:
                body = await self.http.json("GET", f"{API}/assets", params=params)
            except SourceStatusError as exc:
                if token and exc.status == 406:
                    raise SourceError(
                        f"Nexus refused the saved continuation token for {repository.name!r}",
                        hint=_STALE_TOKEN_HINT,
                    ) from None
                raise
            except SourceAuthError:
                raise
            except SourceError as exc:
                # SQL mode answers a token it cannot decode with 500 (reference §1.2).
                if token and token == cursor:
                    raise SourceError(exc.message, hint=f"{exc.hint or ''} If it persists, "
                                      f"the saved continuation token may be stale: "
                                      f"{_STALE_TOKEN_HINT}".strip()) from None
                raise
            items, token = self._page(repository, body)
            yield Page(items=items, cursor=token, done=token is None)
            if token is None:
                return

    def _page(self, repository: SourceRepository, body: Any) -> tuple[list[Found], str | None]:
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise SourceError(
                f"Nexus answered /v1/assets for {repository.name!r} without an 'items' list"
            )
        token = body.get("continuationToken")
        if token is not None and (not isinstance(token, str) or not token):
            raise SourceError(f"Nexus sent a malformed continuation token for {repository.name!r}")
        raw_items = [item for item in body["items"] if isinstance(item, dict)]
        paths = [item.get("path") for item in raw_items]
        # SQL mode writes '/com/acme/...', OrientDB 'com/acme/...'. A page comes from one mode, so
        # the majority decides; a stray '/x' on an OrientDB page stays an absolute path (refused).
        slashed = sum(1 for p in paths if isinstance(p, str) and p.startswith("/"))
        sql_mode = slashed * 2 > len(paths)
        items: list[Found] = []
        for item in raw_items:
            fmt_key = item.get("format") if isinstance(item.get("format"), str) else ""
            attributes = item.get(fmt_key) or item.get(self._format_key(repository))
            items.append(
                build_asset(
                    repository.format,
                    repository.name,
                    item.get("path"),
                    size=item.get("fileSize"),
                    checksums=item.get("checksum"),
                    last_modified=item.get("lastModified"),
                    properties=self._properties(attributes),
                    strip_leading_slash=sql_mode,
                    asset_name_map=self.asset_name_map,
                    last_downloaded=item.get("lastDownloaded"),
                    created=item.get("blobCreated"),
                )
            )
        return items, token

    @staticmethod
    def _format_key(repository: SourceRepository) -> str:
        return {Format.MAVEN: "maven2", Format.GENERIC: "raw"}.get(
            repository.format, repository.format.value
        )

    @staticmethod
    def _properties(attributes: Any) -> dict[str, Any]:
        """The format attribute block, kept for the record as `nexus.<key>`.

        Not fed to identity parsing: Nexus enforces its layouts, so the path is authoritative,
        and its npm `name` is the bare name without the scope.
        """
        if not isinstance(attributes, dict):
            return {}
        return {
            f"nexus.{key}": value
            for key, value in attributes.items()
            if isinstance(value, str | int | float) and not isinstance(value, bool)
        }

    def download_url(self, repository: SourceRepository, path: str) -> str:
        """`<our base>/repository/<repo>/<path>`; the path is already checked and relative."""
        return f"{self.base_url}/repository/{quote(repository.name, safe='')}/{quote(path)}"

    def npm_packument_urls(self, repository: SourceRepository, name: str) -> tuple[str, ...]:
        """The npm registry document of `name` in a Nexus npm repository: `@scope%2fname`
        first, as the npm CLI asks for it, then `@scope/name`, the form Nexus routes to.
        Whether a Nexus release's Jetty lets an escaped slash through is not documented
        (reference §1.9): Jetty 10 and later refuse an ambiguous path separator with 400."""
        base = f"{self.base_url}/repository/{quote(repository.name, safe='')}/"
        escaped = base + quote(name, safe="@")
        return (escaped, base + quote(name, safe="@/")) if "/" in name else (escaped,)
