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
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import anyio

from migrator.crashpoints import crash_point
from migrator.errors import ConfigError, Interrupted, MigratorError
from migrator.manifest import Manifest, load_manifest
from migrator.models import Format, RepoType, SourceRepository
from migrator.pipeline.engine import Engine
from migrator.pipeline.finalize import finalize_npm
from migrator.pipeline.options import EngineOptions
from migrator.pipeline.plan import (
    changed_sections,
    needs_replan,
    plan,
    remember_manifest,
    stored_manifest,
)
from migrator.pipeline.preflight import ensure_ready
from migrator.pipeline.progress import Progress
from migrator.pipeline.spool import run_spool
from migrator.pipeline.stats import RunSummary, summarise
from migrator.sources.access import SourceAccess
from migrator.state import WorkQueue, default_owner
from migrator.state import status as st
from migrator.target.access import TargetAccess

__all__ = ["RETRYABLE", "read_failed_csv", "requeue_listed", "resume", "retry", "run",
           "run_only_failed"]

logger = logging.getLogger(__name__)

TargetFactory = Callable[[Manifest, SourceAccess], TargetAccess]
#: What `migrator retry` may send back to the queue.
RETRYABLE = (st.FAILED_PERMANENT, st.CONFLICT)


def run(manifest: Manifest | str | Path, state_path: str | Path | None = None, *,
        stage: int | None = None, progress: bool = True,
        target_factory: TargetFactory | None = None,
        engine_overrides: dict[str, Any] | None = None,
        check_first: bool = True) -> RunSummary:
    """Preflight, then plan (if needed), transfer, verify and finalize everything the
    manifest maps. `check_first=False` skips the preflight (tests with injected targets).

    :raises PreflightFailed: (exit 2) a system, credential or mapping is not ready.
    :raises ConfigError: missing credentials variables. :raises StateError: state in use.
    :raises Interrupted: SIGINT/SIGTERM (resumable). :raises SourceAuthError, TargetAuthError.
    """
    m = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
    return _run(m, Path(state_path) if state_path else m.state_path, "run", stage=stage,
                progress=progress, target_factory=target_factory,
                engine_overrides=engine_overrides, check_first=check_first)


def resume(state_path: str | Path, manifest: Manifest | None = None, *,
           stage: int | None = None, progress: bool = True,
           target_factory: TargetFactory | None = None,
           engine_overrides: dict[str, Any] | None = None,
           check_first: bool = True) -> RunSummary:
    """Continue a run; same result as `run`. With `manifest`, that manifest is applied (the
    fix of a wrong domain or variable name is picked up; the source is crawled again only
    when the mappings changed); without it, the copy stored in the state is used.

    :raises StateError: no state, or a state that `plan` never wrote a manifest into.
    """
    p = Path(state_path)
    with WorkQueue.open(p, create=False) as q:
        stored = stored_manifest(q)
    m = manifest or stored
    differs = changed_sections(stored, m)
    if differs:
        logger.warning("resume: %s of %s differ from the copy in the state: applying them%s",
                       ", ".join(differs), m.path,
                       " (the mappings changed: the source is crawled again)"
                       if needs_replan(stored, m) else "")
    return _run(m, p, "resume", stage=stage, progress=progress, target_factory=target_factory,
                engine_overrides=engine_overrides, check_first=check_first)


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


