"""Library entry points of a migration run: `run` and `resume`.

    run(manifest, state_path, *, stage=None, progress=True) -> RunSummary
        plan (when the state holds no completed crawl) + transfer + verify + finalize
    resume(state_path, *, progress=True) -> RunSummary
        the same from the state alone (the manifest text `plan` stored in the state)

Both hold the state's run lock, are safe to repeat (a second run finds nothing to do), and
raise `Interrupted` (exit code 3) after SIGINT/SIGTERM once the work in flight is finished or
given back. The summary's `exit_code` is 0 (everything verified/identical/ingested), or 1
(failures, conflicts, or retries still waiting).
"""

from __future__ import annotations

import hashlib
import json
import logging
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import anyio

from migrator.errors import (
    ConfigError,
    Interrupted,
    SourceAuthError,
    StateError,
    TargetAuthError,
)
from migrator.manifest import Manifest, load_manifest, parse_manifest
from migrator.models import Format, RepoType, SourceRepository
from migrator.pipeline.engine import Engine, EngineOptions, summarise
from migrator.pipeline.support import Progress, RunSummary, TargetAccess, crash_point
from migrator.sources.download import SourceAccess
from migrator.state import WorkQueue, default_owner

__all__ = ["finalize_npm", "load_manifest_text", "resume", "run"]

logger = logging.getLogger(__name__)

TargetFactory = Callable[[Manifest, SourceAccess], TargetAccess]


def load_manifest_text(text: str, path: str | Path = "state:manifest") -> Manifest:
    """Parse the manifest `plan` stored in the state's meta.

    :raises ManifestError: as `load_manifest` does.
    """
    return parse_manifest(text, path)


def run(manifest: Manifest | str | Path, state_path: str | Path | None = None, *,
        stage: int | None = None, progress: bool = True,
        target_factory: TargetFactory | None = None,
        engine_overrides: dict[str, Any] | None = None) -> RunSummary:
    """Plan (if needed), transfer, verify and finalize everything the manifest maps.

    :raises ConfigError: missing credentials variables. :raises StateError: state in use.
    :raises Interrupted: SIGINT/SIGTERM (resumable). :raises SourceAuthError, TargetAuthError.
    """
    m = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
    return _run(m, Path(state_path) if state_path else m.state_path, "run", stage=stage,
                progress=progress, target_factory=target_factory,
                engine_overrides=engine_overrides)


def resume(state_path: str | Path, *, stage: int | None = None, progress: bool = True,
           target_factory: TargetFactory | None = None,
           engine_overrides: dict[str, Any] | None = None) -> RunSummary:
    """Continue a run from the state alone (its stored manifest); same result as `run`.

    :raises StateError: no state, or a state that `plan` never wrote a manifest into.
    """
    p = Path(state_path)
    with WorkQueue.open(p, create=False) as q:
        text = q.get_meta("manifest")
        where = q.get_meta("manifest_path") or "state:manifest"
    if not text:
        raise StateError(f"{p} holds no manifest", hint="run `migrator run MANIFEST` instead")
    m = load_manifest_text(text, where)
    return _run(m, p, "resume", stage=stage, progress=progress, target_factory=target_factory,
                engine_overrides=engine_overrides)


def _run(m: Manifest, state_path: Path, command: str, **kw: Any) -> RunSummary:
    missing = m.missing_env()
    if missing:
        raise ConfigError(f"source credentials: environment variable(s) {', '.join(missing)} "
                          "not set", hint=f"export {missing[0]}=... before running")
    with WorkQueue.open(state_path, lock_for=command) as q, _sigterm_interrupts():
        run_id = q.start_run(command)
        code = 2
        try:
            summary = anyio.run(_run_async, m, q, kw)
            code = summary.exit_code
            return summary
        except KeyboardInterrupt:
            # A signal before the transfer loop took over signal handling (during the crawl):
            # every crawled page is saved, the plan resumes from its cursor.
            code = 3
            raise Interrupted("interrupted while crawling the source; every page recorded "
                              "is saved", hint="run `migrator resume` to continue") from None
        except Interrupted:
            code = 3
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


def _needs_plan(q: WorkQueue) -> bool:
    repos = q.repositories()
    return (not repos or q.get_meta("plan.crawl_open") == "1"
            or any(r["crawl_status"] != "complete" for r in repos
                   if r["mode"] in ("copy", "prewarm")))


