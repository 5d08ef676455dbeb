"""`migrator sync`: an incremental run on an existing state (a scheduled mirror sync).

    sync(manifest, state_path=None, *, stage=None, progress=True) -> SyncSummary

The same pipeline as `run` (`migrator.pipeline.run`: lock, preflight, engine, verify,
finalize), with its own listing in place of the plan's crawl:

- **Nexus** has no server-side filter, so the full `/v1/assets` listing is read, which is
  cheap: no download, no hashing; each page is compared with the state in one query
  (`migrator.state.sync.compare_page`): asset path + checksums (+ `lastModified` when no
  checksum is listed). Only new or changed files are recorded.
- **Artifactory**: AQL on `modified` since the newest modification time of the last sync
  (minus `options.sync_overlap_minutes`), plus checksums; then a paths-only AQL listing to
  see deletions. A path in it the state does not know (a file copied with an old
  `modified`) makes that repository fall back to the full listing.

A file that changed at the source after it was published is a `conflict` with both hashes:
CodeArtifact assets are immutable, so it is never overwritten. Files the source no longer
lists are `deleted_at_source`, reported and never propagated (`options.delete_policy` is
`report` only). npm dist-tags and deprecations are kept in step (added, moved, removed) for
every migrated package whose source packument changed; Maven metadata follows from
publishing the new versions (the publisher PUTs `maven-metadata.xml` with every version the
target lists). The summary's exit code: 0 (including "nothing changed"), 1 when changes could
not be applied (conflicts, failures), 3 when interrupted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio

from migrator.crashpoints import crash_point
from migrator.errors import FATAL_ERRORS, ConfigError, first_error
from migrator.manifest import Manifest, load_manifest, parse_stage
from migrator.models import DiscoveredAsset, Format, RepoType, Shard, SourceRepository
from migrator.pipeline.plan import (
    _exclude_superseded_snapshots,
    _why_not_crawled,
    exclusion,
    stored_manifest,
)
from migrator.pipeline.preflight import selected_mappings
from migrator.pipeline.run import TargetFactory, _run
from migrator.pipeline.scope import apply_scope, record_page_dates, scope_for
from migrator.pipeline.shard import owns_asset, recorded_shard
from migrator.pipeline.statefile import locate_state, read_remote
from migrator.pipeline.stats import RunSummary
from migrator.sources import Crawler, build_asset, make_crawler, utc_iso
from migrator.sources.access import SourceAccess
from migrator.state import WorkQueue
from migrator.state import sync as sync_state
from migrator.target.access import TargetAccess

__all__ = ["RepositorySync", "SyncSummary", "sync"]

logger = logging.getLogger(__name__)

SHOWN = 50  # conflicts and deletions listed per repository; the state holds every one


@dataclass
class RepositorySync:
    """What one repository's listing found."""

    source: str
    listing: str = "full"  # full | incremental (Artifactory `modified` since ...)
    since: str | None = None
    listed: int = 0
    new: int = 0
    refreshed: int = 0
    unchanged: int = 0
    conflicts: list[dict[str, Any]] = field(default_factory=list)  # the first SHOWN
    conflicts_total: int = 0
    deleted: int = 0
    deleted_shown: list[dict[str, str]] = field(default_factory=list)
    source_requests: int = 0
    out_of_scope: int = 0  # new versions excluded by scoping by use and time
    note: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.new or self.refreshed or self.conflicts_total or self.deleted)

    def as_dict(self) -> dict[str, Any]:
        return {"listing": self.listing, "since": self.since, "listed": self.listed,
                "new": self.new, "refreshed": self.refreshed, "unchanged": self.unchanged,
                "conflicts": self.conflicts, "conflicts_total": self.conflicts_total,
                "deleted_at_source": self.deleted,
                "deleted_shown": self.deleted_shown, "source_requests": self.source_requests,
                "out_of_scope": self.out_of_scope, "note": self.note}