def read_failed_csv(path: str | Path) -> list[tuple[str, str]]:
    """The (repository, path) of every row of a CSV written by `migrator report --format csv`
    (any CSV with `repository` and `path` columns).

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
            return [(row["repository"], row["path"]) for row in reader
                    if row.get("repository") and row.get("path")]
    except OSError as exc:
        raise ConfigError(f"--only-failed {p}: {exc.strerror}") from None


def requeue_listed(state_path: str | Path, items: Sequence[tuple[str, str]]) -> list[int]:
    """Send the package versions holding these (repository, path) assets back to the queue
    (failed and conflicting ones; the rest are left as they are); returns their ids.

    :raises ConfigError: an item the state does not hold.
    """
    with WorkQueue.open(state_path, create=False, lock_for="retry") as q:
        found, missing = q.version_ids_of(items)
        if missing:
            shown = ", ".join(f"{r}/{p}" for r, p in missing[:5])
            raise ConfigError(f"--only-failed: {len(missing)} row(s) not in the state: {shown}",
                              hint="use the CSV of a report of this state")
        return q.requeue_versions(sorted(found))


def run_only_failed(manifest: Manifest | str | Path, failed_csv: str | Path,
                    state_path: str | Path | None = None, *, stage: int | None = None,
                    progress: bool = True, target_factory: TargetFactory | None = None,
                    check_first: bool = True) -> RunSummary:
    """`migrator run MANIFEST --only-failed FILE.csv`: requeue exactly the versions of the
    CSV's rows (a report's problems), list the source again (a requeued file's checksums are
    read anew, so a checksum fixed at the source is seen; like any sync, files new at the
    source are queued too) and run; what is done stays done.

    :raises ConfigError: a bad CSV or rows the state does not hold. As `run` otherwise.
    """
    m = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
    p = Path(state_path) if state_path else m.state_path
    items = read_failed_csv(failed_csv)
    ids = requeue_listed(p, items)
    logger.info("--only-failed: %d row(s), %d package version(s) back in the queue",
                len(items), len(ids))
    return _run(m, p, "run", stage=stage, progress=progress, target_factory=target_factory,
                check_first=check_first, relist=True)


def _run(m: Manifest, state_path: Path, command: str, *, check_first: bool = True,
         **kw: Any) -> RunSummary:
    m.require_credentials()
    with WorkQueue.open(state_path, lock_for=command) as q, _sigterm_interrupts(), \
            run_spool(m, q, command=command) as spool:
        # Under the lock: the spool folders of dead runs of this state are gone; this run's
        # own one (`options.spool_dir`, default spool/ beside the state) goes when it ends.
        run_id = q.start_run(command)
        code = 2
        try:
            if check_first:
                # Both systems, the credentials and every mapping, in seconds, once the state
                # is known to be usable and before anything is crawled or written: a wrong
                # domain is one line and exit 2, not a thousand failed assets.
                ensure_ready(m, stage=kw.get("stage"))
            summary = anyio.run(_run_async, m, q, {**kw, "spool": spool.path})
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


async def _run_async(m: Manifest, q: WorkQueue, kw: dict[str, Any]) -> RunSummary:
    started = time.monotonic()
    previous = stored_manifest(q) if q.get_meta("manifest") else None
    remember_manifest(q, m)
    planned = None
    if previous is None or needs_replan(previous, m) or q.needs_plan() or kw.get("relist"):
        # No completed crawl, or mappings other than the ones last planned (a new mapping,
        # other globs): crawl, which also resumes an interrupted crawl.
        logger.info("crawling the source into the state (plan)")
        planned = await plan(m, q, on_page=lambda *_: crash_point("crawl"))
        planned.raise_for_mapping_errors(m)
    stage = kw.get("stage")
    if stage is not None and not q.repository_ids(stage=stage):
        stages = sorted({r.stage for r in m.repositories})
        raise ConfigError(f"--stage {stage} selects no repository: the stages in {m.path} "
                          f"are {', '.join(map(str, stages))}",
                          hint="pass one of them (a run takes the stages up to the one given)")
    _release_stale_claims(q)
    repos = {r["source"]: SourceRepository(name=r["source"], format=Format(r["format"]),
                                           type=RepoType(r["repo_type"]))
             for r in q.repositories()}
    source = SourceAccess.from_manifest(m, repos, spool_dir=kw["spool"])
    factory = kw.get("target_factory") or _codeartifact
    target = factory(m, source)
    options = EngineOptions.from_manifest(m, stage=kw.get("stage"),
                                          **(kw.get("engine_overrides") or {}))
    engine = Engine(q, source=source, target=target, options=options, owner=default_owner())
    show = kw.get("progress", True)
    to_publish, to_verify = q.todo_counts(engine.repository_ids)
    bar = Progress(to_publish, to_verify, enabled=show, writes_per_second=m.options.rate_budget)
    engine.progress = bar
    interrupted = False
    finalize: dict[str, Any] = {}
    try:
        with _quiet_logs(show):
            try:
                await engine.run()
            except Interrupted:
                interrupted = True
            if not interrupted:
                finalize = await finalize_npm(q, target, engine.repository_ids)
    finally:
        bar.close()
        await target.aclose()
        await source.aclose()
    summary = summarise(q, engine.repository_ids, engine.stats,
                        elapsed=time.monotonic() - started, interrupted=interrupted,
                        finalize=finalize)
    if planned is not None and not interrupted:
        # The others are migrated; the repositories whose listing failed are named (exit 1).
        planned.raise_for_crawl_failures()
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


def _codeartifact(m: Manifest, source: SourceAccess) -> TargetAccess:
    from migrator.target.access import CodeArtifactTarget

    return CodeArtifactTarget.from_manifest(m, source)


def _quiet_logs(enabled: bool) -> AbstractContextManager[Any]:
    if not enabled:
        return nullcontext()
    from tqdm.contrib.logging import logging_redirect_tqdm

    return logging_redirect_tqdm()
