"""Streamed downloads from the source: bytes to a spool file, hashed on the way, checked.

One GET per asset, written in chunks to a spool file while MD5, SHA-1, SHA-256 and SHA-512
are computed over exactly the bytes written, so memory stays flat whatever the size (a 5 GB
asset costs one chunk buffer). A transfer cut off mid-body is resumed with `Range: bytes=N-`
when the server answers 206 for it; a server that ignores Range (200) is read again from the
start. Transient failures (transport errors, 408/429/5xx) are retried with back-off honouring
`Retry-After`; 401/403 raise `SourceAuthError`, other 4xx a non-retryable `SourceError`.

The bytes must match every checksum the source reported (and its size, when it gave one),
else `ChecksumMismatch` names both values: such an asset is never published.

`migrator.sources.access.SourceAccess` uses this for every download of a run.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx

from migrator.crashpoints import crash_point
from migrator.errors import SourceAuthError, SourceError, root_cause
from migrator.models import (
    HASH_ALGORITHMS,
    ClaimedAsset,
)
from migrator.retry import (
    RETRYABLE_STATUSES,
    SOURCE_DOWNLOAD,
    RetryableResponse,
    RetryPolicy,
    Sleep,
    TruncatedBody,
)
from migrator.sources.http import redact, unreachable

__all__ = [
    "DOWNLOAD",
    "ChecksumMismatch",
    "Hashes",
    "discard",
    "download_to",
    "hash_file",
]

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024  # bytes handed to a worker thread at once (hashing releases the GIL)
_INLINE = 256 * 1024  # below this, hash on the event loop: a thread hop costs more

DOWNLOAD = SOURCE_DOWNLOAD


class ChecksumMismatch(SourceError):
    """The downloaded bytes differ from what the source reported: never publish them."""

    retryable = False

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message, hint="the file on the source server is damaged or its "
                         "recorded checksum is wrong; fix it there, then `migrator retry`")
        self.path = path


class _Cut(TruncatedBody):
    """The body ended early; `written` bytes of it are safely in the spool file."""


class Hashes:
    """The four digests of a byte stream, fed chunk by chunk."""

    def __init__(self) -> None:
        self._h = {a: hashlib.new(a) for a in HASH_ALGORITHMS}
        self.size = 0

    def update(self, data: bytes | memoryview) -> None:
        for h in self._h.values():
            h.update(data)
        self.size += len(data)

    def hexdigests(self) -> dict[str, str]:
        return {a: h.hexdigest() for a, h in self._h.items()}


def discard(path: Path) -> None:
    """Remove a spool file (its version's folder goes with `SourceAccess.release`)."""
    path.unlink(missing_ok=True)


def hash_file(path: str | os.PathLike[str]) -> tuple[int, dict[str, str]]:
    """Size and the four digests of a local file (chunked; for tests and benchmarks)."""
    h = Hashes()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.size, h.hexdigests()


def _write_and_hash(fh: Any, hashes: Hashes, data: bytes) -> None:
    fh.write(data)
    hashes.update(data)


async def download_to(
    client: httpx.AsyncClient,
    url: str,
    dest: Path,
    *,
    policy: RetryPolicy = DOWNLOAD,
    sleep: Sleep | None = None,
    system: str = "the source",
    timeout: httpx.Timeout | None = None,
) -> tuple[int, dict[str, str]]:
    """GET `url` into `dest` (created or truncated); returns (size, digests of the bytes).

    Resumes a cut-off body with Range when the server allows it. Follows redirects, without
    the credentials when they leave the source's origin.

    :raises SourceAuthError: 401/403.
    :raises SourceError: any other non-2xx answer, or transient failures outliving `policy`.
    """
    hashes = Hashes()
    what = f"GET {redact(url) if '@' in url else url}"
    with open(dest, "wb") as fh:
        try:
            async for attempt in policy.retrying(sleep=sleep, what=what):
                with attempt:
                    await _one_get(client, url, fh, hashes, what, system, timeout)
        except RetryableResponse as exc:
            raise SourceError(f"{system} kept failing: {what} answered HTTP "
                              f"{exc.response.status_code}",
                              hint="the server is overloaded or down; the run retries this "
                              "asset later, or run again to resume") from None
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise unreachable(system, what, exc) from None
        except (httpx.TransportError, _Cut) as exc:
            raise SourceError(f"{system} download kept breaking off: {what} "
                              f"({root_cause(exc)} after {hashes.size} bytes)",
                              hint="the run retries this asset later; check the network to "
                              "the source") from None
    return hashes.size, hashes.hexdigests()


async def _one_get(client: httpx.AsyncClient, url: str, fh: Any, hashes: Hashes, what: str,
                   system: str, timeout: httpx.Timeout | None) -> None:
    have = hashes.size
    headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    # Redirects are followed (Artifactory can send downloads to cloud storage); httpx drops
    # the Authorization header when a redirect leaves the origin, so credentials stay home.
    async with client.stream("GET", url, headers=headers, follow_redirects=True,
                             timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
                             ) as response:
        status = response.status_code
        if status in RETRYABLE_STATUSES:
            await response.aread()
            raise RetryableResponse(response)
        if status in (401, 403):
            raise SourceAuthError(f"{system} refused the download (HTTP {status}): {what}",
                                  hint="check the source credentials and read permission")
        if have and status == 200:
            # Range ignored: start over, with fresh hashes.
            logger.info("%s: no Range support, downloading again from the start", what)
            fh.seek(0)
            fh.truncate()
            hashes.__init__()
        elif have and status == 206:
            start = _range_start(response.headers.get("content-range", ""))
            if start != have:
                fh.seek(0)
                fh.truncate()
                hashes.__init__()
                raise _Cut(f"Content-Range starts at {start}, expected {have}")
        elif status == 416 and have:
            return  # nothing left: the previous attempt had every byte
        elif not 200 <= status < 300:
            await response.aread()
            exc = SourceError(f"{system} answered HTTP {status} for {what}",
                              hint="the file may have been deleted from the source since the "
                              "crawl; run `migrator plan` again to refresh the state")
            exc.retryable = False  # an answer, not an accident
            raise exc
        encoded = response.headers.get("content-encoding", "identity").lower() != "identity"
        # Hash what the server stores: undo a transfer encoding it applied anyway (then
        # Content-Length counts encoded bytes and a resume starts over).
        expected = None if encoded else response.headers.get("content-length")
        start_size = hashes.size
        buf = bytearray()
        try:
            async for chunk in response.aiter_bytes():
                buf += chunk
                if len(buf) >= CHUNK:
                    data, buf = bytes(buf), bytearray()
                    await anyio.to_thread.run_sync(_write_and_hash, fh, hashes, data)
        finally:
            # Whatever arrived before a break is good data: keep it for the Range resume.
            if buf:
                data = bytes(buf)
                if len(data) >= _INLINE:
                    await anyio.to_thread.run_sync(_write_and_hash, fh, hashes, data)
                else:
                    _write_and_hash(fh, hashes, data)
            fh.flush()
        crash_point("mid-download")  # body on disk, not yet checked (tests only)
        if expected is not None and expected.isdigit() and \
                hashes.size - start_size < int(expected):
            raise _Cut(f"{hashes.size - start_size} of {expected} bytes")


def _range_start(value: str) -> int | None:
    # "bytes 100-199/200"
    try:
        unit, _, rest = value.partition(" ")
        return int(rest.split("-", 1)[0]) if unit == "bytes" else None
    except ValueError:
        return None


def check_against_source(asset: ClaimedAsset, size: int, digests: Mapping[str, str]) -> None:
    """Raise `ChecksumMismatch` unless the bytes match every fact the source reported."""
    problems = []
    if asset.size is not None and asset.size != size:
        problems.append(f"size: source says {asset.size}, downloaded {size}")
    for alg in HASH_ALGORITHMS:
        want = asset.source_hashes.get(alg)
        if want and want.lower() != digests[alg]:
            problems.append(f"{alg}: source says {want}, downloaded {digests[alg]}")
    if problems:
        raise ChecksumMismatch(f"checksum mismatch for {asset.path}: " + "; ".join(problems),
                               path=asset.path)
