"""`plan`: crawl the source into the state and summarise what a run would do (the dry run).

Nothing is written to the target. Each mapped repository is crawled by the source's `Crawler`,
repositories in parallel (at most `options.source_concurrency` at once); every page is recorded
with the cursor of the next page in one transaction, so an interrupted plan resumes where it
stopped. The summary is computed from the state afterwards (not from memory): it is the same
whether the crawl ran in one go or in five interrupted pieces, and memory stays flat.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import anyio

from migrator.crashpoints import crash_point
from migrator.errors import (
    ConfigError,
    CrawlShortfall,
    SourceAuthError,
    SourceError,
    StateError,
    describe,
    first_error,
)
from migrator.formats.maven import is_snapshot
from migrator.manifest import Manifest, RepositoryMapping, SourceSettings, parse_manifest
from migrator.models import (
    DiscoveredAsset,
    Format,
    RepoType,
    Shard,
    SourceRepository,
    human_bytes,
)
from migrator.pipeline.cost import Cost, plan_cost
from migrator.pipeline.crawlcheck import check_crawl_count
from migrator.pipeline.preflight import ensure_ready
from migrator.pipeline.scope import Scope, apply_scope, record_page_dates, scope_for
from migrator.pipeline.shard import owns_asset, recorded_shard, with_rate_share
from migrator.pipeline.statefile import locate_state, open_state
from migrator.pipeline.stats import crawl_failure_dicts, crawl_failure_lines
from migrator.sources import Crawler, Found, Page, make_crawler
from migrator.sources.paging import guard_pages
from migrator.state import WorkQueue
from migrator.state import status as st
from migrator.state.queries import SnapshotBuild

__all__ = [
    "PlanSummary",
    "RepositoryPlan",
    "changed_sections",
    "needs_replan",
    "plan",
    "plan_manifest",
    "remember_manifest",
    "stored_manifest",
]

logger = logging.getLogger(__name__)

_PLAN_OPEN = "plan.crawl_open"  # "1" while a plan's crawl is running or was interrupted

OnPage = Callable[[str, int, Page], None]
CrawlerFactory = Callable[[SourceSettings], Crawler]


@dataclass(slots=True)
class RepositoryPlan:
    """What the state holds for one crawled repository."""

    source: str
    target: str | None
    format: str
    repo_type: str
    mode: str
    pages: int = 0
    crawl: str = "pending"
    versions: int = 0
    assets: int = 0
    bytes: int = 0
    prewarm_items: int = 0
    writes: int = 0
    packages: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class PlanSummary:
    """The dry-run result: per repository and format, plus what was not crawled and why."""

    repositories: list[RepositoryPlan]
    not_crawled: list[tuple[str, str]]
    rate_budget: float
    #: Mappings that cannot be carried out (no such repository, another format): an error.
    mapping_errors: list[tuple[str, str]] = field(default_factory=list)
    #: Requests, bytes, time and price (`migrator.pipeline.cost`); None until computed.
    cost: Cost | None = None
    #: The dependency-confusion check (`migrator.pipeline.confusion`); None when not run.
    confusion: Any = None
    #: The lockfiles' pre-warm items (`migrator.pipeline.prewarm.LockfileItems`), counted
    #: only; None when the manifest names no lockfile.
    lockfiles: Any = None
    #: Repositories whose listing failed for good (name, reason); the others were crawled.
    crawl_failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """1 when some repository could not be listed (the others are planned), else 0."""
        return 1 if self.crawl_failures else 0

    def raise_for_mapping_errors(self, manifest: Manifest) -> None:
        """:raises ConfigError: (exit 2) naming every mapping that cannot be carried out."""
        if self.mapping_errors:
            what = "; ".join(f"{name}: {why}" for name, why in self.mapping_errors)
            raise ConfigError(f"{manifest.path}: [[repositories]] cannot be carried out: {what}",
                              hint="fix the source names (or formats) in the manifest, or set "
                              "mode = 'skip' on them; `migrator plan` lists what the server has")

    @property
    def writes(self) -> int:
        return sum(r.writes for r in self.repositories)

    @property
    def estimated_seconds(self) -> float:
        return self.writes / self.rate_budget if self.rate_budget else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "repositories": [
                r.as_dict() | {"estimated_seconds": round(r.writes / self.rate_budget, 1)}
                for r in self.repositories
            ],
            "not_crawled": [{"repository": n, "reason": why} for n, why in self.not_crawled],
            "crawl_failures": crawl_failure_dicts(self.crawl_failures),
            "exit_code": self.exit_code,
            "totals": {
                "versions": sum(r.versions for r in self.repositories),
                "assets": sum(r.assets for r in self.repositories),
                "bytes": sum(r.bytes for r in self.repositories),
                "excluded": sum(sum(r.excluded.values()) for r in self.repositories),
                "refused": sum(sum(r.refused.values()) for r in self.repositories),
                "prewarm_items": sum(r.prewarm_items for r in self.repositories),
                "writes": self.writes,
                "rate_budget": self.rate_budget,
                "estimated_seconds": round(self.estimated_seconds, 1),
            },
        } | ({"cost": self.cost.as_dict()} if self.cost is not None else {}) | (
            {"dependency_confusion": self.confusion.as_dict()} if self.confusion is not None
            else {}) | (
            {"lockfiles": self.lockfiles.as_dict()} if self.lockfiles is not None else {})

    def render(self) -> str:
        """A terminal table; reasons for exclusions and refusals listed under it."""
        head = ("repository", "format", "mode", "versions", "assets", "bytes", "excluded",
                "refused", "pre-warm", "writes")
        rows = [head] + [
            (r.source + (f" → {r.target}" if r.target else ""), r.format, r.mode,
             str(r.versions), str(r.assets), human_bytes(r.bytes), str(sum(r.excluded.values())),
             str(sum(r.refused.values())), str(r.prewarm_items), str(r.writes))
            for r in self.repositories
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                 for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        for r in self.repositories:
            if r.note:
                lines.append(f"  {r.source}: {r.note}")
            if r.crawl != "complete":
                lines.append(f"! {r.source}: crawl {r.crawl} after {r.pages} pages; run plan "
                             "again to resume")
            for label, reasons in (("excluded", r.excluded), ("refused", r.refused)):
                for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
                    lines.append(f"  {r.source}: {n} {label}: {reason}")
        for name, why in self.not_crawled:
            lines.append(f"  {name}: not crawled: {why}")
        minutes = self.estimated_seconds / 60
        lines.append(
            f"{self.writes} target writes at {self.rate_budget:g}/s ≈ "
            + (f"{minutes:.1f} min" if minutes >= 1 else f"{self.estimated_seconds:.0f} s")
            + "; nothing was written to the target"
        )
        if self.lockfiles is not None:
            lines.append(self.lockfiles.render())
        if self.cost is not None:
            lines.append(self.cost.render())
        if self.confusion is not None:
            lines.append(self.confusion.render())
        lines += crawl_failure_lines(self.crawl_failures, " (the others are planned above)")
        return "\n".join(lines)




def exclusion(asset: DiscoveredAsset, format_skip: str | None, mapping: RepositoryMapping,
              snapshots: str) -> str | None:
    """Why `asset` is not migrated (None: it is wanted). Refusals are stored by the queue."""
    if asset.refused:
        return None
    if format_skip:
        return format_skip
    reason = mapping.excludes(asset.path)
    if reason:
        return reason
    c = asset.coordinates
    if (c is not None and c.format is Format.MAVEN and snapshots == "none"
            and is_snapshot(str(c.extra.get("base_version", "")))):
        return "snapshot policy 'none'"
    return None


async def plan(
    manifest: Manifest,
    queue: WorkQueue,
    *,
    crawler_factory: CrawlerFactory | None = None,
    on_page: OnPage | None = None,
    stage: int | str | None = None,
) -> PlanSummary:
    """Crawl every mapped repository of `manifest` into `queue` and summarise the state.

    When the state holds an interrupted crawl, this resumes it: unfinished repositories continue
    from their saved cursor and completed ones are not read again. Otherwise every repository
    is crawled from the beginning (a sync: the queue keeps what was already done).

    `crawler_factory(manifest.source)` builds the crawler (tests inject one with an in-process
    transport); by default `migrator.sources.make_crawler`. `on_page(repository, page_number,
    page)` is called after each page is recorded (progress; tests stop a crawl from it).

    :raises SourceError: the source failed or refused (auth); everything recorded stays.
    :raises CrawlShortfall: a repository listed fewer files than the server counts
        (`migrator.pipeline.crawlcheck`); it is crawled again by the next plan.
    """
    options = manifest.options
    factory = crawler_factory or (
        lambda source: make_crawler(source, max_connections=2 * options.source_concurrency)
    )
    crawler = factory(manifest.source)
    crawler.asset_name_map = dict(options.generic_asset_name_map) or None
    not_crawled: list[tuple[str, str]] = []
    mapping_errors: list[tuple[str, str]] = []
    notes: dict[str, str] = {}
    try:
        known = {r.name: r for r in await crawler.repositories()}
        jobs: list[tuple[SourceRepository, Any, int]] = []
        for mapping in manifest.repositories:
            if stage is not None and mapping.stage != stage:
                continue  # `plan --stage S`: one wave
            repo = known.get(mapping.source)
            why, wrong = _why_not_crawled(mapping, repo, crawler.kind)
            if why or repo is None:
                not_crawled.append((mapping.source, why or "not found"))
                if wrong:
                    mapping_errors.append((mapping.source, why or "not found"))
                continue
            # Proxy/remote caches hold public packages: pre-warmed through upstreams, never copied.
            mode = "prewarm" if repo.type is RepoType.PROXY else mapping.mode
            if mode != mapping.mode:
                notes[repo.name] = ("proxy/remote cache of public packages: pre-warmed through "
                                    "the target's upstreams, not copied")
            repo_id = queue.upsert_repository(
                source=repo.name, target=mapping.target, format=repo.format,
                repo_type=repo.type, mode=mode, stage=mapping.stage)
            jobs.append((repo, mapping, repo_id))
        # A plan that follows an interrupted plan is a resume: it finishes what was interrupted
        # (and what never started) and leaves completed repositories alone, so no page is read
        # twice. After a plan that finished, every repository is crawled afresh (sync).
        resuming = queue.get_meta(_PLAN_OPEN) == "1"
        queue.set_meta(_PLAN_OPEN, "1")
        todo = [job for job in jobs
                if not (resuming and queue.crawl_state(job[2]).status == "complete")]
        shard = recorded_shard(queue)  # a shard's state takes only its own packages
        limiter = anyio.CapacityLimiter(options.source_concurrency)
        failed: list[tuple[str, str]] = []
        try:
            async with anyio.create_task_group() as tg:
                for repo, mapping, repo_id in todo:
                    tg.start_soon(_crawl_or_note, failed, crawler, queue, repo, mapping,
                                  repo_id, options.snapshots, limiter, on_page, shard,
                                  scope_for(options))
        except BaseExceptionGroup as group:
            raise first_error(group) from None
        if not failed:  # else the next plan resumes the failed ones and only them
            queue.set_meta(_PLAN_OPEN, "0")
    finally:
        await crawler.aclose()
    summary = summarise(queue, [repo_id for _, _, repo_id in jobs], not_crawled,
                        options.rate_budget)
    summary.mapping_errors = mapping_errors
    summary.cost = plan_cost(summary.repositories, rate_budget=options.rate_budget,
                             origin_control=options.origin_control, prices=options.prices)
    summary.crawl_failures = sorted(failed)
    for row in summary.repositories:
        row.note = notes.get(row.source)
    return summary


def _why_not_crawled(mapping: RepositoryMapping, repo: SourceRepository | None,
                     kind: str) -> tuple[str | None, bool]:
    """Why a mapping is not crawled (None: it is), and whether that is a mistake."""
    if mapping.mode == "skip":
        return "mode = 'skip' in the manifest", False
    if repo is None:
        return (f"not found on the {kind} server, or of a format migrator does not support, "
                "or not visible to this user"), True
    if repo.type is RepoType.GROUP:
        return ("group/virtual repository: only repeats its members, which are crawled "
                "instead"), False
    if mapping.format is not None and mapping.format is not repo.format:
        return f"manifest says format {mapping.format}, the server says {repo.format}", True
    return None, False


async def _crawl_one(crawler: Crawler, queue: WorkQueue, repo: SourceRepository,
                     mapping: RepositoryMapping, repo_id: int, snapshots: str,
                     limiter: anyio.CapacityLimiter, on_page: OnPage | None,
                     shard: Shard | None = None, scope: Scope | None = None) -> None:
    async with limiter:
        state = queue.begin_crawl(repo_id)
        pages = state.pages
        if state.status == "crawling" and state.cursor is None and pages:
            raise SourceError(f"the saved crawl of {repo.name!r} has pages but no cursor",
                              hint="use a new state file to crawl from the beginning")
        listed = 0
        async for page in guard_pages(crawler.crawl(repo, cursor=state.cursor),
                                      system=crawler.system, repository=repo.name,
                                      start=state.cursor):
            items: list[Found] = [
                (asset, exclusion(asset, skip, mapping, snapshots))
                for asset, skip in page.items if owns_asset(shard, repo.name, asset)
            ]
            queue.record_page(repo_id, items, cursor=page.cursor, done=page.done)
            if scope is not None:  # scoping by use and time (migrator.pipeline.scope)
                record_page_dates(queue, repo_id, items)
            pages += 1
            listed += len(page.items)  # the server counts every shard's files
            if on_page is not None:
                on_page(repo.name, pages, page)
        # A resumed crawl counts what the state holds, which for a shard is only its part.
        if shard is None or not state.cursor:
            await check_crawl_count(crawler, queue, repo, repo_id,
                                    listed=None if state.cursor else listed)
        if repo.format is Format.MAVEN and snapshots == "latest":
            _exclude_superseded_snapshots(queue, repo_id)
        if scope is not None and mapping.mode == "copy" and repo.type is not RepoType.PROXY:
            await apply_scope(crawler, queue, repo, repo_id, scope)


async def _crawl_or_note(failed: list[tuple[str, str]], crawler: Crawler, *args: Any) -> None:
    """`_crawl_one`, with a listing that fails for good noted in `failed` instead of
    stopping every other repository's crawl. Credentials refused and a short crawl still
    stop the plan: they are about the whole source, or need a person first."""
    repo: SourceRepository = args[1]
    try:
        await _crawl_one(crawler, *args)
    except (SourceAuthError, CrawlShortfall):
        raise
    except SourceError as exc:
        logger.error("%s: the listing of %r failed: %s", crawler.system, repo.name,
                     describe(exc))
        failed.append((repo.name, describe(exc)))


def _exclude_superseded_snapshots(queue: WorkQueue, repo_id: int) -> None:
    """Snapshot policy 'latest': only the newest timestamped build of each SNAPSHOT is kept.

    Runs once the crawl is complete: builds of one SNAPSHOT may be spread over many pages.
    """
    builds: dict[tuple[str, str, str], list[SnapshotBuild]] = defaultdict(list)
    for b in queue.snapshot_builds(repo_id):
        builds[(b.namespace, b.package, b.base_version)].append(b)
    for members in builds.values():
        members.sort(key=lambda b: (b.timestamp, b.build, b.version_id))
        newest = members[-1].version
        for b in members[:-1]:
            queue.transition_version(b.version_id, st.EXCLUDED,
                                     f"snapshot policy 'latest': superseded by {newest}")


def summarise(queue: WorkQueue, repo_ids: list[int], not_crawled: list[tuple[str, str]],
              rate_budget: float) -> PlanSummary:
    """Read the plan back from the state."""
    by_id = {r["id"]: r for r in queue.repositories()}
    plans: list[RepositoryPlan] = []
    for repo_id in repo_ids:
        row = by_id[repo_id]
        rp = RepositoryPlan(source=row["source"], target=row["target"], format=row["format"],
                            repo_type=row["repo_type"], mode=row["mode"],
                            crawl=row["crawl_status"], pages=row["crawl_pages"])
        b = queue.plan_breakdown(repo_id)
        rp.excluded, rp.refused = b["excluded"], b["refused"]
        rp.assets, rp.versions, rp.bytes = b["files"], b["versions"], b["bytes"]
        rp.packages = b["packages"]
        if rp.mode == "prewarm":
            rp.prewarm_items = b["files"]
        elif rp.mode == "copy":
            rp.writes = _writes(Format(rp.format), files=b["files"], versions=b["versions"],
                                packages=b["packages"])
        plans.append(rp)
    return PlanSummary(plans, not_crawled, rate_budget)


def _writes(fmt: Format, *, files: int, versions: int, packages: int) -> int:
    """Target write requests the publish protocol of `fmt` needs.

    Maven: one PUT per file plus one maven-metadata.xml PUT per version. npm: one PUT per
    version (tarball inside) plus the dist-tag PUTs, estimated as one per package (`latest`).
    PyPI: one upload POST per file. Generic: one PublishPackageVersion per asset.
    """
    if fmt is Format.MAVEN:
        return files + versions
    if fmt is Format.NPM:
        return versions + packages
    return files


def remember_manifest(queue: WorkQueue, manifest: Manifest) -> bool:
    """Store the manifest the state is planned from (resume and verify read it back);
    returns whether it differs from the one stored before."""
    if queue.get_meta("manifest") == manifest.text:
        return False
    queue.set_meta("manifest", manifest.text)
    queue.set_meta("manifest_path", str(manifest.location))
    return True


def changed_sections(old: Manifest, new: Manifest) -> list[str]:
    """The manifest tables that differ between two manifests ([source], [target],
    [[repositories]], [options])."""
    return [name for name, a, b in (
        ("[source]", old.source, new.source), ("[target]", old.target, new.target),
        ("[[repositories]]", old.repositories, new.repositories),
        ("[options]", old.options, new.options)) if a != b]


def needs_replan(old: Manifest, new: Manifest) -> bool:
    """Whether what the state holds was crawled under other rules: another source, other
    mappings (repositories, targets, globs, stages) or another snapshot policy. Credentials'
    variable names, the target's domain and pacing options need no new crawl."""
    return ((old.source.kind, old.source.url) != (new.source.kind, new.source.url)
            or old.repositories != new.repositories
            or old.options.snapshots != new.options.snapshots
            or old.options.generic_asset_name_map != new.options.generic_asset_name_map)