@dataclass
class SyncSummary:
    """A sync: what the listing found, what the run made of it, npm metadata kept in step."""

    run: RunSummary
    repositories: list[RepositorySync] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def nothing_changed(self) -> bool:
        s = self.run.stats
        return (not any(r.changed for r in self.repositories) and not self.metadata
                and not (s.published or s.identical or s.ingested))

    @property
    def conflicts(self) -> int:
        return sum(r.conflicts_total for r in self.repositories)

    @property
    def exit_code(self) -> int:
        return self.run.exit_code

    def as_dict(self) -> dict[str, Any]:
        return {"exit_code": self.exit_code, "nothing_changed": self.nothing_changed,
                "sync": {r.source: r.as_dict() for r in self.repositories},
                "npm_metadata": self.metadata, "run": self.run.as_dict()}

    def render(self) -> str:
        lines = []
        for r in self.repositories:
            how = (f"modified since {r.since}" if r.listing == "incremental" else "full listing")
            lines.append(f"{r.source}: {how}: {r.listed} listed, {r.new} new, {r.refreshed} "
                         f"refreshed, {r.conflicts_total} changed after migration (conflicts), "
                         f"{r.deleted} deleted at the source")
            if r.out_of_scope:
                lines.append(f"  {r.source}: {r.out_of_scope} new version(s) out of scope "
                             "(options.downloaded_within_days / published_after): excluded")
            if r.note:
                lines.append(f"  {r.source}: {r.note}")
            for c in r.conflicts:
                lines.append(f"  conflict: {r.source}/{c['path']}: {c['reason']}")
            for d in r.deleted_shown:
                lines.append(f"  deleted at the source (kept in CodeArtifact): "
                             f"{r.source}/{d['path']} (was {d['previous']})")
        for name, m in self.metadata.items():
            parts = [f"{k} {v}" for k, v in (("dist-tags set", m.get("dist_tags_set")),
                                             ("dist-tags removed", m.get("dist_tags_removed")),
                                             ("deprecated", m.get("deprecated")),
                                             ("no longer deprecated", m.get("undeprecated")))
                     if v]
            lines.append(f"npm {name}: " + ("; ".join(parts) if parts else
                                            m.get("error", "in step")))
        if self.nothing_changed:
            lines.append("nothing changed at the source since the last sync")
        else:
            lines.append(self.run.render())
        return "\n".join(lines)


def sync(manifest: Manifest | str | Path, state_path: str | Path | None = None, *,
         stage: int | str | None = None, progress: bool = True,
         target_factory: TargetFactory | None = None,
         engine_overrides: dict[str, Any] | None = None,
         check_first: bool = True, shard: Shard | None = None,
         rate_share: float | None = None) -> SyncSummary:
    """Bring CodeArtifact up to date with what changed at the source since the last run or
    sync (module docstring). Signature parallel to `migrator.pipeline.run.run`.

    :raises ConfigError: no state yet (run `migrator run` first). As `run` otherwise.
    """
    m = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
    # The same state a `run` of this manifest (and shard) uses: a file, or an s3:// object
    # (a copy is read here for the checks; the run restores its own under the lease).
    loc = locate_state(m, state_path, shard)
    p = read_remote(loc.remote, m) if loc.remote else loc.local
    try:
        if not p.exists():
            raise ConfigError(f"sync: no state at {loc}: a sync continues a migration",
                              hint=f"run `migrator run {m.path}` first (it plans and "
                              f"migrates; later syncs copy only what changed)")
        with WorkQueue.open(p, create=False) as q:
            if not q.get_meta("manifest"):
                raise ConfigError(f"sync: the state {loc} was never planned",
                                  hint=f"run `migrator run {m.path}` first")
            before = stored_manifest(q).source
    finally:
        if loc.remote:
            shutil.rmtree(p.parent, ignore_errors=True)
    if (before.kind, before.url) != (m.source.kind, m.source.url):
        # Compared with another server, every file of the state would look deleted.
        raise ConfigError(f"sync: {p} holds a migration from {before.kind} {before.url}, not "
                          f"from {m.source.kind} {m.source.url}",
                          hint="sync with the manifest of that state, or pass --state PATH "
                          "for a new state (then `migrator run` first)")
    summary = SyncSummary(run=RunSummary(repositories={}))

    async def crawl(man: Manifest, q: WorkQueue) -> None:
        part = recorded_shard(q)  # a shard's state lists only its own packages
        owns = None if part is None else (lambda repo, asset: owns_asset(part, repo, asset))
        summary.repositories = await _listing(man, q, parse_stage(stage), owns=owns)

    async def after(q: WorkQueue, source: SourceAccess, target: TargetAccess,
                    repository_ids: Sequence[int]) -> None:
        summary.metadata = await npm_metadata(q, source, target, repository_ids)

    summary.run = _run(m, loc, "sync", stage=stage, progress=progress,
                       target_factory=target_factory, engine_overrides=engine_overrides,
                       check_first=check_first, shard=shard, rate_share=rate_share,
                       crawl=crawl, after=after)
    return summary


#: Which listed files this state takes (None: all): where a partition of the packages (a
#: shard) applies, the same rule the plan uses, so a sync of one part sees only its part.
Owns = Callable[[str, DiscoveredAsset], bool]


