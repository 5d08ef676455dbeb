"""Version status reads, batched per package: one ListPackageVersions instead of a
DescribePackageVersion per version when several versions of a package are asked about at once.

Verification reads each version's status and origin (DescribePackageVersion) beside its asset
hashes (ListPackageVersionAssets). A run verifies the versions of one package close together
(they are claimed in one batch), so their status reads can share one `ListPackageVersions`,
which reports `status` and `origin` of every version of the package.

The rule that keeps it correct under eventual consistency: a caller only ever gets an answer
from a listing that was *sent after it asked*. Callers asking about one package within
`window` seconds join one batch; the batch is sent when the window closes, so everyone in it
asked before the request left. One caller alone gets its DescribePackageVersion as before
(a listing of a package with thousands of versions would cost more than one describe); two or
more get the listing. A version the listing does not hold is absent (status None), exactly
what DescribePackageVersion's 404 would have said, and the verification polls again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio

__all__ = ["StatusReads"]

Key = tuple[str, str, str, str]  # repository, format, namespace, package
Describe = Callable[[str], Awaitable[dict[str, Any] | None]]
Listing = Callable[[], Awaitable[dict[str, dict[str, Any]]]]


class _Batch:
    def __init__(self) -> None:
        self.versions: set[str] = set()
        self.done = anyio.Event()
        self.found: dict[str, dict[str, Any] | None] = {}
        self.error: BaseException | None = None
        self.abandoned = False  # its sender was cancelled: each caller reads for itself


class StatusReads:
    """The batches of status reads in flight, per package."""

    def __init__(self, window: float = 0.01,
                 sleep: Callable[[float], Awaitable[None]] = anyio.sleep) -> None:
        self.window = window
        self.sleep = sleep
        self._open: dict[Key, _Batch] = {}
        self.listings = 0  # batches answered by one ListPackageVersions
        self.describes = 0  # batches of one, answered by DescribePackageVersion

    async def status(self, key: Key, version: str, *, describe: Describe,
                     listing: Listing) -> dict[str, Any] | None:
        """{status, origin: {originType, ...}} of one version, or None when absent."""
        batch = self._open.get(key)
        if batch is None:
            batch = self._open[key] = _Batch()
            batch.versions.add(version)
            try:
                try:
                    await self.sleep(self.window)  # the others asking now join this batch
                finally:
                    # Closed before any request leaves: a later caller starts a new batch.
                    del self._open[key]
                await self._send(batch, describe, listing)
            except anyio.get_cancelled_exc_class():
                batch.abandoned = True
                batch.done.set()
                raise
        else:
            batch.versions.add(version)
            await batch.done.wait()
            if batch.abandoned:
                self.describes += 1
                return await describe(version)
        if batch.error is not None:
            raise batch.error
        return batch.found.get(version)

    async def _send(self, batch: _Batch, describe: Describe, listing: Listing) -> None:
        try:
            if len(batch.versions) == 1:
                [only] = batch.versions
                self.describes += 1
                batch.found[only] = await describe(only)
            else:
                self.listings += 1
                listed = await listing()
                batch.found = {v: listed.get(v) for v in batch.versions}
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as exc:
            # Every caller of the batch sees the error the read met (and retries as it would
            # have after its own read failed).
            batch.error = exc
            raise
        finally:
            batch.done.set()
