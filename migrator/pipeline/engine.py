"""The transfer engine: claimed package versions in, downloaded, published, verified.

One anyio task group holds

- the **writer**: the only task that touches the state. It claims versions (leases) while
  workers are free, hands them out through a bounded memory stream, applies the facts the
  workers send back in batches (`mark_assets`, `finish`), renews leases, and notices when
  nothing is left: no claim in flight and no retry due;
- **workers** (`options.workers`): one claimed version at a time; how many versions are in
  flight follows Little's law from `options.concurrency` up (`pipeline/concurrency.py`),
  so a distant target still reaches the rate budget. Downloads share a
  `CapacityLimiter(options.source_concurrency)`; target requests are paced by the
  publishers' own rate limits;
- the **signal watcher**: SIGINT/SIGTERM stop the claiming; versions in flight get a grace
  period to finish, the rest are released (their recorded facts stay) and the run raises
  `Interrupted` (exit code 3). A second signal cuts the grace period short.

Per claimed version, by where it was claimed from:

    discovered / failed_retryable  download the assets not yet published (stream + hash +
                                   check the source's checksums) → publisher.publish, each
                                   reported fact committed before the next request → the
                                   version is published (or skipped_identical / conflict)
    published                      verify: poll CodeArtifact (eventual consistency) until every
                                   asset's size and hashes, status Published and origin
                                   INTERNAL can be compared → verified (or conflict)
    (prewarm repositories)         GET each cached public asset through the target repository,
                                   then confirm origin EXTERNAL → requested → ingested (a 404:
                                   not_found_upstream, or blocked_by_origin_control when the
                                   target's origin controls refuse the upstream)

Failures: a retryable error makes the version failed_retryable with a next attempt time
(exponential back-off) until `options.max_attempts`, then failed_permanent, so one poison
item never blocks the queue; a checksum mismatch is failed_permanent at once and the bytes
are never published; rejected credentials stop the run (exit code 2).
"""

from __future__ import annotations

import contextlib
import logging
import random
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from migrator.crashpoints import crash_point
from migrator.errors import (
    FATAL_ERRORS,
    IllegalTransition,
    Interrupted,
    SystemFailing,
    TargetError,
    describe,
    first_error,
)
from migrator.models import (
    AssetOutcome,
    AssetResult,
    AssetUpdate,
    ClaimedAsset,
    ClaimedVersion,
    Format,
    SpooledFile,
    VersionCheck,
    VersionResult,
)
from migrator.pipeline.concurrency import LittlesLaw
from migrator.pipeline.options import EngineOptions
from migrator.pipeline.stats import Stats
from migrator.retry import is_retryable
from migrator.sources.access import SourceAccess
from migrator.sources.download import ChecksumMismatch, discard
from migrator.state import WorkQueue
from migrator.state import status as st
from migrator.target.access import TargetAccess
from migrator.target.errors import NotFound
from migrator.verification import (
    ON_TARGET,
    asset_name,
    compare_hashes,
    expected_assets,
    normal_hashes,
    verify_version,
)

__all__ = ["Engine", "EngineOptions"]

logger = logging.getLogger(__name__)

_TODO = (st.DISCOVERED, st.FAILED_RETRYABLE)
# A version in one of these is done with for this run (`Engine.on_settled`).
_SETTLED = frozenset({st.VERIFIED, st.SKIPPED_IDENTICAL, st.CONFLICT, st.FAILED_PERMANENT})


@dataclass
class _Fact:
    """An asset fact from a worker; `done` is set once it is committed."""

    update: AssetUpdate
    done: anyio.Event | None = None


@dataclass
class _Finished:
    result: VersionResult
    stats: Stats
    seconds: float = 0.0  # the claim's time in the worker (Little's law)


class _WorkerExit:
    pass