async def _listing(m: Manifest, q: WorkQueue, stage: int | str | None,
                   crawler: Crawler | None = None, owns: Owns | None = None
                   ) -> list[RepositorySync]:
    from migrator.pipeline.plan import remember_manifest

    remember_manifest(q, m)
    options = m.options
    crawler = crawler or make_crawler(m.source, max_connections=2 * options.source_concurrency)
    crawler.asset_name_map = dict(options.generic_asset_name_map) or None
    # Counted before listing: a sync killed half way never lends its "seen" marks to the
    # next one, which would then miss a file deleted in between.
    sync_id = int(q.get_meta("sync.count") or 0) + 1
    q.set_meta("sync.count", str(sync_id))
    out: list[RepositorySync] = []
    limiter = anyio.CapacityLimiter(options.source_concurrency)

    async def one(slot: int, *job: Any) -> None:
        async with limiter:
            out[slot] = await _sync_repository(m, q, crawler, *job, sync_id, owns)

    try:
        known = {r.name: r for r in await crawler.repositories()}
        # Repositories are listed in parallel, as the plan crawls them (one thread: the
        # state is written between awaits, never concurrently).
        async with anyio.create_task_group() as tg:
            for mapping in selected_mappings(m, stage):
                repo = known.get(mapping.source)
                why, _ = _why_not_crawled(mapping, repo, crawler.kind)
                if why or repo is None:
                    out.append(RepositorySync(mapping.source,
                                              note=f"not listed: {why or 'not found'}"))
                    continue
                mode = "prewarm" if repo.type is RepoType.PROXY else mapping.mode
                repo_id = q.upsert_repository(source=repo.name, target=mapping.target,
                                              format=repo.format, repo_type=repo.type,
                                              mode=mode, stage=mapping.stage)
                out.append(RepositorySync(repo.name))
                tg.start_soon(one, len(out) - 1, repo, mapping, repo_id)
    except BaseExceptionGroup as group:
        raise first_error(group) from None
    finally:
        await crawler.aclose()
    return out


async def _sync_repository(m: Manifest, q: WorkQueue, crawler: Crawler, repo: SourceRepository,
                           mapping: Any, repo_id: int, sync_id: int,
                           owns: Owns | None = None) -> RepositorySync:
    rs = RepositorySync(repo.name)
    snapshots = m.options.snapshots
    scope = scope_for(m.options)
    hwm_key = f"sync.hwm.{repo_id}"
    since = _since(q.get_meta(hwm_key) or sync_state.high_water_mark(q, repo_id),
                   m.options.sync_overlap_minutes)
    incremental = since is not None and hasattr(crawler, "crawl_modified")

    async def take(pages: Any) -> None:
        async for page in pages:
            items = [(a, exclusion(a, skip, mapping, snapshots)) for a, skip in page.items
                     if owns is None or owns(repo.name, a)]
            rs.listed += len(items)
            rs.source_requests += page.requests
            diff = sync_state.compare_page(q, repo_id, items, sync_id)
            rs.unchanged += diff.unchanged
            if diff.new or diff.refresh:
                q.record_page(repo_id, diff.new + diff.refresh, cursor=None, done=True)
                sync_state.mark_seen(q, repo_id, [a.path for a, _ in diff.new], sync_id)
                if scope is not None:
                    record_page_dates(q, repo_id, diff.new + diff.refresh)
                rs.new += len(diff.new)
                rs.refreshed += len(diff.refresh)
            if diff.changed:
                reasons = [_conflict_reason(crawler.system, c) for c in diff.changed]
                rs.conflicts_total += len(diff.changed)
                sync_state.mark_conflicts(q, diff.changed, reasons)
                rs.conflicts += [{"path": c.path, "reason": r, "source_hashes": c.listed,
                                  "target_hashes": c.target}
                                 for c, r in zip(diff.changed, reasons, strict=True)][
                                     :max(0, SHOWN - len(rs.conflicts))]
            crash_point("sync-page")

    if incremental:
        rs.listing, rs.since = "incremental", since
        await take(crawler.crawl_modified(repo, since))  # type: ignore[attr-defined]
        unknown = 0
        async for paths in crawler.list_paths(repo):  # type: ignore[attr-defined]
            rs.source_requests += 1
            if owns is not None:  # identities from the paths alone; a doubt counts as ours
                paths = [p for p in paths if owns(repo.name, build_asset(
                    repo.format, repo.name, p, asset_name_map=crawler.asset_name_map)[0])]
            unknown += sync_state.mark_seen(q, repo_id, paths, sync_id)
        if unknown:
            # A file listed but not modified since the mark (copied or moved with its old
            # date): the incremental listing cannot be trusted here; list it all.
            rs.note = (f"{unknown} file(s) not modified since {since} were new to the state: "
                       "listed in full")
            rs.listing = "full"
            await take(crawler.crawl(repo))
    else:
        await take(crawler.crawl(repo))
    if repo.format is Format.MAVEN and snapshots == "latest":
        _exclude_superseded_snapshots(q, repo_id)  # as the plan does, once listed
    if scope is not None and mapping.mode == "copy" and repo.type is not RepoType.PROXY:
        rs.out_of_scope = await apply_scope(crawler, q, repo, repo_id, scope)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rs.deleted, shown = sync_state.mark_deleted(
        q, repo_id, sync_id, f"no longer listed by {crawler.system} (sync of {when}); nothing "
        "is deleted in CodeArtifact (delete_policy = report)", shown=SHOWN)
    rs.deleted_shown = [{"path": d.path, "previous": d.previous} for d in shown]
    newest = sync_state.high_water_mark(q, repo_id)
    if newest:
        q.set_meta(hwm_key, newest)
    return rs


