"""Source crawlers: one small protocol, one module per server kind, a registry by kind.

A crawler lists a server's repositories and pages through one repository's files. Each page
carries the cursor that fetches the *next* page, so the caller can checkpoint after every page
and a later `crawl(repo, cursor=...)` resumes without re-reading what was recorded.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import httpx

from migrator import formats
from migrator.errors import UnsafePathError
from migrator.log import register_secret
from migrator.manifest import RepositoryMapping, SourceSettings
from migrator.models import HASH_ALGORITHMS, Check, DiscoveredAsset, Format, SourceRepository
from migrator.paths import check_path, display_path
from migrator.retry import PREFLIGHT, Sleep
from migrator.sources.http import PROBE_TIMEOUT, SourceHTTP

__all__ = [
    "Crawler",
    "Found",
    "Page",
    "SourceProbe",
    "as_size",
    "build_asset",
    "crawler_class",
    "listed_path",
    "listed_size",
    "make_crawler",
    "make_probe_crawler",
    "normal_checksums",
    "utc_iso",
]

Found = tuple[DiscoveredAsset, str | None]  # the asset, and why the format excludes it (or None)

logger = logging.getLogger(__name__)

_HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
_HEX = re.compile(r"^[0-9a-f]+$")
# The digests of zero bytes: a listed size of 0 is believed only next to one of these.
_EMPTY = {alg: hashlib.new(alg, b"").hexdigest() for alg in _HEX_LENGTHS}


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a repository listing."""

    items: list[Found]
    cursor: str | None  # what fetches the next page; None once the listing is exhausted
    done: bool
    requests: int = 1  # source requests this page cost (properties look-ups included)


@dataclass(slots=True)
class SourceProbe:
    """What a preflight learned about a source: its check lines, and the repositories the
    credentials see (name → repository; empty when the server could not be asked)."""

    checks: list[Check] = field(default_factory=list)
    repositories: dict[str, SourceRepository] = field(default_factory=dict)


@runtime_checkable
class Crawler(Protocol):
    """What the planner needs from a source server.

    Registered implementations also offer `from_settings(url, *, username, password, token,
    transport, sleep, max_connections, verify)`, which `make_crawler` calls; tests build them
    around an injected `httpx.AsyncClient` or transport instead.
    """

    kind: str
    system: str  # the server's name in messages ("Nexus", "Artifactory")
    asset_name_map: Mapping[str, str] | None  # explicit generic asset names (the plan sets it)
    http: SourceHTTP  # the one HTTP client of this source, with its credentials
    #: The server's name for the count `reported_file_count` reads ("filesCount"); None when
    #: the server reports none.
    file_count_field: str | None

    async def repositories(self) -> list[SourceRepository]:
        """Every repository of a supported format the credentials can see."""
        ...

    def crawl(self, repository: SourceRepository, cursor: str | None = None) -> AsyncIterator[Page]:
        """Pages of `repository`, starting after `cursor` (None: from the beginning)."""
        ...

    def download_url(self, repository: SourceRepository, path: str) -> str:
        """Where to GET `path`, built from our configured base URL (never the server's)."""
        ...

    def npm_packument_urls(self, repository: SourceRepository, name: str) -> tuple[str, ...]:
        """Where to GET the npm packument of `name` (`@scope/name` or `name`): the URLs to
        try in order, the next one when a server refuses (400) or misses (404) a form."""
        ...

    async def reported_file_count(self, repository: SourceRepository) -> int | None:
        """How many files the server says `repository` holds (every file: sidecars and
        metadata included), or None when it does not say."""
        ...

    async def probe(self, mappings: Sequence[RepositoryMapping], *,
                    credentials: str) -> SourceProbe:
        """Preflight: reachable, credentials accepted, each of `mappings` present (format,
        not a group), and whether the crawl identity can be seen to read each one fully.
        `credentials` names where the credentials come from, for messages."""
        ...

    async def aclose(self) -> None: ...


def normal_checksums(raw: object, notes: list[str] | None = None) -> dict[str, str]:
    """Keep the algorithms we know, as lowercase hex of the right length.

    A value that is not one (`"......"` as some servers redact it, a wrong length, not hex)
    is not a checksum: it is dropped, never compared, and described in `notes` when given.
    Unknown algorithm names are ignored silently.
    """
    if not isinstance(raw, Mapping):
        return {}
    aliases = {"sha2": "sha256", "actual_sha1": "sha1", "actual_md5": "md5"}
    out: dict[str, str] = {}
    for key, value in raw.items():
        alg = aliases.get(str(key).lower(), str(key).lower())
        if alg not in HASH_ALGORITHMS or value is None:
            continue
        digest = value.strip().lower() if isinstance(value, str) else ""
        if len(digest) == _HEX_LENGTHS[alg] and _HEX.match(digest):
            out[alg] = digest
        elif notes is not None and digest != "":
            shown = repr(value)[:40]
            notes.append(f"{key} {shown} is not a {alg} digest ({_HEX_LENGTHS[alg]} hex "
                         "digits); ignored")
    return out