async def _run_async(m: Manifest, q: WorkQueue, kw: dict[str, Any]) -> RunSummary:
    from migrator.pipeline.plan import plan

    started = time.monotonic()
    changed = q.get_meta("manifest") != m.text
    if changed:
        q.set_meta("manifest", m.text)
        q.set_meta("manifest_path", str(m.path.resolve()))
    if changed or _needs_plan(q):
        # No completed crawl, or a manifest other than the one last planned (a new mapping,
        # other globs): crawl, which also resumes an interrupted crawl.
        logger.info("crawling the source into the state (plan)")
        await plan(m, q, on_page=lambda *_: crash_point("crawl"))
    _release_stale_claims(q)
    repos = {r["source"]: SourceRepository(name=r["source"], format=Format(r["format"]),
                                           type=RepoType(r["repo_type"]))
             for r in q.repositories()}
    spool = Path(tempfile.mkdtemp(prefix="migrator-spool-"))
    source = SourceAccess.from_manifest(m, repos, spool_dir=spool)
    factory = kw.get("target_factory") or _codeartifact
    target = factory(m, source)
    options = EngineOptions.from_manifest(m, stage=kw.get("stage"),
                                          **(kw.get("engine_overrides") or {}))
    engine = Engine(q, source=source, target=target, options=options, owner=default_owner())
    show = kw.get("progress", True)
    bar = Progress(_todo(q, engine.repository_ids), enabled=show)
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
        for f in spool.iterdir():
            f.unlink(missing_ok=True)
        spool.rmdir()
    summary = summarise(q, engine, elapsed=time.monotonic() - started,
                        interrupted=interrupted, finalize=finalize)
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
    owners = [row[0] for row in q.conn.execute(
        "SELECT DISTINCT lease_owner FROM versions WHERE status = 'claimed' AND "
        "lease_owner IS NOT NULL")]
    for owner in owners:
        n = q.release(owner)
        logger.info("gave back %d claim(s) of %s, which is no longer running", n, owner)


def _codeartifact(m: Manifest, source: SourceAccess) -> TargetAccess:
    from migrator.target.access import CodeArtifactTarget

    return CodeArtifactTarget.from_manifest(m, source)


def _quiet_logs(enabled: bool):
    if not enabled:
        return nullcontext()
    from tqdm.contrib.logging import logging_redirect_tqdm

    return logging_redirect_tqdm()


def _todo(q: WorkQueue, repo_ids: list[int]) -> int:
    row = q.conn.execute(
        "SELECT count(*) FROM assets a JOIN versions v ON v.id = a.version_id WHERE "
        "v.status NOT IN ('excluded', 'verified', 'skipped_identical', 'ingested', "
        "'conflict', 'failed_permanent') AND a.status != 'excluded' AND a.repository_id IN "
        "(SELECT value FROM json_each(?))", (json.dumps(repo_ids),)).fetchone()
    return int(row[0])


async def finalize_npm(q: WorkQueue, target: TargetAccess, repo_ids: list[int]
                       ) -> dict[str, Any]:
    """Restore dist-tags and deprecations once per npm package whose versions are all done.

    A package is done again (and restored again) only when its set of finished versions
    changed since the last restore (recorded in the state's meta).
    """
    out: dict[str, Any] = {}
    rows = q.conn.execute(
        "SELECT r.id, r.source, r.target, v.namespace, v.package, "
        "group_concat(v.version || ':' || v.status, ',') FROM versions v JOIN repositories r "
        "ON r.id = v.repository_id WHERE r.format = 'npm' AND r.mode = 'copy' "
        "AND v.package != '' AND r.id IN (SELECT value FROM json_each(?)) "
        "GROUP BY r.id, v.namespace, v.package HAVING sum(v.status NOT IN "
        "('verified', 'skipped_identical', 'excluded', 'conflict', 'failed_permanent')) = 0 "
        "AND sum(v.status IN ('verified', 'skipped_identical')) > 0",
        (json.dumps(repo_ids),)).fetchall()
    for rid, source, target_repo, ns, pkg, versions in rows:
        name = f"@{ns}/{pkg}" if ns else pkg
        fingerprint = hashlib.sha256(",".join(sorted(versions.split(","))).encode()).hexdigest()
        key = f"finalize.npm.{rid}.{name}"
        if q.get_meta(key) == fingerprint:
            continue
        try:
            done = await target.restore_npm(target_repo, source, name)
        except (SourceAuthError, TargetAuthError):
            raise
        except Exception as exc:  # a tag is not worth failing the run: report it
            logger.warning("%s: dist-tags of %s not restored: %s", source, name, exc)
            out[f"{source}/{name}"] = {"error": str(exc)}
            continue
        q.set_meta(key, fingerprint)
        out[f"{source}/{name}"] = dict(done)
    return out