def _since(mark: str | None, overlap_minutes: int) -> str | None:
    """The incremental listing's start: the mark minus the overlap, ISO-8601 UTC."""
    text = utc_iso(mark)
    if text is None:
        return None
    start = datetime.fromisoformat(text.replace("Z", "+00:00")) - timedelta(
        minutes=overlap_minutes)
    return start.strftime("%Y-%m-%dT%H:%M:%S.") + f"{start.microsecond // 1000:03d}Z"


def _conflict_reason(system: str, c: sync_state.Changed) -> str:
    alg = next((a for a in ("sha256", "sha1", "md5", "sha512")
                if a in c.listed and (a in c.target or a in c.recorded)), None)
    if alg is None:
        return (f"changed at the source after it was migrated ({system} lists another size "
                f"or date); CodeArtifact keeps the migrated file: publish a new version")
    held = c.target.get(alg) or c.recorded.get(alg)
    return (f"changed at the source after it was migrated: {system} now has {alg} "
            f"{c.listed[alg]}, CodeArtifact holds {alg} {held}; CodeArtifact versions are "
            f"immutable, so it is not replaced: publish the change as a new version")


async def npm_metadata(q: WorkQueue, source: SourceAccess, target: TargetAccess,
                       repository_ids: Sequence[int]) -> dict[str, Any]:
    """Keep npm dist-tags and deprecations of migrated packages in step with the source:
    for each package whose source packument (tags, deprecations) or migrated versions changed
    since the last sync (a fingerprint in the state), set, move and remove tags and
    deprecations in CodeArtifact. Returns what changed, per package."""
    out: dict[str, Any] = {}
    for pkg in q.settled_npm_packages(repository_ids):
        try:
            packument = await source.npm_packument(pkg.source, pkg.name)
        except FATAL_ERRORS:
            raise
        except Exception as exc:  # a tag is not worth failing the sync: report it
            out[f"{pkg.source}/{pkg.name}"] = {"error": f"source packument: {exc}"}
            continue
        view = {"dist-tags": packument.get("dist-tags") or {},
                "deprecated": {v: m.get("deprecated") for v, m in
                               (packument.get("versions") or {}).items()
                               if isinstance(m, dict) and m.get("deprecated")},
                "versions": list(pkg.versions)}
        fingerprint = hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()
        key = f"sync.npm.{pkg.repository_id}.{pkg.name}"
        previous = q.get_meta(key)
        if previous == fingerprint:
            continue
        started = time.monotonic()
        try:
            done = dict(await target.restore_npm(pkg.target, pkg.source, pkg.name,
                                                 packument=packument, prune=True))
        except FATAL_ERRORS:
            raise
        except Exception as exc:
            logger.warning("%s: npm metadata of %s not synced: %s", pkg.source, pkg.name, exc)
            out[f"{pkg.source}/{pkg.name}"] = {"error": str(exc)}
            continue
        q.set_meta(key, fingerprint)
        if done.get("moved") or done.get("removed") or done.get("deprecations_put"):
            out[f"{pkg.source}/{pkg.name}"] = {
                "dist_tags_set": done.get("moved") or {},
                "dist_tags_removed": done.get("removed") or {},
                "deprecated": {v: done["deprecated"][v] for v in done.get("deprecations_put")
                               or () if v in (done.get("deprecated") or {})},
                "undeprecated": done.get("undeprecated") or [],
                "skipped": done.get("skipped") or {}}
        logger.debug("npm %s in step in %.2f s", pkg.name, time.monotonic() - started)
    return out