def stored_manifest(queue: WorkQueue) -> Manifest:
    """The manifest `plan` stored in the state.

    :raises StateError: the state holds none. :raises ManifestError: as `load_manifest`.
    """
    text = queue.get_meta("manifest")
    if not text:
        raise StateError(f"{queue.path} holds no manifest",
                         hint="run `migrator run MANIFEST` (or pass MANIFEST) instead")
    return parse_manifest(text, queue.get_meta("manifest_path") or "state:manifest")


def plan_manifest(manifest: Manifest, state_path: str | Path | None = None, *,
                  check_first: bool = True, shard: Shard | None = None,
                  rate_share: float | None = None,
                  stage: int | str | None = None) -> PlanSummary:
    """`migrator plan`: preflight, then crawl the source into the state (under its run lock)
    and summarise; nothing is written to the target. `state_path` may be an s3:// URL;
    `shard` crawls only that shard's packages into its own state (migrator.pipeline.shard).

    A repository whose listing failed for good is in the summary's `crawl_failures`
    (`exit_code` 1), beside everything the others planned.

    :raises PreflightFailed: (exit 2) a system, credential or mapping is not ready.
    :raises ConfigError: credentials not in the environment. :raises SourceError, StateError.
    """
    manifest.require_credentials()
    with open_state(locate_state(manifest, state_path, shard), command="plan", shard=shard,
                    manifest=manifest) as q:
        if check_first:  # once the state is known to be usable, before anything is crawled
            ensure_ready(manifest, stage=stage)
        remember_manifest(q, manifest)
        shared = with_rate_share(manifest, recorded_shard(q), rate_share)
        summary = anyio.run(lambda: plan(shared, q, on_page=lambda *_: crash_point("crawl"),
                                         stage=stage))
        if check_first and not summary.mapping_errors:
            # Read-only, through CodeArtifact: which internal names a public registry offers.
            from migrator.pipeline.confusion import check_manifest

            summary.confusion = check_manifest(manifest, q)
        if manifest.prewarm.lockfiles and not summary.mapping_errors:
            # Counted, not recorded: what `prewarm` (or `run` with in_run) will request.
            from migrator.pipeline.prewarm import plan_lockfiles

            summary.lockfiles, summary.cost = plan_lockfiles(shared, q, summary)
    summary.raise_for_mapping_errors(manifest)
    return summary  # failed listings are in it (exit_code 1), beside what was planned
