"""Library entry points of a migration run: `run`, `resume` and `retry`.

    run(manifest, state_path=None, *, stage=None, progress=True) -> RunSummary
        plan (when the state holds no completed crawl, or another manifest) + transfer +
        verify + finalize
    resume(state_path, *, progress=True) -> RunSummary
        the same from the state alone (the manifest `plan` stored in it)
    retry(state_path, statuses, *, repository=None) -> int
        failed or conflicting versions back to the queue

`run` and `resume` hold the state's run lock, are safe to repeat (a second run finds nothing to
do), and raise `Interrupted` (exit code 3) after SIGINT/SIGTERM once the work in flight is
finished or given back. The summary's `exit_code` is 0 (everything verified/identical/
ingested), or 1 (failures, conflicts, or retries still waiting).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

import anyio

from migrator.crashpoints import crash_point
from migrator.errors import FATAL_ERRORS, ConfigError, Interrupted, MigratorError, first_error
from migrator.manifest import Manifest, load_manifest, parse_stage, stage_label
from migrator.models import Format, RepoType, Shard, SourceRepository
from migrator.pipeline.engine import Engine
from migrator.pipeline.finalize import FinalizeAsSettled, finalize_npm
from migrator.pipeline.options import EngineOptions
from migrator.pipeline.plan import (
    PlanSummary,
    changed_sections,
    needs_replan,
    plan,
    remember_manifest,
    stored_manifest,
)
from migrator.pipeline.preflight import ensure_ready_async
from migrator.pipeline.progress import Progress
from migrator.pipeline.shard import bind_shard, owns_row, recorded_shard, with_rate_share
from migrator.pipeline.spool import run_spool
from migrator.pipeline.statefile import (
    StateLocation,
    locate_state,
    open_state,
    read_remote,
    state_file,
)
from migrator.pipeline.stats import RunSummary, Sampler, Sampling, summarise
from migrator.sources.access import SourceAccess
from migrator.state import WorkQueue, default_owner
from migrator.state import status as st
from migrator.target.access import TargetAccess

__all__ = ["RETRYABLE", "behind_preflight", "read_failed_csv", "requeue_listed", "resume",
           "retry", "run", "run_only_failed"]

logger = logging.getLogger(__name__)

TargetFactory = Callable[[Manifest, SourceAccess], TargetAccess]
T = TypeVar("T")
#: What `migrator retry` may send back to the queue.
RETRYABLE = (st.FAILED_PERMANENT, st.CONFLICT, *st.PREWARM_REFUSALS)


def run(manifest: Manifest | str | Path, state_path: str | Path | None = None, *,
        stage: int | str | None = None, progress: bool = True,
        target_factory: TargetFactory | None = None,
        engine_overrides: dict[str, Any] | None = None,
        check_first: bool = True, shard: Shard | None = None,
        rate_share: float | None = None) -> RunSummary:
    """Preflight, then plan (if needed), transfer, verify and finalize everything the
    manifest maps. `check_first=False` skips the preflight (tests with injected targets).
    `state_path` may be an s3:// URL; `shard` migrates only that shard's packages, in its
    own state, at `rate_share` writes/s (default: `rate_budget / N`).

    :raises PreflightFailed: (exit 2) a system, credential or mapping is not ready.
    :raises ConfigError: missing credentials variables. :raises StateError: state in use.
    :raises Interrupted: SIGINT/SIGTERM (resumable). :raises SourceAuthError, TargetAuthError.
    """
    m = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
    return _run(m, locate_state(m, state_path, shard), "run", stage=stage,
                progress=progress, target_factory=target_factory,
                engine_overrides=engine_overrides, check_first=check_first, shard=shard,
                rate_share=rate_share)


def resume(state_path: str | Path | None, manifest: Manifest | None = None, *,
           stage: int | str | None = None, progress: bool = True,
           target_factory: TargetFactory | None = None,
           engine_overrides: dict[str, Any] | None = None,
           check_first: bool = True, shard: Shard | None = None,
           rate_share: float | None = None) -> RunSummary:
    """Continue a run; same result as `run`. With `manifest`, that manifest is applied (the
    fix of a wrong domain or variable name is picked up; the source is crawled again only
    when the mappings changed); without it, the copy stored in the state is used.

    :raises StateError: no state, or a state that `plan` never wrote a manifest into.
    """
    loc = locate_state(manifest, state_path, shard)
    p = read_remote(loc.remote, manifest) if loc.remote else loc.local
    try:
        with WorkQueue.open(p, create=False) as q:
            stored = stored_manifest(q)
    finally:
        if loc.remote:  # a temporary copy: the run restores its own under the lease
            import shutil

            shutil.rmtree(p.parent, ignore_errors=True)
    m = manifest or stored
    differs = changed_sections(stored, m)
    if differs:
        logger.warning("resume: %s of %s differ from the copy in the state: applying them%s",
                       ", ".join(differs), m.path,
                       " (the mappings changed: the source is crawled again)"
                       if needs_replan(stored, m) else "")
    return _run(m, loc, "resume", stage=stage, progress=progress,
                target_factory=target_factory, engine_overrides=engine_overrides,
                check_first=check_first, shard=shard, rate_share=rate_share)


def retry(state_path: str | Path, statuses: Sequence[str] = (st.FAILED_PERMANENT,), *,
          repository: str | None = None) -> int:
    """Send versions in `statuses` (failed_permanent, conflict) back to the queue; returns
    how many.

    :raises ConfigError: a status that cannot be retried, or a repository not in the state.
    """
    for s in statuses:
        if s not in RETRYABLE:
            raise ConfigError(f"--status {s}: only {' and '.join(RETRYABLE)} can be retried",
                              hint="verified and excluded items are not problems to retry")
    with WorkQueue.open(state_path, create=False, lock_for="retry") as q:
        if repository and repository not in {r["source"] for r in q.repositories()}:
            raise ConfigError(f"--repository {repository}: not in this state",
                              hint="`migrator status` lists the repositories")
        return q.requeue(list(statuses), repository=repository)


def read_failed_csv(path: str | Path) -> list[dict[str, str]]:
    """The rows of a CSV written by `migrator report --format csv` (any CSV with `repository`
    and `path` columns; `format` and `package` tell a row's shard).

    :raises ConfigError: unreadable, or without those columns.
    """
    import csv

    p = Path(path)
    try:
        with p.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"repository", "path"} <= set(reader.fieldnames):
                raise ConfigError(f"--only-failed {p}: no 'repository' and 'path' columns",
                                  hint="pass the CSV `migrator report --format csv` writes")
            return [{k: row.get(k) or "" for k in ("repository", "path", "format", "package")}
                    for row in reader if row.get("repository") and row.get("path")]
    except OSError as exc:
        raise ConfigError(f"--only-failed {p}: {exc.strerror}") from None


def requeue_listed(state_path: str | Path, rows: Sequence[dict[str, str]],
                   shard: Shard | None = None) -> tuple[list[int], int]:
    """Send the package versions holding these rows' (repository, path) assets back to the
    queue (failed and conflicting ones; the rest are left as they are). Returns their ids
    and how many rows belong to other shards than the state's (`shard`, or the one the
    state records): skipped, so one merged report's CSV can be given to every shard.

    :raises ConfigError: a row of this shard (or of an unsharded state) the state does not
        hold; the state belongs to another shard than `shard`.
    """
    with WorkQueue.open(state_path, create=False, lock_for="retry") as q:
        mine = bind_shard(q, shard)
        found, missing = q.version_ids_of([(r["repository"], r["path"]) for r in rows])
        if mine is not None:
            by_key = {(r["repository"], r["path"]): r for r in rows}
            others = [k for k in missing if not owns_row(mine, **by_key[k])]
            missing = [k for k in missing if k not in set(others)]
        else:
            others = []
        if missing:
            shown = ", ".join(f"{r}/{p}" for r, p in missing[:5])
            raise ConfigError(f"--only-failed: {len(missing)} row(s) not in the state: {shown}",
                              hint="use the CSV of a report of this state (or of the merged "
                              "report of its shards)")
        return q.requeue_versions(sorted(found)), len(others)


def run_only_failed(manifest: Manifest | str | Path, failed_csv: str | Path,
                    state_path: str | Path | None = None, *, stage: int | str | None = None,
                    progress: bool = True, target_factory: TargetFactory | None = None,
                    check_first: bool = True, shard: Shard | None = None,
                    rate_share: float | None = None) -> RunSummary:
    """`migrator run MANIFEST --only-failed FILE.csv`: requeue exactly the versions of the
    CSV's rows (a report's problems), list the source again (a requeued file's checksums are
    read anew, so a checksum fixed at the source is seen; like any sync, files new at the
    source are queued too) and run; what is done stays done. The state is any `run` takes
    (an s3:// one under its lease); with `shard` (or a shard's state) the rows of other
    shards are skipped and counted.

    :raises ConfigError: a bad CSV or rows the state does not hold. As `run` otherwise.
    """
    m = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
    locate_state(m, state_path, shard)  # a malformed --state is named before the CSV
    rows = read_failed_csv(failed_csv)
    # The requeue is saved (an S3 state: under its lease) before the run takes the state.
    with state_file(m, state_path, command="run --only-failed", writes=True,
                    shard=shard) as sf:
        ids, others = requeue_listed(sf.path, rows, shard)
    logger.info("--only-failed: %d row(s), %d package version(s) back in the queue",
                len(rows) - others, len(ids))
    if others:
        logger.warning("--only-failed: %d row(s) belong to other shards (skipped here)",
                       others)
    return _run(m, sf.location, "run", stage=stage, progress=progress,
                target_factory=target_factory, check_first=check_first, relist=True,
                shard=shard, rate_share=rate_share)


def _run(m: Manifest, loc: StateLocation, command: str, *, check_first: bool = True,
         shard: Shard | None = None, rate_share: float | None = None,
         **kw: Any) -> RunSummary:
    m.require_credentials()
    kw["stage"] = parse_stage(kw.get("stage"))  # "2" on a command line is the number 2
    if kw.get("only_prewarm") or m.prewarm.in_run:
        from migrator.pipeline.prewarm import check_lockfiles

        # a missing or unreadable lockfile is exit 2 before anything is crawled or requested
        check_lockfiles(m, kw.get("lockfiles", ()))
    with open_state(loc, command=command, shard=shard, manifest=m) as q, \
            _sigterm_interrupts(), run_spool(m, q, command=command) as spool:
        # A shard's state (also one resumed without --shard) runs at its share of the budget.
        m = with_rate_share(m, recorded_shard(q), rate_share)
        # Under the lock: the spool folders of dead runs of this state are gone; this run's
        # own one (`options.spool_dir`, default spool/ beside the state) goes when it ends.
        run_id = q.start_run(command)
        if not q.get_meta("manifest"):
            # A new state holds its manifest from the start: a job killed during the
            # preflight is resumed by `resume --state` on another machine with no manifest.
            remember_manifest(q, m)
        code = 2
        try:
            # Whether the run crawls first, decided once (plan_if_needed acts on it).
            kw = {**kw, "spool": spool.path, "run_id": run_id,
                  "replan": _needs_plan(m, q, bool(kw.get("relist")))}
            if check_first:
                # Both systems, the credentials and every mapping, in seconds, once the state
                # is known to be usable and before anything is written: a wrong domain is one
                # line and exit 2, not a thousand failed assets. It runs beside the start of
                # the run, which only reads until the checks have passed (_PreflightGate).
                # The source's read-coverage caveats concern a crawl: a run that does not
                # crawl (the state holds a finished one) logs them below warning level.
                crawls = kw.get("crawl") is not None or kw["replan"]
                kw["preflight"] = lambda: ensure_ready_async(m, stage=kw.get("stage"),
                                                             crawling=crawls)
            summary = anyio.run(_run_async, m, q, kw)
            code = summary.exit_code
            return summary
        except KeyboardInterrupt:
            # A signal before the transfer loop took over signal handling (during the crawl):
            # every crawled page is saved, the plan resumes from its cursor.
            code = 3
            raise Interrupted("interrupted while crawling the source; every page recorded "
                              "is saved", hint="run `migrator resume` to continue") from None
        except MigratorError as exc:
            code = exc.exit_code
            raise
        finally:
            q.finish_run(run_id, code)


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM behaves like SIGINT (KeyboardInterrupt) outside the transfer loop, which
    installs its own handlers for both while it runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


async def plan_if_needed(m: Manifest, q: WorkQueue, relist: bool = False,
                         crawl: Any = None, replan: bool | None = None) -> PlanSummary | None:
    """Crawl the source into the state unless it holds a finished crawl of these mappings;
    the plan's summary when it crawled (its listing failures are raised after the run).
    `replan`: `_needs_plan`'s answer when the caller already asked it."""
    if replan is None:
        replan = _needs_plan(m, q, relist)
    remember_manifest(q, m)
    planned = None
    if crawl is not None:
        # `migrator sync`: its own listing, compared with the state (migrator.pipeline.sync).
        await crawl(m, q)
    elif replan:
        logger.info("crawling the source into the state (plan)")
        planned = await plan(m, q, on_page=lambda *_: crash_point("crawl"))
        planned.raise_for_mapping_errors(m)
    return planned


def _needs_plan(m: Manifest, q: WorkQueue, relist: bool = False) -> bool:
    """No completed crawl, or mappings other than the ones last planned (a new mapping,
    other globs): the run crawls first (which also resumes an interrupted crawl)."""
    previous = stored_manifest(q) if q.get_meta("manifest") else None
    return previous is None or needs_replan(previous, m) or q.needs_plan() or relist


class _PreflightGate:
    """The preflight, run beside the read-only start of a run (the crawl when one is needed,
    the clients, the dependency-confusion look-ups, the token and the endpoints), so the
    first write waits for the slower of the two instead of their sum. `passed()` comes
    before anything is written; a failed preflight cancels the run and is what the run
    raises (exit 2), also when the start failed first: a wrong domain explains the look-up
    that failed."""

    def __init__(self, check: Callable[[], Any] | None) -> None:
        self.check = check
        self.error: BaseException | None = None
        self._done = anyio.Event()
        if check is None:
            self._done.set()

    async def run(self, scope: anyio.CancelScope) -> None:
        assert self.check is not None
        try:
            await self.check()
        except Exception as exc:
            self.error = exc
            scope.cancel()
        finally:
            self._done.set()

    async def done(self) -> None:
        await self._done.wait()

    async def passed(self) -> None:
        await self._done.wait()
        if self.error is not None:
            raise self.error


async def _run_async(m: Manifest, q: WorkQueue, kw: dict[str, Any]) -> RunSummary:
    return await behind_preflight(kw.pop("preflight", None),
                                  lambda gate: _transfer(m, q, kw, gate))


async def behind_preflight(check: Callable[[], Awaitable[Any]] | None,
                           body: Callable[[_PreflightGate], Awaitable[T]]) -> T:
    """`body(gate)` with `check` (the preflight) running beside it; `body` awaits
    `gate.passed()` before its first write. Raises what the check raised when it failed
    (also when the body failed first, or is cancelled for it), else what the body raised."""
    gate = _PreflightGate(check)
    if check is None:
        return await body(gate)
    result: list[T] = []
    failure: MigratorError | None = None
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(gate.run, tg.cancel_scope)
            await anyio.sleep(0)  # its requests go out first, before the body's own set-up
            try:
                result.append(await body(gate))
            except MigratorError as exc:
                failure = exc  # raised below, out of the task group (which would wrap it)
            await gate.done()
    except BaseExceptionGroup as group:
        # A signal (SIGINT, SIGTERM, a lost lease: KeyboardInterrupt) during the start, or
        # an unexpected error: raised as itself, for the caller's handlers, never as a group.
        raise first_error(group, prefer=(KeyboardInterrupt, *FATAL_ERRORS)) from None
    if gate.error is not None:  # its failure is the one to report (the body may have been
        raise gate.error        # cancelled for it, or failed on what the check found)
    if failure is not None:
        raise failure
    return result[0]


async def _transfer(m: Manifest, q: WorkQueue, kw: dict[str, Any],
                    gate: _PreflightGate) -> RunSummary:
    started = time.monotonic()
    planned = await plan_if_needed(m, q, relist=bool(kw.get("relist")), crawl=kw.get("crawl"),
                                   replan=kw.get("replan"))
    stage = kw.get("stage")
    if stage is not None and not q.repository_ids(stage=stage):
        raise ConfigError(f"--stage {stage} selects no repository: the stages in {m.path} "
                          f"are {stage_label(r.stage for r in m.repositories)}",
                          hint="pass one of them (a run takes the one wave given)")
    _release_stale_claims(q)
    repos = {r["source"]: SourceRepository(name=r["source"], format=Format(r["format"]),
                                           type=RepoType(r["repo_type"]))
             for r in q.repositories()}
    source = SourceAccess.from_manifest(m, repos, spool_dir=kw["spool"])
    factory = kw.get("target_factory") or _codeartifact
    target = factory(m, source)
    options = EngineOptions.from_manifest(m, stage=kw.get("stage"),
                                          **(kw.get("engine_overrides") or {}))
    if kw.get("only_prewarm") or m.prewarm.in_run:
        from migrator.pipeline.prewarm import queue_lockfiles

        # Before the dependency-confusion check: the order it plans covers these names too.
        items = await queue_lockfiles(m, q, target, kw.get("lockfiles", ()))
        kw.get("collect", {})["lockfiles"] = items
    client = getattr(target, "client", None)
    exposed: set[tuple[str | None, str, str, str]] | None = None
    if getattr(client, "is_codeartifact", False):
        # Before the first internal version: the namespaces' package groups, and which
        # internal names a public registry also offers (kept in the state for the report).
        from migrator.pipeline.confusion import check, protect_namespaces

        # The check comes first: a group blocking external upstreams hides the public names
        # it covers from any look-up through CodeArtifact. The token and the endpoints the
        # publishers need are fetched meanwhile.
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.warm_up, _native_needs(q))
            report = await check(m, q, client)
        for f in report.findings:
            logger.log(logging.INFO if f.protected else logging.WARNING,
                       "dependency confusion: %s (%s) also in %s: %s", f.display,
                       f.repository, f.connection, f.protection)
        await gate.passed()  # the first write follows
        for line in await protect_namespaces(m, client):
            logger.info("dependency confusion: %s", line)
        # the public names: their packages get origin control written before the first
        # publish; the others are left to CodeArtifact's default (Engine._protect_origin)
        exposed = report.exposed()
    await gate.passed()  # nothing is written before the preflight has passed
    engine = Engine(q, source=source, target=target, options=options, owner=default_owner())
    engine.exposed = exposed
    # -- pre-warm from lockfiles (`migrator prewarm`, or `[prewarm] in_run = true`) ----------
    if kw.get("only_prewarm") or m.prewarm.in_run:
        from migrator.pipeline.prewarm import prewarm_repository_ids

        engine.repository_ids = q.repository_ids(stage=kw.get("stage"))
        if kw.get("only_prewarm"):
            engine.repository_ids = prewarm_repository_ids(q, engine.repository_ids)
    show = kw.get("progress", True)
    to_publish, to_verify = q.todo_counts(engine.repository_ids)
    bar = Progress(to_publish, to_verify, enabled=show, writes_per_second=m.options.rate_budget)
    # Samples of this run's work for `migrator status` in another terminal, recorded by the
    # writer as it commits facts (the first one now, the last when the run ends).
    sampler = Sampler(q, kw.get("run_id"), limits=_rate_limits(target),
                      budget=m.options.rate_budget)
    sampler.maybe_record()
    bar = Sampling(bar, sampler)
    engine.progress = bar
    interrupted = False
    finalize: dict[str, Any] = {}
    # npm packages whose versions are all settled get their dist-tags while the run goes on
    eager = FinalizeAsSettled(q, target, engine.repository_ids)
    try:
        with _quiet_logs(show):
            try:
                from migrator.pipeline.prewarm import prewarm_before_publish

                # The public versions of internal names first, where both were asked for.
                kw.get("collect", {})["ordering"] = await prewarm_before_publish(
                    m, q, engine, publish=not kw.get("only_prewarm"))
                engine.on_settled = eager.settled
                try:
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(eager.run)
                        try:
                            await engine.run()
                        except BaseException:
                            # Interrupted or failed: no restore is waited for (one cut off
                            # is done again by the next run; tags are plain PUTs).
                            tg.cancel_scope.cancel()
                            raise
                        finally:
                            eager.stop()
                except BaseExceptionGroup as group:
                    raise first_error(group) from None
            except Interrupted:
                interrupted = True
            if not interrupted:
                closing = await finalize_npm(q, target, engine.repository_ids)
                finalize = dict(sorted({**eager.results, **closing}.items()))
                if kw.get("after") is not None:  # sync: npm metadata changed at the source
                    await kw["after"](q, source, target, engine.repository_ids)
    finally:
        bar.close()
        await target.aclose()
        await source.aclose()
    summary = summarise(q, engine.repository_ids, engine.stats,
                        elapsed=time.monotonic() - started, interrupted=interrupted,
                        finalize=finalize)
    if planned is not None:
        # The others are migrated; the summary names the repositories whose listing failed
        # (exit 1), so what did migrate is still reported.
        summary.crawl_failures = list(planned.crawl_failures)
    if interrupted:
        raise Interrupted(
            f"interrupted after {engine.stats.published} published and "
            f"{engine.stats.verified} verified assets; the state is saved",
            hint="run `migrator resume` (or the same `migrator run`) to continue")
    return summary