def as_size(raw: object) -> int | None:
    """A byte count from a listing: ints, numeric strings (Artifactory File Info); else None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if raw >= 0 else None
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw.strip())
    return None


def listed_size(raw: object, checksums: Mapping[str, str]) -> int | None:
    """The size a listing entry really tells, or None (unknown).

    Nexus lists `fileSize: 0` for files whose size it does not know (seen on real jars of
    proxy repositories); Artifactory writes sizes as strings. A 0 is believed only when a
    listed checksum is the empty file's, so an unknown size is never a mismatch.
    """
    size = as_size(raw)
    if size == 0 and not any(_EMPTY[alg] == value for alg, value in checksums.items()):
        return None
    return size


def build_asset(
    fmt: Format,
    repository: str,
    raw_path: object,
    *,
    size: object = None,
    checksums: object = None,
    last_modified: object = None,
    properties: Mapping[str, Any] | None = None,
    strip_leading_slash: bool = False,
    asset_name_map: Mapping[str, str] | None = None,
    last_downloaded: object = None,
    created: object = None,
) -> Found:
    """Check an untrusted listing entry and classify it; never raises for bad input.

    `asset_name_map`: the manifest's explicit generic asset-name mapping (None: off)."""
    modified = last_modified if isinstance(last_modified, str) else None
    props = dict(properties) if isinstance(properties, Mapping) else {}
    try:
        path = check_path(raw_path, strip_leading_slash=strip_leading_slash)
    except UnsafePathError as exc:
        refused = DiscoveredAsset(
            path=display_path(raw_path),
            size=as_size(size),
            checksums={},
            coordinates=None,
            last_modified=modified,
            refused=f"unsafe path: {exc.message}",
        )
        return refused, None
    parsed = formats.parse(fmt, path, props, repository=repository,
                           asset_name_map=asset_name_map)
    notes: list[str] = []
    known = normal_checksums(checksums, notes)
    if notes:
        logger.warning("%s/%s: the listing's %s", repository, path, "; ".join(notes))
    asset = DiscoveredAsset(
        path=path,
        size=listed_size(size, known),
        checksums=known,
        coordinates=parsed.coordinates if parsed.problem is None else None,
        kind=parsed.kind,
        last_modified=modified,
        refused=parsed.problem,
        properties=props,
        last_downloaded=utc_iso(last_downloaded),
        created=utc_iso(created),
    )
    return asset, parsed.skip


def listed_path(raw: object, *, strip_leading_slash: bool = False) -> str:
    """The path the state records for a listing entry (as `build_asset` records it: checked,
    or its display form when refused), without classifying the file."""
    try:
        return check_path(raw, strip_leading_slash=strip_leading_slash)
    except UnsafePathError:
        return display_path(raw)


def utc_iso(raw: object) -> str | None:
    """A source timestamp (`2024-01-02T03:04:05.678+00:00`, `...Z`, other offsets) as
    `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC, which compares in time order as text; None when it is
    not one."""
    from datetime import UTC, datetime

    if not isinstance(raw, str) or not raw:
        return None
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def crawler_class(kind: str) -> type:
    """The crawler implementation registered for a source kind."""
    from migrator.sources.artifactory import ArtifactoryCrawler
    from migrator.sources.nexus import NexusCrawler

    registry: dict[str, type] = {"nexus": NexusCrawler, "artifactory": ArtifactoryCrawler}
    try:
        return registry[kind]
    except KeyError:
        known = ", ".join(sorted(registry))
        raise ValueError(f"unknown source kind {kind!r}; expected one of {known}") from None


def make_crawler(
    source: SourceSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep | None = None,
    max_connections: int = 8,
    **options: Any,
) -> Crawler:
    """Build the crawler for the manifest's `[source]` settings (kind, url, credentials);
    `options` go to its `from_settings` (`policy`, `timeout`, ...)."""
    username, password, token = source.credentials()
    register_secret(password, token)  # never printed, at any verbosity
    cls = crawler_class(source.kind)
    return cls.from_settings(
        source.url,
        username=username,
        password=password,
        token=token,
        transport=transport,
        sleep=sleep,
        max_connections=max_connections,
        verify=source.verify_tls,
        **options,
    )


def make_probe_crawler(
    source: SourceSettings, *, transport: httpx.AsyncBaseTransport | None = None,
    timeout: httpx.Timeout = PROBE_TIMEOUT,
) -> Crawler:
    """The crawler a preflight uses: one attempt per request, short timeouts."""
    return make_crawler(source, transport=transport, max_connections=4, policy=PREFLIGHT,
                        timeout=timeout)
