"""`migrator prewarm`: public packages the organisation uses, requested through CodeArtifact.

    prewarm(manifest, lockfiles=(), state_path=None, *, dry_run=False) -> PrewarmSummary

Work items come from the source's proxy/remote caches (crawled by `plan` into mode-prewarm
repositories) and from lockfiles (`migrator.lockfiles`: given on the command line and in the
manifest's `[prewarm] lockfiles`). Lockfile items are recorded into the state like a crawled
cache, one repository row per format (`lockfiles:npm`, ...) whose target is the repository
that serves that format through its upstreams, deduplicated across lockfiles and against the
caches. The engine then requests each file with a plain GET through the target's native
endpoint, confirms it with DescribePackageVersion as origin EXTERNAL (polling through the
ingestion delay), and checks CodeArtifact's hashes against the pinned ones. Each item ends
`ingested`, `not_found_upstream`, `blocked_by_origin_control` or failed (with the reason);
reads are paced by the target's read quotas; an interrupted pre-warm resumes from the state.

A lockfile entry naming an internal package (one the state holds in a copy-mode repository)
is never pre-warmed: it is recorded as excluded ("internal package") and listed as such, not
as an error. `run` does the same step when the manifest says `[prewarm] in_run = true`.

Without `[prewarm.targets]` or a pre-warm mapping of a format, its target is found from
CodeArtifact's upstream chains (`prewarm_target`). Where one repository is to receive both an
internal name and public versions of it, `run` pre-warms those first
(`prewarm_before_publish`: the ordering trap). `plan` counts the lockfiles' items and their
requests (`plan_lockfiles`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from migrator.crashpoints import crash_point
from migrator.errors import ConfigError, PreflightFailed
from migrator.formats import parse as parse_path
from migrator.lockfiles import LockedPackage, merge, read_lockfiles
from migrator.lockfiles.python import version_of_file
from migrator.manifest import Manifest, load_manifest
from migrator.models import (
    AssetKind,
    CheckStatus,
    Coordinates,
    DiscoveredAsset,
    Format,
    RepoType,
)
from migrator.pipeline.confusion import Ordering, order_from_state
from migrator.pipeline.cost import Cost, lockfile_requests, plan_cost
from migrator.pipeline.engine import Engine
from migrator.pipeline.stats import RunSummary
from migrator.state import WorkQueue
from migrator.state.prewarm import (
    LOCKFILE_REPOSITORY_PREFIX,
    internal_packages,
    lockfile_repository,
    package_uses,
    prewarm_targets,
    queued_prewarm_files,
)

__all__ = ["LOCKFILE_REPOSITORY_PREFIX", "LockfileItems", "PrewarmSummary", "check_lockfiles",
           "first_pass_ids", "lockfile_paths", "plan_lockfiles", "prewarm",
           "prewarm_before_publish", "prewarm_repository_ids", "queue_lockfiles"]

logger = logging.getLogger(__name__)


@dataclass
class LockfileItems:
    """What the lockfiles asked for and what was queued."""

    lockfiles: list[str] = field(default_factory=list)
    targets: dict[str, str] = field(default_factory=dict)
    #: files queued per format (new or already in the state)
    queued: dict[str, int] = field(default_factory=dict)
    #: package versions queued per format
    versions: dict[str, int] = field(default_factory=dict)
    #: lockfile entries naming internal packages: never pre-warmed (display → repository)
    internal: dict[str, str] = field(default_factory=dict)
    #: files the proxy caches already queue for the same repository
    in_caches: int = 0
    #: requirements pins for which the target lists no file of that version
    unresolved: list[str] = field(default_factory=list)

    #: requirements pins without hashes counted by a dry run: how many files of the version
    #: the target lists is unknown until it is asked, so each counts as one file, at least
    open_ended: int = 0

    def requests(self) -> dict[str, Any]:
        """The read requests pre-warming the queued items takes: one GET per file (PyPI: plus
        its simple page), exact unless `open_ended`; then DescribePackageVersion and
        ListPackageVersionAssets per version, at least (more while ingestion is under way)."""
        files = sum(self.queued.values())
        gets = files + self.queued.get("pypi", 0)
        return {"native_gets": gets, "native_gets_exact": not self.open_ended,
                "describe_and_list": 2 * sum(self.versions.values()),
                "total": gets + 2 * sum(self.versions.values())}

    def as_dict(self) -> dict[str, Any]:
        return {"lockfiles": self.lockfiles, "targets": self.targets, "queued": self.queued,
                "versions": self.versions, "internal": self.internal,
                "in_caches": self.in_caches, "unresolved": self.unresolved,
                "open_ended": self.open_ended, "requests": self.requests()}

    def render(self) -> str:
        lines = [f"lockfiles: {len(self.lockfiles)} read, "
                 + ", ".join(f"{n} {fmt} file(s) → {self.targets.get(fmt)}"
                             for fmt, n in sorted(self.queued.items()))
                 + (f"; {self.in_caches} already queued from the proxy caches"
                    if self.in_caches else "")]
        for name, repo in sorted(self.internal.items()):
            lines.append(f"  internal: {name} (migrated by copy from {repo}): not pre-warmed")
        for pin in self.unresolved:
            lines.append(f"  {pin}: the target lists no file of this version")
        r = self.requests()
        gets = ("" if r["native_gets_exact"] else "at least ") + str(r["native_gets"])
        lines.append(f"read requests: at least {r['total']} ({gets} native GETs"
                     + ("" if r["native_gets_exact"] else
                        f": {self.open_ended} requirements pin(s) without hashes count as one "
                        "file each")
                     + f"; at least {r['describe_and_list']} DescribePackageVersion/"
                     "ListPackageVersionAssets, more while ingestion is under way)")
        return "\n".join(lines)


@dataclass
class PrewarmSummary:
    """The end of `migrator prewarm`: the lockfile items and the run over every pre-warm
    repository (None for a dry run)."""

    items: LockfileItems
    run: RunSummary | None = None
    dry_run: bool = False
    #: the pre-warm/publish order (`confusion.Ordering`): pre-warms that cannot succeed, with
    #: the reason; None for a dry run
    ordering: Ordering | None = None

    @property
    def exit_code(self) -> int:
        return 0 if self.run is None else self.run.exit_code

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "exit_code": self.exit_code,
                "lockfiles": self.items.as_dict(),
                "ordering": self.ordering.notes() if self.ordering else [],
                "run": self.run.as_dict() if self.run else None}

    def render(self) -> str:
        parts = [self.items.render()]
        if self.ordering is not None:
            parts += [f"order: {note}" for note in self.ordering.notes()]
        if self.run is not None:
            parts.append(self.run.render())
        else:
            parts.append("dry run: nothing was recorded or requested")
        return "\n".join(parts)


def lockfile_paths(m: Manifest, extra: Sequence[str | Path] = ()) -> list[Path]:
    """The manifest's `[prewarm] lockfiles` (relative to its folder) and `extra` (relative to
    the working directory), each once.

    :raises ConfigError: a lockfile that does not exist."""
    paths = [m.resolve(p) for p in m.prewarm.lockfiles] + [Path(p).absolute() for p in extra]
    out: list[Path] = []
    for p in paths:
        if not p.is_file():
            raise ConfigError(f"lockfile {p}: no such file",
                              hint="pass an existing lockfile, or fix [prewarm] lockfiles "
                              f"in {m.path}")
        if p not in out:
            out.append(p)
    return out


def check_lockfiles(m: Manifest, extra: Sequence[str | Path] = ()) -> None:
    """Read every lockfile once, before anything is crawled or requested.

    :raises ConfigError: a lockfile missing, or unreadable (`LockfileError`)."""
    read_lockfiles(lockfile_paths(m, extra))


async def _targets(m: Manifest, q: WorkQueue, formats: set[str], target: Any) -> dict[str, str]:
    """format → the repository that pre-warms it: `[prewarm.targets]`, else the target of a
    pre-warm mapping of the format, else the one found by walking the upstream chains in
    CodeArtifact (`prewarm_target`; through `target`'s client, or, without a target (a dry
    run), a client opened for the look-up)."""
    cached = prewarm_targets(q)
    # before a crawl, the state does not know the formats: mappings that name theirs
    for mapping in m.repositories:
        if mapping.mode == "prewarm" and mapping.format and mapping.target:
            cached.setdefault(str(mapping.format), mapping.target)
    out = {fmt: m.prewarm.target_for(fmt) or cached.get(fmt) for fmt in sorted(formats)}
    missing = [fmt for fmt, repo in out.items() if not repo]
    if missing:
        out.update(await _discover(m, q, missing, target))
    return {fmt: str(repo) for fmt, repo in out.items()}


async def _discover(m: Manifest, q: WorkQueue, formats: list[str],
                    target: Any) -> dict[str, str]:
    from migrator.pipeline.prewarm_target import find_prewarm_target, team_repositories
    from migrator.target.provision import TargetControl

    async def each(c: Any) -> dict[str, str]:
        control, cache = TargetControl(c), {}
        rows = q.repositories()
        return {fmt: await find_prewarm_target(m, control, fmt, team_repositories(rows, fmt),
                                               cache) for fmt in formats}

    client = getattr(target, "client", None)
    if getattr(client, "is_codeartifact", False):
        return await each(client)
    if target is not None:
        # an injected target without CodeArtifact's control plane (unit tests): nothing to walk
        raise ConfigError(
            f"{m.path}: no target repository for the {formats[0]} packages of the lockfiles",
            hint=f"add [prewarm.targets] {formats[0]} = \"REPOSITORY\" (a repository whose "
            "upstream chain ends in the matching external connection), or map a "
            f"{formats[0]} proxy repository with mode = \"prewarm\"")
    from migrator.target.codeartifact import CodeArtifactClient

    async with CodeArtifactClient.from_manifest(m) as owned:
        return await each(owned)


def _coordinates(p: LockedPackage) -> Coordinates:
    """The item's coordinates as the format's rules read its path (the details a publisher
    or a check needs, e.g. a Maven file's extension), marked optional where the lockfile
    does not prove the file exists."""
    parsed = parse_path(p.format, p.path).coordinates
    extra = dict(parsed.extra) if parsed is not None else {}
    if p.optional:
        extra["optional"] = True
    return Coordinates(p.format, p.namespace, p.name, p.version, extra)


def _files_of(p: LockedPackage, found: LockfileItems) -> int:
    """The files one item stands for: one, except an unresolved requirements pin (a dry run),
    which allows one file per hash it gives (a pin without hashes: at least one)."""
    if p.filename or p.format is not Format.PYPI:
        return 1
    allowed = set(filter(None, p.hashes.get("sha256", "").split(",")))
    if not allowed:
        found.open_ended += 1
    return max(1, len(allowed))


def _internal_key(p: LockedPackage) -> tuple[str, str, str]:
    name = canonicalize_name(p.name) if p.format is Format.PYPI else p.name
    return (str(p.format), p.namespace, name)


async def _check_targets(target: Any, targets: dict[str, str]) -> None:
    """Each lockfile target repository answers and reaches an external connection of its
    format through its upstreams; otherwise nothing could be fetched (a missing repository
    would even look like "not found upstream"), so stop here with the fix.

    :raises PreflightFailed: one line per problem."""
    probe = getattr(getattr(target, "client", None), "probe_endpoints", None)
    if probe is None:
        return  # an injected target without the CodeArtifact client (unit tests)
    wanted: dict[str, set[Format]] = {}
    for fmt, repo in targets.items():
        wanted.setdefault(repo, set()).add(Format(fmt))
    checks = await probe(wanted, prewarm=wanted)
    bad = [f"{c.system}: {c.message}" for c in checks if c.status is not CheckStatus.OK]
    if bad:
        raise PreflightFailed(bad)


async def _resolve_pins(items: list[LockedPackage], target: Any, repository: str,
                        found: LockfileItems, internal: set[tuple[str, str, str]]
                        ) -> list[LockedPackage]:
    """requirements.txt pins name no file: the files of that version the target's simple
    page lists (those whose SHA-256 the pin allows, when it gives hashes). Internal names are
    not looked up (they are never pre-warmed)."""
    out: list[LockedPackage] = []
    for p in items:
        if p.filename or p.format is not Format.PYPI or _internal_key(p) in internal:
            out.append(p)
            continue
        allowed = set(filter(None, p.hashes.get("sha256", "").split(",")))
        files = [(f, sha) for f, sha in await target.pypi_files(repository, p.name)
                 if version_of_file(f) == p.version and (not allowed or sha in allowed
                                                         or sha is None)]
        if not files:
            found.unresolved.append(p.display)
            # recorded under a name the simple page never lists: the request finds nothing
            # and the item ends not_found_upstream, counted like every other
            files = [(f"{p.name}=={p.version}", None)]
        for filename, sha in files:
            if sha is None and len(allowed) == 1 and len(files) == 1:
                sha = next(iter(allowed))  # a page without digests: the pin's one file
            hashes = {"sha256": sha} if sha and (not allowed or sha in allowed) else {}
            out.append(LockedPackage(p.format, "", p.name, p.version,
                                     f"packages/{p.name}/{p.version}/{filename}", filename,
                                     hashes, None, p.lockfiles))
    return out


async def queue_lockfiles(m: Manifest, q: WorkQueue, target: Any | None,
                          extra: Sequence[str | Path] = (), *,
                          record: bool = True) -> LockfileItems:
    """Read the lockfiles and record their items into the state (`record=False`: count
    only, nothing written; requirements pins then count as one file each)."""
    paths = lockfile_paths(m, extra)
    found = LockfileItems(lockfiles=[str(p) for p in paths])
    if not paths:
        return found
    locked = read_lockfiles(paths)
    found.targets = await _targets(m, q, {str(p.format) for p in locked}, target)
    if record and target is not None:
        await _check_targets(target, found.targets)
    internal = internal_packages(q)
    by_format: dict[str, list[LockedPackage]] = {}
    for p in locked:
        repo = internal.get(_internal_key(p))
        if repo:
            found.internal[p.display] = repo
        by_format.setdefault(str(p.format), []).append(p)
    for fmt, items in sorted(by_format.items()):
        repository = found.targets[fmt]
        # a requirements pin whose files another lockfile names: those files are requested
        named = {(p.name, p.version) for p in items if p.filename}
        items = [p for p in items if p.filename or (p.name, p.version) not in named]
        if record and target is not None:
            items = await _resolve_pins(items, target, repository, found, set(internal))
            # a pin resolved to a file another lockfile names: one item, hashes merged
            items = merge(items)
        cached = queued_prewarm_files(q, repository, fmt)
        rows: list[tuple[DiscoveredAsset, str | None]] = []
        files = 0
        for p in items:
            if p.path in cached:
                found.in_caches += 1
                continue
            repo = internal.get(_internal_key(p))
            why = (f"internal package (migrated by copy from {repo}): not pre-warmed"
                   if repo else None)
            rows.append((DiscoveredAsset(
                path=p.path, size=None, checksums=dict(p.hashes), coordinates=_coordinates(p),
                kind=AssetKind.ARTIFACT), why))
            if why is None:
                files += _files_of(p, found)
        wanted_rows = [r for r in rows if r[1] is None]
        found.queued[fmt] = files
        found.versions[fmt] = len({(a.coordinates.namespace, a.coordinates.package,
                                    a.coordinates.version) for a, _ in wanted_rows
                                   if a.coordinates})
        if record:
            repo_id = q.upsert_repository(source=lockfile_repository(fmt), target=repository,
                                          format=Format(fmt), repo_type=RepoType.PROXY,
                                          mode="prewarm")
            q.begin_crawl(repo_id)
            q.record_page(repo_id, rows, cursor=None, done=True)
            crash_point("lockfiles")  # one format's items recorded, the next not yet
    logger.info("lockfiles: %s", found.render().splitlines()[0])
    return found


def plan_lockfiles(m: Manifest, q: WorkQueue, summary: Any) -> tuple[LockfileItems, Cost]:
    """`migrator plan`: the manifest's lockfile items counted against the crawled state
    (per format and target, internal ones, those the proxy caches already hold), nothing
    recorded, and the plan's cost (`summary`: its `PlanSummary`) with their requests."""
    import anyio

    items = anyio.run(lambda: queue_lockfiles(m, q, None, record=False))
    o = m.options
    cost = plan_cost(summary.repositories, rate_budget=o.rate_budget,
                     origin_control=o.origin_control, prices=o.prices,
                     extra=[lockfile_requests(items.requests(), len(items.targets))])
    return items, cost


def prewarm(manifest: Manifest | str | Path, lockfiles: Sequence[str | Path] = (),
            state_path: str | Path | None = None, *, dry_run: bool = False,
            progress: bool = True, target_factory: Any = None,
            engine_overrides: dict[str, Any] | None = None,
            check_first: bool = True) -> PrewarmSummary:
    """Plan (when the state has no finished crawl), queue the lockfiles' items, and run the
    engine over every pre-warm repository (proxy caches and lockfiles) only.

    :raises ConfigError: a lockfile missing or unreadable (`LockfileError`), no target for a
        format. Otherwise as `migrator.pipeline.run.run`.
    """
    from migrator.pipeline.run import _run, plan_if_needed

    m = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
    if dry_run:
        check_lockfiles(m, lockfiles)
        import anyio

        from migrator.pipeline.statefile import state_file

        m.require_credentials()
        # The state `run` uses; an S3 one is read as its last checkpoint (a copy, no lease):
        # a dry run keeps nothing, so a crawl it needs is made in that copy and dropped.
        with state_file(m, state_path, command="prewarm --dry-run", writes=False,
                        missing_ok=True) as sf:
            if sf.note():
                logger.info("%s", sf.note())
            with WorkQueue.open(sf.path, lock_for="prewarm --dry-run") as q:
                anyio.run(plan_if_needed, m, q)
                items = anyio.run(lambda: queue_lockfiles(m, q, None, lockfiles,
                                                          record=False))
        return PrewarmSummary(items, None, dry_run=True)
    collected: dict[str, Any] = {}
    # The same state a `run` of this manifest uses (also an s3:// one, held by its lease).
    from migrator.pipeline.statefile import locate_state

    summary = _run(m, locate_state(m, state_path, None), "prewarm", progress=progress,
                   target_factory=target_factory, engine_overrides=engine_overrides,
                   check_first=check_first,
                   lockfiles=tuple(lockfiles), only_prewarm=True, collect=collected)
    return PrewarmSummary(collected.get("lockfiles") or LockfileItems(), summary,
                          ordering=collected.get("ordering"))


async def prewarm_before_publish(m: Manifest, q: WorkQueue, engine: Engine, *,
                                 publish: bool = True) -> Ordering:
    """The ordering trap, acted on: in each repository, the public versions of an internal
    name are pre-warmed before its first internal version is published there (publishing
    first sets upstream=BLOCK, after which the pre-warm is refused). With `publish` (a run
    that copies too), a first engine pass over the pre-warm repositories that hold such names
    runs to its end before `engine` starts; the pre-warms that cannot succeed are logged with
    the reason (the engine still asks for them and records the refusal CodeArtifact gives).

    A pass over whole repositories is coarser than a per-name gate, but needs no change to
    the claim order: it ends before anything is published, so an interruption at any instant
    leaves nothing published that the pre-warm still needed; the next run repeats the pass
    (what is ingested stays ingested) before it publishes."""
    ordering = order_from_state(m, q, engine.repository_ids)
    for key in ordering.prewarm_first:
        logger.info("pre-warm first: %s in %s, before its internal versions are published",
                    key.display, key.repository)
    for key, why in ordering.impossible:
        logger.warning("%s in %s: cannot be pre-warmed: %s", key.display, key.repository, why)
    first = first_pass_ids(q, ordering, engine.repository_ids) if publish else []
    if first:
        before = Engine(q, source=engine.source, target=engine.target, options=engine.options,
                        owner=engine.owner, progress=engine.progress, clock=engine.clock,
                        sleep=engine.sleep, handle_signals=engine.handle_signals)
        before.repository_ids = first
        before.stats = engine.stats  # one run, one set of counts
        await before.run()
    return ordering


def first_pass_ids(q: WorkQueue, ordering: Ordering, ids: Sequence[int]) -> list[int]:
    """Of `ids`, the pre-warm repositories holding a name to pre-warm before its publish."""
    wanted = {(k.repository, k.format, k.namespace, k.name) for k in ordering.prewarm_first}
    return sorted({u.repository_id for u in package_uses(q, ids) if u.mode == "prewarm"
                   and (u.target, u.format, u.namespace, u.package) in wanted})


def prewarm_repository_ids(q: WorkQueue, ids: Sequence[int]) -> list[int]:
    """Of `ids`, the pre-warm repositories (proxy caches and lockfile rows)."""
    keep = set(ids)
    return [r["id"] for r in q.repositories()
            if r["id"] in keep and r["mode"] == "prewarm"]

