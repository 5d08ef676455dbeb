"""Finalize: what a package needs once all its versions are settled (npm dist-tags and
deprecations today)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import anyio

from migrator.errors import FATAL_ERRORS, first_error
from migrator.state import WorkQueue
from migrator.target.access import TargetAccess

__all__ = ["FinalizeAsSettled", "finalize_npm"]

logger = logging.getLogger(__name__)

# Packages restored at once: each is a few requests one after the other (the source's
# packument, the target's, the tag writes), so one at a time costs their round trips in a
# row, seconds at the end of a run on a distant target. The rate buckets pace the writes.
_CONCURRENCY = 64


async def finalize_npm(q: WorkQueue, target: TargetAccess, repository_ids: Sequence[int],
                       only: Iterable[tuple[int, str, str]] | None = None) -> dict[str, Any]:
    """Restore dist-tags and deprecations once per npm package whose versions are all done
    (`only`: of these (repository id, namespace, package) alone).

    A package is done again (and restored again) only when its set of finished versions
    changed since the last restore (a fingerprint recorded in the state's meta).
    """
    todo = []
    for pkg in q.settled_npm_packages(repository_ids, only):
        fingerprint = hashlib.sha256(",".join(pkg.versions).encode()).hexdigest()
        key = f"finalize.npm.{pkg.repository_id}.{pkg.name}"
        if q.get_meta(key) != fingerprint:
            todo.append((pkg, key, fingerprint))
    # in the order of the packages, whichever finishes first
    out: dict[str, Any] = {f"{pkg.source}/{pkg.name}": None for pkg, _, _ in todo}
    limiter = anyio.CapacityLimiter(_CONCURRENCY)

    async def one(pkg: Any, key: str, fingerprint: str) -> None:
        async with limiter:
            try:
                done = await target.restore_npm(pkg.target, pkg.source, pkg.name)
            except FATAL_ERRORS:
                raise
            except Exception as exc:  # a tag is not worth failing the run: report it
                logger.warning("%s: dist-tags of %s not restored: %s", pkg.source, pkg.name,
                               exc)
                out[f"{pkg.source}/{pkg.name}"] = {"error": str(exc)}
                return
        q.set_meta(key, fingerprint)  # the state's one writer: no await in between
        out[f"{pkg.source}/{pkg.name}"] = dict(done)

    try:
        async with anyio.create_task_group() as tg:
            for job in todo:
                tg.start_soon(one, *job)
    except BaseExceptionGroup as group:
        raise first_error(group) from None
    return out


class FinalizeAsSettled:
    """While the engine runs: each npm package restored as soon as its versions are all
    settled (`settled`, the engine's `on_settled`), instead of every package after the run's
    last version: the round trips to the source and the target then no longer follow the
    last write. `run` returns once `stop` is called, after the restore under way. What is
    left (a package settled since, a restore that failed) is the run's closing
    `finalize_npm`'s, which skips a package restored here by its fingerprint."""

    def __init__(self, q: WorkQueue, target: TargetAccess, repository_ids: Sequence[int]
                 ) -> None:
        self.q, self.target, self.repository_ids = q, target, repository_ids
        self.results: dict[str, Any] = {}
        self._pending: set[tuple[int, str, str]] = set()
        self._wake = anyio.Event()
        self._stopping = False

    def settled(self, version: Any) -> None:
        if str(version.format) == "npm" and version.mode == "copy" and version.package:
            self._pending.add((version.repository_id, version.namespace or "",
                               version.package))
            self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake = anyio.Event()
            if self._pending and not self._stopping:
                batch = set(self._pending)
                self._pending.clear()
                self.results.update(await finalize_npm(self.q, self.target,
                                                       self.repository_ids, only=batch))
