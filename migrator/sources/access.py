"""`SourceAccess`: what the pipeline and the publishers need from the source during a run.

Downloads (streamed into a spool folder per claimed version, checked against the listing) and
the npm packument (`migrator.target.SourceMetadata`), both through the crawler of the source
kind, so that one HTTP client per source carries the credentials, the connection pool and the
server's URL rules (`download_url`, `npm_packument_urls`).
"""

from __future__ import annotations

import errno
import json
import logging
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from migrator.errors import SourceAuthError, SourceError, SpoolFullError
from migrator.manifest import Manifest
from migrator.models import (
    ClaimedAsset,
    ClaimedVersion,
    Format,
    RepoType,
    SourceRepository,
    SpooledFile,
)
from migrator.paths import spool_name
from migrator.retry import (
    RETRYABLE_STATUSES,
    SOURCE_DOWNLOAD,
    SOURCE_LISTING,
    RetryableResponse,
    RetryPolicy,
    Sleep,
)
from migrator.sources import Crawler, make_crawler
from migrator.sources.download import check_against_source, discard, download_to
from migrator.sources.http import redact, unreachable

logger = logging.getLogger(__name__)

__all__ = ["DOWNLOAD_TIMEOUT", "MAX_PACKUMENT", "SPOOL_FREE_MARGIN", "SourceAccess"]

# A large file on a slow link: minutes between bytes are still progress; waiting for a free
# connection of the pool is bounded by the number of workers sharing it.
DOWNLOAD_TIMEOUT = httpx.Timeout(connect=10.0, read=300.0, write=60.0, pool=600.0)
#: The largest npm packument read from the source. The public registry's largest documents
#: (packages with thousands of versions) are tens of MB; a private one is far smaller. Above
#: this the document is refused rather than held in memory (and then parsed, several times its
#: size).
MAX_PACKUMENT = 64 * 1024**2
#: Free space a download must leave on the spool's filesystem (the state, logs and other
#: programs live there too).
SPOOL_FREE_MARGIN = 64 * 1024**2

DiskUsage = Callable[[Path], Any]  # shutil.disk_usage: an object with `.free` (bytes)