class Engine:
    """Runs the claimable work of one state to the end (or to a signal)."""

    def __init__(self, queue: WorkQueue, *, source: SourceAccess | Any,
                 target: TargetAccess, options: EngineOptions, owner: str,
                 progress: Any = None, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
                 handle_signals: bool = True) -> None:
        self.queue = queue
        self.source = source
        self.target = target
        self.options = options
        self.owner = owner
        self.progress = progress
        self.clock = clock
        self.sleep = sleep
        self.handle_signals = handle_signals
        self.stats = Stats()
        self.in_flight: dict[int, ClaimedVersion] = {}
        self.stopping = False
        self.interrupted = False
        self.fatal: BaseException | None = None
        self.repository_ids = queue.repository_ids(stage=options.stage)
        self._source_slots = anyio.CapacityLimiter(options.source_concurrency)
        self._facts_send: ObjectSendStream[_Fact | _Finished | _WorkerExit] | None = None
        self._live_workers = 0
        self._drained = False
        self._claim_again_at = 0.0
        self._writer_gone = False
        self._snapshot_locks: dict[tuple[int, str, str, str], anyio.Lock] = {}
        self._origin_locks: dict[tuple[str | None, str, str, str], anyio.Lock] = {}
        self._origin_done: set[tuple[str | None, str, str, str]] = set()
        # Names a public registry also offers (target repository, format, namespace,
        # package), from the run's dependency-confusion check; None when no check was made,
        # and then every package gets its origin configuration written.
        self.exposed: set[tuple[str | None, str, str, str]] | None = None
        # Packages left to CodeArtifact's default whose publish then failed: written next time.
        self._origin_suspect: set[tuple[str | None, str, str, str]] = set()
        self._workers_scope: anyio.CancelScope | None = None
        self._rng = random.Random()
        self._systemic: str | None = None  # the whole-system failure seen last, and how
        self._systemic_count = 0  # many versions in a row failed with it
        self.pace = LittlesLaw(options.rate_budget, floor=options.concurrency,
                               cap=options.workers)
        # Called (on the writer, after the commit) for each version whose status is now
        # final for this run: the run restores an npm package's dist-tags from there.
        self.on_settled: Callable[[ClaimedVersion], None] | None = None

    # -- the run -----------------------------------------------------------------------------

    async def run(self) -> Stats:
        """Process claimable versions until none is left or a signal arrives.

        :raises Interrupted: SIGINT/SIGTERM; claims in flight were finished or released.
        :raises SourceAuthError, TargetAuthError: credentials refused; claims released.
        """
        n_workers = self.options.workers
        work_send, work_recv = anyio.create_memory_object_stream[ClaimedVersion](n_workers)
        facts_send, facts_recv = anyio.create_memory_object_stream[
            _Fact | _Finished | _WorkerExit](max(1024, self.options.batch * 2))
        self._facts_send = facts_send
        self._live_workers = n_workers
        try:
            async with anyio.create_task_group() as outer:
                if self.handle_signals:
                    outer.start_soon(self._watch_signals, outer.cancel_scope)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._writer, work_send, facts_recv)
                    with anyio.CancelScope() as workers:
                        self._workers_scope = workers
                        async with anyio.create_task_group() as wg, work_recv:
                            for i in range(n_workers):
                                wg.start_soon(self._worker, i, work_recv.clone())
                outer.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            raise first_error(group) from None
        finally:
            self.queue.release(self.owner)
        if self.fatal is not None:
            raise self.fatal
        if self.interrupted:
            raise Interrupted("interrupted: the work in flight was finished or given back; "
                              "everything done so far is saved",
                              hint="run `migrator resume` to continue where it stopped")
        return self.stats

    async def _watch_signals(self, outer: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                if not self.stopping:
                    logger.warning("%s: finishing the work in flight (at most %.0f s), then "
                                   "stopping; send it again to stop at once",
                                   signal.Signals(signum).name, self.options.grace_seconds)
                    self.interrupt()
                    outer_deadline = anyio.current_time() + self.options.grace_seconds
                    if self._workers_scope is not None:
                        self._workers_scope.deadline = outer_deadline
                else:
                    logger.warning("stopping now; unfinished work is given back")
                    if self._workers_scope is not None:
                        self._workers_scope.cancel()

    def interrupt(self) -> None:
        """Stop claiming; what is in flight finishes (graceful stop)."""
        self.stopping = True
        self.interrupted = True

    # -- the single writer -------------------------------------------------------------------

    async def _writer(self, work_send: ObjectSendStream[ClaimedVersion],
                      facts_recv: ObjectReceiveStream[_Fact | _Finished | _WorkerExit]) -> None:
        try:
            await self._write_loop(work_send, facts_recv)
        finally:
            self._writer_gone = True

    async def _write_loop(self, work_send: ObjectSendStream[ClaimedVersion],
                          facts_recv: ObjectReceiveStream[_Fact | _Finished | _WorkerExit]
                          ) -> None:
        q, o = self.queue, self.options
        renew_every = max(0.05, o.lease_seconds / 3)
        next_renew = anyio.current_time() + renew_every
        wait = 0.0
        async with facts_recv:
            while True:
                batch: list[_Fact | _Finished | _WorkerExit] = []
                with anyio.move_on_after(wait):
                    batch.append(await facts_recv.receive())
                while len(batch) < o.batch:
                    try:
                        batch.append(facts_recv.receive_nowait())
                    except anyio.WouldBlock:
                        break
                self._apply(batch)
                if anyio.current_time() >= next_renew and self.in_flight:
                    q.renew(self.owner, list(self.in_flight), o.lease_seconds)
                    next_renew = anyio.current_time() + renew_every
                if self.stopping or self.fatal is not None:
                    # No more claims; let the workers finish (or be cut off), then stop.
                    await work_send.aclose()
                    if self._live_workers == 0:
                        return
                    wait = 0.5
                    continue
                free = self._in_flight_limit() - len(self.in_flight)
                finished = any(isinstance(m, _Finished) for m in batch)
                # An empty claim stays empty until a version finishes (it may now need
                # verifying) or a retry comes due: do not ask again for every fact.
                if free > 0 and (finished or not self._drained
                                 or anyio.current_time() >= self._claim_again_at):
                    # Once nothing is left to publish, the versions just published are
                    # verified at once instead of `verify_after` later: the run would only
                    # wait for them (a look that comes too early polls with back-off).
                    claimed = q.claim(self.owner, limit=free, lease_seconds=o.lease_seconds,
                                      repository_ids=self.repository_ids,
                                      verify_early=self._drained)
                    for v in claimed:
                        if v.id in self.in_flight:
                            # Our own claim, its lease lapsed while a worker still has it
                            # (renewal was late): the claim renewed it; do not run it twice.
                            continue
                        self.in_flight[v.id] = v
                        work_send.send_nowait(v)
                    self._drained = len(claimed) < free
                    self._claim_again_at = anyio.current_time() + 1.0
                    if self._drained:
                        due = self._next_due()
                        if due is not None:
                            self._claim_again_at = min(
                                self._claim_again_at,
                                anyio.current_time() + max(0.0, due - self.clock()))
                    if claimed:
                        wait = 0.0
                        continue
                if self.in_flight:
                    # Woken at once by any fact; otherwise look again when a retry is due.
                    wait = max(0.05, min(1.0, self._claim_again_at - anyio.current_time()))
                    continue
                due = self._next_due()
                if due is None:
                    # Nothing in flight, nothing claimable, nothing waiting: the end.
                    await work_send.aclose()
                    self.stopping = True
                    if self._live_workers == 0:
                        return
                    wait = 0.5
                    continue
                wait = min(max(0.05, due - self.clock()), 5.0)

    def _in_flight_limit(self) -> int:
        return self.pace.limit if self.options.adaptive_concurrency else self.options.concurrency

    def _next_due(self) -> float | None:
        """When the next version waiting in scope can be claimed, or None when none waits."""
        return self.queue.next_due(self.repository_ids)

    def _apply(self, batch: Sequence[_Fact | _Finished]) -> None:
        if not batch:
            return
        self._live_workers -= sum(1 for m in batch if isinstance(m, _WorkerExit))
        facts = [m for m in batch if isinstance(m, _Fact)]
        finished = [m for m in batch if isinstance(m, _Finished)]
        if facts:
            updates = [f.update for f in facts]
            try:
                lost = self.queue.mark_assets(self.owner, updates)
            except IllegalTransition:
                lost = self._apply_one_by_one(updates)
            if lost:
                logger.warning("lease lost for %d asset(s); another process took them over",
                               len(lost))
            if self.progress is not None:
                self.progress.committed(u for u in updates if u.asset_id not in lost)
            for f in facts:
                if f.done is not None:
                    f.done.set()
        if finished:
            results = [m.result for m in finished]
            try:
                lost = self.queue.finish(self.owner, results)
            except IllegalTransition:
                lost = []
                for r in results:
                    try:
                        lost += self.queue.finish(self.owner, [r])
                    except IllegalTransition as exc:
                        logger.error("version %d: %s; given back", r.version_id, exc)
            if self.progress is not None:
                self.progress.settled(
                    (m.result, len(self.in_flight[m.result.version_id].assets)
                     if m.result.version_id in self.in_flight else len(m.result.assets))
                    for m in finished if m.result.version_id not in lost)
            if any(m.result.status not in (st.FAILED_RETRYABLE, st.FAILED_PERMANENT)
                   for m in finished):
                self._systemic, self._systemic_count = None, 0  # the system works again
            for m in finished:
                s = m.stats
                self.pace.observe(m.seconds, s.published + s.conflicts)
                v = self.in_flight.pop(m.result.version_id, None)
                if m.result.version_id not in lost:
                    self.stats = self.stats + m.stats
                    if v is not None and self.on_settled is not None and \
                            m.result.status in _SETTLED:
                        self.on_settled(v)

    def _apply_one_by_one(self, updates: Sequence[AssetUpdate]) -> list[int]:
        lost: list[int] = []
        for u in updates:
            try:
                lost += self.queue.mark_assets(self.owner, [u])
            except IllegalTransition as exc:
                logger.error("asset %d: %s (fact dropped)", u.asset_id, exc)
        return lost

    async def _record(self, update: AssetUpdate, *, wait: bool = True) -> None:
        """Send one asset fact to the writer; with `wait`, return once it is committed."""
        assert self._facts_send is not None
        done = anyio.Event() if wait else None
        await self._facts_send.send(_Fact(update, done))
        if done is not None:
            # Shielded: a worker being cut off still learns whether its fact was kept (the
            # writer outlives the workers), unless the writer itself failed.
            with anyio.CancelScope(shield=True):
                while not done.is_set() and not self._writer_gone:
                    with anyio.move_on_after(0.25):
                        await done.wait()

    # -- workers -----------------------------------------------------------------------------

    async def _worker(self, n: int, work: ObjectReceiveStream[ClaimedVersion]) -> None:
        assert self._facts_send is not None
        try:
            async with work:
                async for version in work:
                    stats = Stats(versions=1)
                    started = anyio.current_time()
                    try:
                        result = await self._process(version, stats)
                    except FATAL_ERRORS as exc:
                        if self.fatal is None:
                            self.fatal = exc
                        self.stopping = True
                        if self._workers_scope is not None:
                            self._workers_scope.cancel()
                        return
                    await self._facts_send.send(
                        _Finished(result, stats, anyio.current_time() - started))
        finally:
            with anyio.CancelScope(shield=True), \
                    contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                await self._facts_send.send(_WorkerExit())

    async def _process(self, v: ClaimedVersion, stats: Stats) -> VersionResult:
        try:
            if v.mode == "prewarm":
                return await self._prewarm(v, stats)
            if v.claimed_from == st.PUBLISHED:
                return await self._verify(v, stats)
            return await self._copy(v, stats)
        except FATAL_ERRORS:
            raise
        except Exception as exc:
            logger.debug("version %s failed", v.display, exc_info=True)
            return self._failed(v, exc, stats)

    def _failed(self, v: ClaimedVersion, exc: BaseException, stats: Stats,
                asset_ids: Sequence[int] = ()) -> VersionResult:
        """failed_retryable with a back-off, or failed_permanent once attempts are used up.

        A whole-system failure (an endpoint that cannot be reached) is never the version's
        fault: it is retryable whatever the error says, and `options.fail_fast_after` of
        them in a row, with the same cause, stop the run (`SystemFailing`).
        """
        reason = describe(exc)
        systemic = getattr(exc, "systemic", None)
        if systemic:
            self._note_systemic(systemic)
        if (is_retryable(exc) or systemic) and v.attempts < self.options.max_attempts:
            stats.retryable += 1
            delay = self.options.backoff.delay(v.attempts, self._rng)
            ids = set(asset_ids)
            updates = [AssetUpdate(a.id, st.FAILED_RETRYABLE, reason) for a in v.assets
                       if a.id in ids and a.status in _TODO]
            logger.info("%s: %s; retry %d/%d in %.0f s", v.display, reason, v.attempts,
                        self.options.max_attempts, delay)
            return VersionResult(v.id, st.FAILED_RETRYABLE, reason, self.clock() + delay,
                                 updates)
        stats.permanent += 1
        if is_retryable(exc):
            reason = f"gave up after {v.attempts} attempts: {reason}"
        logger.warning("%s: failed for good: %s", v.display, reason)
        updates = [AssetUpdate(a.id, st.FAILED_PERMANENT, reason) for a in v.assets
                   if a.status in (*_TODO, st.REQUESTED)]
        return VersionResult(v.id, st.FAILED_PERMANENT, reason, None, updates)

    def _note_systemic(self, condition: str) -> None:
        """Count versions failing in a row with the same whole-system condition; at the
        threshold, stop claiming and end the run with that condition as its error."""
        if condition == self._systemic:
            self._systemic_count += 1
        else:
            self._systemic, self._systemic_count = condition, 1
        if self._systemic_count >= self.options.fail_fast_after and self.fatal is None:
            s = self.stats
            progress = bool(s.published or s.identical or s.verified or s.ingested)
            logger.error("%s: %d versions in a row; stopping", condition, self._systemic_count)
            self.fatal = SystemFailing(condition, self._systemic_count, progress=progress)
            self.stopping = True

    # -- copy: download, check, publish ------------------------------------------------------

    async def _copy(self, v: ClaimedVersion, stats: Stats) -> VersionResult:
        todo = [a for a in v.assets if a.status in _TODO]
        files: list[SpooledFile] = []
        statuses = {a.id: a.status for a in v.assets}
        limit = self.options.max_asset_bytes
        too_big = [a for a in todo if limit and a.size and a.size > limit]
        if too_big:
            reason = (f"{', '.join(a.filename for a in too_big)}: larger than CodeArtifact's "
                      f"asset quota ({limit / 1024**3:g} GiB); raise the quota with AWS, then "
                      "`migrator retry`")
            stats.permanent += 1
            return VersionResult(v.id, st.FAILED_PERMANENT, reason, None,
                                 [AssetUpdate(a.id, st.FAILED_PERMANENT, reason) for a in todo])
        try:
            bad: list[tuple[ClaimedAsset, ChecksumMismatch]] = []
            try:
                async with anyio.create_task_group() as tg:
                    for a in todo:
                        tg.start_soon(self._download_one, v, a, files, bad, stats)
            except BaseExceptionGroup as group:
                raise first_error(group) from None
            if bad:
                # Never publish a version with a file whose bytes are not what the source
                # says: the rest waits with it (a Maven version without its jar is broken).
                reason = "; ".join(exc.message for _, exc in bad)
                stats.permanent += 1
                ids = {a.id for a, _ in bad}
                updates = [AssetUpdate(a.id, st.FAILED_PERMANENT, exc.message)
                           for a, exc in bad]
                updates += [AssetUpdate(a.id, st.FAILED_PERMANENT,
                                        f"held back: another file of this version failed: "
                                        f"{reason}") for a in todo if a.id not in ids]
                return VersionResult(v.id, st.FAILED_PERMANENT, reason, None, updates)
            files.sort(key=lambda f: f.asset.id)
            spooled = {f.asset.id: f for f in files}

            async def report(result: AssetResult) -> None:
                status = {AssetOutcome.PUBLISHED: st.PUBLISHED,
                          AssetOutcome.IDENTICAL: st.SKIPPED_IDENTICAL,
                          AssetOutcome.CONFLICT: st.CONFLICT}[AssetOutcome(result.outcome)]
                f = spooled.get(result.asset_id)
                await self._record(AssetUpdate(
                    result.asset_id, status, result.reason,
                    downloaded=dict(f.hashes) if f else None,
                    target=normal_hashes(result.target_hashes) or None))
                statuses[result.asset_id] = status
                crash_point("recorded")
                crash_point(f"recorded-{v.format}")
                if status == st.PUBLISHED:
                    stats.published += 1
                elif status == st.SKIPPED_IDENTICAL:
                    stats.identical += 1
                else:
                    stats.conflicts += 1

            if files:
                await self._protect_origin(v)
            async with self._serial(v):
                await self.target.publisher(v.format).publish(v, files, report)
        except FATAL_ERRORS:
            raise
        except Exception as exc:
            self._origin_unsure(v)
            return self._failed(v, exc, stats, [a.id for a in todo if statuses[a.id] in _TODO])
        finally:
            for f in files:
                discard(f.path)
            release = getattr(self.source, "release", None)
            if release is not None:
                release(v)
        return self._after_publish(v, statuses)

    async def _protect_origin(self, v: ClaimedVersion) -> None:
        """Origin control before a package's first publish of this run, once per package
        (the call is idempotent, so a resumed run simply makes it again).

        CodeArtifact gives a package created by a direct publish publish=ALLOW,
        upstream=BLOCK (reference §7.2), so the write is left out where that default is what
        the package gets: it is not in the target repository yet, and the
        dependency-confusion check found no public package of that name (nothing could be
        ingested under it before the publish). A package that exists (ingested from upstream,
        say, with upstream=ALLOW, or configured by someone) or whose name is public always
        gets the explicit write, and so does one whose publish failed after being left to
        the default."""
        if self.options.origin_control != "block-upstream":
            return
        key = self._origin_key(v)
        async with self._origin_locks.setdefault(key, anyio.Lock()):
            if key in self._origin_done:
                return
            if self.exposed is None or key in self.exposed or key in self._origin_suspect \
                    or await self.target.package_exists(v) is not False:
                await self.target.protect_origin(v)
            self._origin_done.add(key)

    @staticmethod
    def _origin_key(v: ClaimedVersion) -> tuple[str | None, str, str, str]:
        return (v.target_repository, str(v.format), v.namespace or "", v.package)

    def _origin_unsure(self, v: ClaimedVersion) -> None:
        """A publish failed: the next attempt writes the origin configuration whatever the
        package looked like before."""
        key = self._origin_key(v)
        if key in self._origin_done:
            self._origin_done.discard(key)
            self._origin_suspect.add(key)

    def _serial(self, v: ClaimedVersion) -> Any:
        """A lock for the builds of one Maven SNAPSHOT: CodeArtifact files every build's PUTs
        under `x-SNAPSHOT` until the next build arrives, so two builds published at once can
        mix their files. Builds of one snapshot are published one at a time; anything else
        needs no lock."""
        if v.format is not Format.MAVEN:
            return contextlib.nullcontext()
        base = next((a.extra.get("base_version") for a in v.assets
                     if a.extra.get("base_version")), None) or v.extra.get("base_version")
        if not base or base == v.version:
            return contextlib.nullcontext()
        key = (v.repository_id, v.namespace, v.package, str(base))
        return self._snapshot_locks.setdefault(key, anyio.Lock())

    async def _download_one(self, v: ClaimedVersion, a: ClaimedAsset, files: list[SpooledFile],
                            bad: list, stats: Stats) -> None:
        async with self._source_slots:
            try:
                f = await self.source.download(v, a)
            except ChecksumMismatch as exc:
                bad.append((a, exc))
                return
        files.append(f)
        stats.downloads += 1
        stats.bytes_downloaded += f.size
        if self.progress is not None:
            self.progress.add_bytes(f.size)
        crash_point("download")

    def _after_publish(self, v: ClaimedVersion, statuses: Mapping[int, str]) -> VersionResult:
        values = list(statuses.values())
        if st.CONFLICT in values:
            return VersionResult(v.id, st.CONFLICT,
                                 "the target holds different bytes for "
                                 + ", ".join(a.filename for a in v.assets
                                             if statuses[a.id] == st.CONFLICT))
        missing = [a.filename for a in v.assets if statuses[a.id] not in ON_TARGET]
        if missing:
            exc = TargetError(f"the publisher reported nothing for {', '.join(missing)}")
            return self._failed(v, exc, Stats())
        if values and all(s == st.SKIPPED_IDENTICAL for s in values):
            return VersionResult(v.id, st.SKIPPED_IDENTICAL)
        return VersionResult(v.id, st.PUBLISHED,
                             retry_at=self.clock() + self.options.verify_after)

    # -- verify ------------------------------------------------------------------------------

    async def _poll(self, v: ClaimedVersion, ready: Callable[[VersionCheck], bool],
                    timeout: float) -> VersionCheck:
        """CodeArtifact's facts, polled with back-off until `ready` or `timeout`."""
        deadline = anyio.current_time() + timeout
        wait = self.options.verify_first_wait
        while True:
            check = await self.target.check_version(v)
            if ready(check) or anyio.current_time() + wait > deadline:
                return check
            await self.sleep(wait)
            wait = min(wait * 2, 5.0)

    async def _verify(self, v: ClaimedVersion, stats: Stats) -> VersionResult:
        if any(a.status in _TODO for a in v.assets):
            # A sync found a new file in this version: publish it first.
            return VersionResult(v.id, st.DISCOVERED, "new files to publish")
        expected = expected_assets(v)
        check = await self._poll(v, lambda c: verify_version(v, c, expected).complete,
                                 self.options.verify_timeout)
        crash_point("verify")
        verdict = verify_version(v, check, expected)
        if not verdict.complete:
            exc = TargetError(f"not verifiable yet after {self.options.verify_timeout:.0f} s "
                              f"of polling: {'; '.join(verdict.messages())}")
            return self._failed(v, exc, stats)
        updates: list[AssetUpdate] = []
        for a in expected:
            target = verdict.target_hashes.get(a.id)
            problem = verdict.asset_problems.get(a.id)
            if problem:
                updates.append(AssetUpdate(a.id, st.CONFLICT, problem, target=target))
            else:
                updates.append(AssetUpdate(
                    a.id, st.VERIFIED if a.status == st.PUBLISHED else a.status, None,
                    target=target))
        if not verdict.ok:
            stats.conflicts += 1
            return VersionResult(v.id, st.CONFLICT, "; ".join(verdict.messages()), None,
                                 updates)
        stats.verified += sum(1 for u in updates if u.status == st.VERIFIED)
        return VersionResult(v.id, st.VERIFIED, None, None, updates)

    # -- pre-warm ----------------------------------------------------------------------------

    async def _prewarm(self, v: ClaimedVersion, stats: Stats) -> VersionResult:
        todo = [a for a in v.assets if a.status in (*_TODO, st.REQUESTED)]
        fresh = v.claimed_from != st.REQUESTED
        if fresh:
            missing: list[tuple[ClaimedAsset, NotFound]] = []
            for a in todo:
                try:
                    await self.target.request_asset(v, a)
                except NotFound as exc:
                    missing.append((a, exc))
                    continue
                crash_point("requested")  # fetched through the upstream, not yet recorded
                if a.status != st.REQUESTED:
                    await self._record(AssetUpdate(a.id, st.REQUESTED), wait=False)
                    stats.requested += 1
            if missing and len(missing) == len(todo):
                return await self._not_upstream(v, todo, missing[0][1], stats)
            for a, exc in missing:
                # other files of the version came through: only this one is not upstream
                # (a lockfile-guessed jar of a POM-only module is no problem at all)
                optional = bool(a.extra.get("optional"))
                await self._record(AssetUpdate(
                    a.id, st.EXCLUDED if optional else st.NOT_FOUND_UPSTREAM,
                    f"not found upstream: {describe(exc)}"
                    + (" (a POM-only module has no jar)" if optional else "")), wait=False)
            gone = {m.id for m, _ in missing}
            todo = [a for a in todo if a.id not in gone]
        if v.claimed_from in (st.DISCOVERED,):
            # Ingestion is asynchronous (about 3 minutes on AWS): confirm in a later claim.
            first = min(self.options.confirm_timeout, 1.0)
            return VersionResult(v.id, st.REQUESTED, None, self.clock() + first)

        def ingested(c: VersionCheck) -> bool:
            return c.status is not None and c.origin is not None

        check = await self._poll(v, ingested, self.options.confirm_timeout)
        if not ingested(check):
            exc = TargetError("not ingested from the upstream yet (no version in the target "
                              "repository after polling)")
            return self._failed(v, exc, stats, [a.id for a in todo])
        if check.origin != "EXTERNAL":
            reason = (f"origin is {check.origin}: the target holds an internal version of "
                      "this public package, so it was not ingested from the upstream")
            stats.permanent += 1
            return VersionResult(v.id, st.BLOCKED_BY_ORIGIN_CONTROL, reason, None,
                                 [AssetUpdate(a.id, st.BLOCKED_BY_ORIGIN_CONTROL, reason)
                                  for a in todo])
        updates = []
        mismatched = []
        for a in todo:
            target = normal_hashes(check.assets.get(asset_name(v, a)))
            # The hashes a lockfile (or the proxy cache's listing) pinned must be what
            # CodeArtifact ingested: a different file under the same name is never "done".
            same, why = compare_hashes(a.source_hashes, target)
            if same is False:
                mismatched.append(a.filename)
                updates.append(AssetUpdate(a.id, st.FAILED_PERMANENT,
                                           f"{a.filename}: CodeArtifact ingested other bytes "
                                           f"than the lockfile pins: {why}", target=target))
            else:
                updates.append(AssetUpdate(a.id, st.INGESTED, None, target=target or None))
        if mismatched:
            stats.permanent += 1
            return VersionResult(v.id, st.FAILED_PERMANENT,
                                 f"hashes differ from the pinned ones: {', '.join(mismatched)}",
                                 None, updates)
        stats.ingested += len(updates)
        return VersionResult(v.id, st.INGESTED, None, None, updates)

    async def _not_upstream(self, v: ClaimedVersion, todo: Sequence[ClaimedAsset],
                            exc: NotFound, stats: Stats) -> VersionResult:
        """A 404 for a pre-warm GET: the target's origin controls refuse the upstream
        (blocked_by_origin_control), or the public registry has no such file
        (not_found_upstream). Both final; nothing was ingested."""
        refusal = await self.target.upstream_refusal(v)
        status = st.BLOCKED_BY_ORIGIN_CONTROL if refusal else st.NOT_FOUND_UPSTREAM
        reason = refusal or (f"not found upstream: {describe(exc)} (the public registry "
                             "behind the external connection does not have it)")
        stats.permanent += 1
        logger.warning("%s: %s", v.display, reason)
        return VersionResult(v.id, status, reason, None,
                             [AssetUpdate(a.id, status, reason) for a in todo])