def _release_stale_claims(q: WorkQueue) -> None:
    """Give back claims of earlier processes on this state at once.

    We hold the state's exclusive run lock, so no other process works on it: whoever holds a
    claim died (kill -9, a crash, a lost machine) and waiting for its lease to expire would
    only delay the resume. Their recorded facts stay; their attempts are refunded.
    """
    for owner in q.claim_owners():
        n = q.release(owner)
        logger.info("gave back %d claim(s) of %s, which is no longer running", n, owner)


def _rate_limits(target: TargetAccess) -> Any:
    """The target client's `RateLimits` (requests, 429s, the adaptive pace), or None for a target
    without them (test doubles)."""
    return getattr(getattr(target, "client", None), "limits", None)


def _codeartifact(m: Manifest, source: SourceAccess) -> TargetAccess:
    from migrator.target.access import CodeArtifactTarget

    # The engine verifies every version it publishes, and the verification completes a
    # version still Unfinished: no confirming read after each publish, and the look before
    # a fresh version's first upload comes from one listing per package.
    return CodeArtifactTarget.from_manifest(m, source, confirm_completion=False,
                                            first_look_from_listing=True)


def _quiet_logs(enabled: bool) -> AbstractContextManager[Any]:
    if not enabled:
        return nullcontext()
    from tqdm.contrib.logging import logging_redirect_tqdm

    return logging_redirect_tqdm()


def _native_needs(q: WorkQueue) -> list[tuple[str, str]]:
    """(target repository, format) of every mapping published or pre-warmed through a
    native endpoint (generic packages go through PublishPackageVersion)."""
    return [(r["target"], r["format"]) for r in q.repositories()
            if r["target"] and r["format"] != Format.GENERIC.value
            and r["mode"] in ("copy", "prewarm")]