@dataclass
class SourceAccess:
    """Downloads and metadata from the source server, for the engine and the publishers."""

    crawler: Crawler
    repositories: Mapping[str, SourceRepository]
    spool_dir: Path
    policy: RetryPolicy = SOURCE_DOWNLOAD
    sleep: Sleep | None = None
    timeout: httpx.Timeout | None = field(default_factory=lambda: DOWNLOAD_TIMEOUT)
    #: How free space is measured before a download (tests inject a fake one).
    disk_usage: DiskUsage = shutil.disk_usage
    min_free: int = SPOOL_FREE_MARGIN
    #: The largest source packument read (`MAX_PACKUMENT`).
    max_packument: int = field(default_factory=lambda: MAX_PACKUMENT)
    #: Bytes promised to downloads in flight (their files may still grow by that much).
    _reserved: int = field(default=0, init=False, repr=False)

    @classmethod
    def from_manifest(cls, manifest: Manifest, repositories: Mapping[str, SourceRepository],
                      *, spool_dir: Path, transport: httpx.AsyncBaseTransport | None = None,
                      max_connections: int | None = None) -> SourceAccess:
        """The crawler of the manifest's source, its client sized for the downloads."""
        conns = max_connections or 2 * manifest.options.source_concurrency
        crawler = make_crawler(manifest.source, transport=transport, max_connections=conns)
        spool_dir.mkdir(parents=True, exist_ok=True)
        return cls(crawler=crawler, repositories=repositories, spool_dir=spool_dir,
                   timeout=DOWNLOAD_TIMEOUT if transport is None else None)

    @property
    def client(self) -> httpx.AsyncClient:
        """The source's one HTTP client (the crawler's)."""
        return self.crawler.http.client

    @property
    def system(self) -> str:
        return getattr(self.crawler, "system", self.crawler.kind)

    def repository(self, name: str, fmt: Format | None = None) -> SourceRepository:
        repo = self.repositories.get(name)
        if repo is None:  # state from a plan whose listing we did not re-read
            repo = SourceRepository(name=name, format=fmt or Format.GENERIC, type=RepoType.HOSTED)
        return repo

    def url(self, repository: str, path: str, fmt: Format | None = None) -> str:
        return self.crawler.download_url(self.repository(repository, fmt), path)

    async def download(self, version: ClaimedVersion, asset: ClaimedAsset) -> SpooledFile:
        """Download one asset to a fresh spool file and check it against the source's facts.

        :raises SpoolFullError: the spool's filesystem has no room for it (checked before
            the download when the listing gave its size, or the disk filled up during it).
        :raises ChecksumMismatch: the bytes differ from the source's size or checksums (the
            spool file is removed).
        :raises SourceError: the source failed or refused.
        """
        url = self.url(version.source_repository, asset.path, version.format)
        # A name of our own (`paths.spool_name`: the asset's id and a known suffix, which
        # wheel/sdist metadata readers look at) in a folder per claimed version.
        folder = self._folder(version)
        need = asset.size or 0
        self._check_space(asset, need)
        folder.mkdir(exist_ok=True)
        path = folder / spool_name(asset.id, asset.filename)
        self._reserved += need
        try:
            size, digests = await download_to(self.client, url, path, policy=self.policy,
                                              sleep=self.sleep, system=self.system,
                                              timeout=self.timeout)
            check_against_source(asset, size, digests)
        except OSError as exc:
            discard(path)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise self._full(asset, need, during=True) from None
            raise
        except BaseException:
            discard(path)
            raise
        finally:
            self._reserved -= need
        return SpooledFile(asset=asset, path=path, size=size, hashes=digests)

    def _check_space(self, asset: ClaimedAsset, need: int) -> None:
        """Refuse a download that would leave less than `min_free` bytes free (files in
        flight counted at their full size)."""
        try:
            free = int(self.disk_usage(self.spool_dir).free) - self._reserved
        except OSError:
            return  # cannot tell: the download itself will say if the disk is full
        if free < need + self.min_free:
            raise self._full(asset, need, free=free)

    def _full(self, asset: ClaimedAsset, need: int, *, free: int | None = None,
              during: bool = False) -> SpoolFullError:
        if free is None:
            try:
                free = int(self.disk_usage(self.spool_dir).free)
            except OSError:
                free = -1
        what = f"{asset.path} ({_bytes(need)})" if need else asset.path
        if during:
            problem = f"the spool folder {self.spool_dir} filled up while downloading {what}"
        else:
            problem = (f"no room in the spool folder {self.spool_dir} for {what}: it needs "
                       f"{_bytes(need + self.min_free)} with a {_bytes(self.min_free)} margin")
        error = SpoolFullError(
            f"{problem}; {_bytes(max(free, 0)) if free >= 0 else 'unknown'} free",
            hint="free space on that filesystem, or set options.spool_dir in the manifest to a "
            "folder on a larger one; the version is retried, `migrator resume` continues "
            "(`migrator retry` for versions that used up their attempts)")
        # The same condition for every version: when they all meet it, the run stops (exit
        # 3, resumable) instead of using up their attempts while the disk stays full.
        error.systemic = f"the spool folder {self.spool_dir} is full"
        return error

    def _folder(self, version: ClaimedVersion) -> Path:
        return self.spool_dir / f"v{version.id}-{version.attempts}"

    def release(self, version: ClaimedVersion) -> None:
        """Remove the spool folder of one claimed version (after its files were used)."""
        folder = self._folder(version)
        try:
            # The usual case: the engine discarded its files one by one already, and one
            # rmdir is a fraction of rmtree's fd-walking cost (it runs on the event loop).
            folder.rmdir()
        except OSError:
            shutil.rmtree(folder, ignore_errors=True)

    async def npm_packument(self, repository: str, name: str) -> Mapping[str, Any]:
        """The source's packument for `name` (`@scope/name` for scoped packages), from the
        first of the server's URL forms for it that it serves (a 400 or 404 tries the next)."""
        *others, last = self.crawler.npm_packument_urls(
            self.repository(repository, Format.NPM), name)
        for url in others:
            try:
                return await self._packument(url, repository, name)
            except SourceError as exc:
                if exc.status not in (400, 404):
                    raise
                logger.debug("%s: %s; trying the next form", name, exc)
        return await self._packument(last, repository, name)

    async def _packument(self, url: str, repository: str, name: str) -> Mapping[str, Any]:
        what = f"GET {redact(url)}"
        try:
            async for attempt in SOURCE_LISTING.retrying(sleep=self.sleep, what=what):
                with attempt:
                    # Streamed, so a document above the cap is refused without holding it.
                    async with self.client.stream(
                            "GET", url, headers={"Accept": "application/json"}) as response:
                        if response.status_code in RETRYABLE_STATUSES:
                            await response.aread()
                            raise RetryableResponse(response)
                        body = await self._capped_body(response, repository, name, what)
        except httpx.TransportError as exc:
            raise unreachable(self.system, what, exc) from None
        except RetryableResponse as exc:
            raise SourceError(f"{self.system} kept failing: {what} ({exc})") from None
        if response.status_code in (401, 403):
            raise SourceAuthError(f"{self.system} refused {what} (HTTP {response.status_code})")
        if response.status_code != 200:
            exc = SourceError(f"{self.system} answered HTTP {response.status_code} for {what}")
            exc.retryable = response.status_code >= 500
            exc.status = response.status_code
            raise exc
        # A malformed document is what the server holds, not a passing failure: asking
        # again gets the same bytes, so the version is refused at once.
        try:
            doc = json.loads(body)
        except ValueError:
            exc = SourceError(f"{self.system} sent a packument that is not JSON: {what}")
            exc.retryable = False
            raise exc from None
        if not isinstance(doc, dict):
            exc = SourceError(f"{self.system} sent a packument that is not an object: {what}")
            exc.retryable = False
            raise exc
        return doc

    async def _capped_body(self, response: httpx.Response, repository: str, name: str,
                           what: str) -> bytes:
        """The body of a 200 (other answers: their excerpt at most), refused above
        `MAX_PACKUMENT` bytes (told by Content-Length, or counted as it streams)."""
        if response.status_code != 200:
            return b""
        limit = self.max_packument
        told = response.headers.get("Content-Length", "")
        if told.isdigit() and int(told) > limit:
            raise self._too_large(repository, name, what, f"of {_bytes(int(told))}, more")
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise self._too_large(repository, name, what, "larger")
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, repository: str, name: str, what: str, size: str) -> SourceError:
        exc = SourceError(
            f"{self.system} sent a packument {size} than the {_bytes(self.max_packument)} "
            f"read for {name} in repository {repository}: {what}",
            hint="a packument that large is not a registry document; remove or repair it on "
            "the source, or exclude the package in the manifest")
        # The same document comes back on every attempt: refused at once.
        exc.retryable = False
        return exc

    async def aclose(self) -> None:
        await self.crawler.aclose()


def _bytes(n: int) -> str:
    """`1.5 GiB (1610612736 bytes)`: readable, and exact for a script."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            human = f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
            return human if unit == "B" else f"{human} ({n} bytes)"
        size /= 1024
    return f"{n} bytes"  # pragma: no cover
