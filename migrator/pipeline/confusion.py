"""Dependency-confusion protection: internal names that a public registry also offers.

Before internal versions are published, every internal package name of a `copy` repository
is looked up in the public registry behind the external connection its target repository's
upstream chain reaches, through CodeArtifact itself and read-only (`PublicNames`: the
metadata of the name through the repository that owns the connection). A name found there
is a **collision**: a build asking the team repository for a version only the public
registry has would otherwise get the public (possibly hostile) package.

What protects a collision, reported beside it:
- a package group of `[[namespaces]]` covering the name (EXTERNAL_UPSTREAM=BLOCK), set once
  by `migrator target init` or, at the latest, before the run publishes (`protect_namespaces`);
- else, with `options.origin_control = "block-upstream"`, the package's own origin
  configuration publish=ALLOW, upstream=BLOCK, which the run sets before its first version;
- else nothing (`origin_control = "leave"`): reported as NOT protected.

The ordering trap: once an internal version is published into a repository, the package's
upstream is BLOCK there, so pre-warming public versions of that same name through that
repository fails. When both were asked for, the public versions must be pre-warmed first and
the internal ones published after (the origin configuration then switches to publish=ALLOW,
upstream=BLOCK; the ingested versions stay). `plan_order` computes that order (from a state:
`order_from_state`; `run` acts on it in `prewarm.prewarm_before_publish`); a namespace group
that blocks external upstreams makes such a pre-warm impossible, which it says too, and so
does an internal version already published there.

Findings are kept in the state (merged, never dropped: after the publish, the name no longer
resolves upstream through the team repository, but the collision remains a fact).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import anyio

from migrator.errors import TargetError
from migrator.manifest import Manifest, Namespace
from migrator.state import WorkQueue
from migrator.state.prewarm import package_uses
from migrator.state.queries import CONFUSION_FINDINGS
from migrator.target.errors import CredentialsRefused, NotFound
from migrator.target.groups import INTERNAL_NAMESPACE, PackageGroups
from migrator.target.provision import PublicNames, RepositoryState, TargetControl
from migrator.topology import EXTERNAL_CONNECTIONS

__all__ = ["ConfusionReport", "Finding", "Ordering", "PackageKey", "check", "check_manifest",
           "connection_owner", "covering_group", "order_from_state", "plan_order",
           "protect_namespaces"]

logger = logging.getLogger(__name__)

#: Formats whose names can come from a public registry (generic never comes from upstreams).
_PUBLIC_FORMATS = ("npm", "pypi", "maven")
#: CodeArtifact searches at most 25 repositories per request.
_MAX_SEARCHED = 25
#: Metadata reads in flight at once.
_CONCURRENCY = 8


@dataclass(frozen=True, slots=True, order=True)
class PackageKey:
    """One package name in one target repository."""

    repository: str
    format: str
    namespace: str
    name: str

    @property
    def display(self) -> str:
        if self.format == "npm" and self.namespace:
            return f"@{self.namespace}/{self.name}"
        if self.format == "maven":
            return f"{self.namespace}:{self.name}"
        return self.name


@dataclass(slots=True)
class Finding:
    """An internal name that the public registry behind `connection` also offers."""

    repository: str
    format: str
    namespace: str
    package: str
    display: str
    connection: str
    via: str  # the repository owning the connection, through which it was read
    public_versions: list[str]
    protection: str
    protected: bool

    def key(self) -> tuple[str, str, str, str]:
        return (self.repository, self.format, self.namespace, self.package)


@dataclass(slots=True)
class Ordering:
    """The order `plan_order` asks for: names whose public versions are pre-warmed before the
    internal ones are published (same repository), and pre-warms that cannot succeed."""

    prewarm_first: list[PackageKey] = field(default_factory=list)
    impossible: list[tuple[PackageKey, str]] = field(default_factory=list)

    def notes(self) -> list[str]:
        out = [f"{k.display} in {k.repository}: pre-warm its public versions first, then "
               "publish the internal ones (publishing first sets upstream=BLOCK, which "
               "blocks the pre-warm)" for k in self.prewarm_first]
        out += [f"{k.display} in {k.repository}: cannot be pre-warmed: {why}"
                for k, why in self.impossible]
        return out


@dataclass(slots=True)
class ConfusionReport:
    """The result of one check: collisions, names checked, repositories not exposed."""

    findings: list[Finding] = field(default_factory=list)
    checked: int = 0
    #: (target repository, format, why no check was needed or possible)
    unchecked: list[tuple[str, str, str]] = field(default_factory=list)
    ordering: Ordering = field(default_factory=Ordering)
    read_requests: int = 0
    #: Names not looked up because a package group that blocks external upstreams already
    #: covers them (it hides the public registry from CodeArtifact): (name, repository, group)
    covered: list[tuple[str, str, str]] = field(default_factory=list)
    #: Names whose look-up failed: public or not is unknown
    unknown: list[PackageKey] = field(default_factory=list)

    def exposed(self) -> set[tuple[str, str, str, str]]:
        """(repository, format, namespace, package) of every name a public registry offers,
        or might (its look-up failed): these need origin control before their publish."""
        return {(f.repository, f.format, f.namespace or "", f.package) for f in self.findings} \
            | {(k.repository, k.format, k.namespace or "", k.name) for k in self.unknown}

    def as_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "findings": [asdict(f) for f in self.findings],
                "unchecked": [{"repository": r, "format": f, "reason": why}
                              for r, f, why in self.unchecked],
                "ordering": self.ordering.notes(), "read_requests": self.read_requests,
                "covered": [{"display": n, "repository": r, "group": g}
                            for n, r, g in self.covered]}

    def render(self) -> str:
        lines = [f"dependency confusion: {self.checked} internal name(s) checked against the "
                 f"public registries ({self.read_requests} read requests), "
                 f"{len(self.findings)} also public"]
        for f in self.findings:
            mark = "  " if f.protected else "! "
            lines.append(f"{mark}{f.display} ({f.format}, {f.repository}): also in "
                         f"{f.connection} ({_versions(f.public_versions)}); {f.protection}")
        for repo, fmt, why in self.unchecked:
            lines.append(f"  {repo} ({fmt}): not checked: {why}")
        for name, repo, group in self.covered:
            lines.append(f"  {name} ({repo}): not looked up: package group {group} already "
                         "blocks external upstreams for it (protected; it also hides the "
                         "public registry from CodeArtifact)")
        lines += [f"  order: {note}" for note in self.ordering.notes()]
        return "\n".join(lines)


def _versions(versions: Sequence[str]) -> str:
    shown = ", ".join(versions[:5])
    return f"versions {shown}" + (f" and {len(versions) - 5} more" if len(versions) > 5 else "")


def _matches(pattern: str, fmt: str, namespace: str, name: str) -> bool:
    """CodeArtifact's package group matching (`$` exact, `~` prefix, `*` all)."""
    from packaging.utils import canonicalize_name

    parts = pattern[1:].split("/")
    coords = [fmt, namespace, str(canonicalize_name(name)) if fmt == "pypi" else name]
    last = parts[-1]
    if last == "*":
        return parts[:-1] == coords[:len(parts) - 1]
    fixed = parts[:-1]
    if fixed != coords[:len(fixed)]:
        return False
    target = coords[len(fixed)]
    return target == last[:-1] if last.endswith("$") else target.startswith(last[:-1])


def covering_group(namespaces: Iterable[Namespace], fmt: str, namespace: str,
                   name: str) -> str | None:
    """The most specific `[[namespaces]]` package group pattern covering the name."""
    hits = [n.group_pattern for n in namespaces if n.format == fmt
            and _matches(n.group_pattern, fmt, namespace, name)]
    return max(hits, key=len) if hits else None


def plan_order(internal: Iterable[PackageKey], prewarm: Iterable[PackageKey],
               namespaces: Iterable[Namespace] = (),
               published: Iterable[PackageKey] = ()) -> Ordering:
    """The order in which both the internal publish and the public pre-warm of a name
    succeed (see the module doc). For the `prewarm` step: pre-warm `prewarm_first` before the
    run publishes; never try `impossible`. `published`: internal names whose versions already
    went into the repository (a run before this one), so upstream=BLOCK is set there."""
    namespaces = list(namespaces)
    wanted = set(internal)
    too_late = set(published)
    out = Ordering()
    for key in sorted(set(prewarm)):
        group = covering_group(namespaces, key.format, key.namespace, key.name)
        if group is not None:
            out.impossible.append((key, f"package group {group} blocks external upstreams "
                                        "for this internal namespace"))
        elif key in too_late:
            out.impossible.append((key, "its internal versions were published there first, "
                                        "which set upstream=BLOCK; pre-warm it through "
                                        "another repository, or set upstream=ALLOW on the "
                                        "package (PutPackageOriginConfiguration) and retry"))
        elif key in wanted:
            out.prewarm_first.append(key)
    return out


def order_from_state(manifest: Manifest, queue: WorkQueue,
                     repository_ids: Sequence[int] | None = None) -> Ordering:
    """`plan_order` for the copy and pre-warm repositories of the state (among
    `repository_ids`). Only pre-warms still to do can be too late."""
    internal: list[PackageKey] = []
    prewarm: list[PackageKey] = []
    started: set[PackageKey] = set()
    pending: set[PackageKey] = set()
    for u in package_uses(queue, repository_ids):
        key = PackageKey(u.target, u.format, u.namespace, u.package)
        if u.mode == "copy":
            internal.append(key)
            if u.open:
                started.add(key)
        else:
            prewarm.append(key)
            if u.open:
                pending.add(key)
    return plan_order(internal, prewarm, manifest.namespaces, started & pending)


def _protection(manifest: Manifest, fmt: str, namespace: str, name: str,
                repository: str) -> tuple[str, bool]:
    group = covering_group(manifest.namespaces, fmt, namespace, name)
    if group is not None:
        return (f"covered by package group {group} (EXTERNAL_UPSTREAM=BLOCK, set before the "
                "first internal version)", True)
    if manifest.options.origin_control == "block-upstream":
        return (f"publish=ALLOW, upstream=BLOCK set on the package in {repository} before its "
                "first version", True)
    return ("NOT protected: options.origin_control = 'leave'; set it to 'block-upstream' or "
            "add a [[namespaces]] entry covering the name", False)


async def connection_owner(control: TargetControl, repository: str, fmt: str,
                            cache: dict[str, RepositoryState | None],
                            failed: set[str] | None = None) -> tuple[str, str] | None:
    """(repository owning the connection, connection) first reached from `repository` in
    CodeArtifact's search order (depth-first, upstreams in order, at most 25 repositories).
    `failed` collects the repositories that could not be described (None then means "not
    known", not "no connection")."""
    seen: list[str] = []

    async def describe(name: str) -> RepositoryState | None:
        if name not in cache:
            try:
                cache[name] = await control.describe_repository(name)
            except NotFound:
                cache[name] = None
            except TargetError as exc:
                # Not knowing the chain must not stop a migration: the package's origin
                # configuration protects it either way; the report says it was not checked.
                logger.warning("dependency confusion: cannot describe %s: %s", name, exc)
                cache[name] = None
                if failed is not None:
                    failed.add(name)
        return cache[name]

    async def visit(name: str) -> tuple[str, str] | None:
        if name in seen or len(seen) >= _MAX_SEARCHED:
            return None
        seen.append(name)
        r = await describe(name)
        if r is None:
            return None
        for conn in r.external_connections:
            if EXTERNAL_CONNECTIONS.get(conn) == fmt:
                return name, conn
        for u in r.upstreams:
            hit = await visit(u)
            if hit is not None:
                return hit
        return None

    return await visit(repository)


async def check(manifest: Manifest, queue: WorkQueue, client: Any) -> ConfusionReport:
    """Look up every internal name of the state's `copy` repositories; record the findings
    in the state (merged with earlier ones) and return the report."""
    control, public, groups = TargetControl(client), PublicNames(client), PackageGroups(client)
    report = ConfusionReport()
    blocking = set()
    for ns in manifest.namespaces:
        group = await groups.describe(ns.group_pattern)
        if group is not None and group.modes.get("EXTERNAL_UPSTREAM") == "BLOCK":
            blocking.add(ns.group_pattern)
    cache: dict[str, RepositoryState | None] = {}
    failed: set[str] = set()
    jobs: list[tuple[PackageKey, str, str]] = []
    ours: dict[PackageKey, set[object]] = {}
    rows = [row for row in queue.repositories() if row["target"]
            and row["format"] in _PUBLIC_FORMATS and row["mode"] == "copy"]
    # Every target's chain at once (one round trip per level, not per repository: this runs
    # before the first publish). A chain that could not be read counts for all of them.
    owners: dict[tuple[str, str], tuple[str, str] | None] = {}

    async def find_owner(target: str, fmt: str) -> None:
        owners[target, fmt] = await connection_owner(control, target, fmt, cache, failed)

    async with anyio.create_task_group() as tg:
        for pair in dict.fromkeys((row["target"], row["format"]) for row in rows):
            tg.start_soon(find_owner, *pair)
    for row in rows:
        fmt, target = row["format"], row["target"]
        keys = [PackageKey(target, fmt, ns, name) for ns, name in queue.package_names(row["id"])]
        for (ns, name), versions in queue.package_versions(row["id"]).items():
            ours[PackageKey(target, fmt, ns, name)] = {_normal(fmt, v) for v in versions}
        owner = owners[target, fmt]
        if owner is None and failed:
            # A chain that could not be read may hold a connection: its names count as
            # maybe public, so they get origin control before their first publish.
            report.unchecked.append((target, fmt, "its upstream chain could not be read "
                                     f"({', '.join(sorted(failed))}): not checked"))
            report.unknown.extend(keys)
            continue
        if owner is None:
            report.unchecked.append((target, fmt, f"no {fmt} external connection in its "
                                     "upstream chain: no public name resolves through it"))
            continue
        for k in keys:
            group = covering_group(manifest.namespaces, fmt, k.namespace, k.name)
            if group in blocking:
                report.covered.append((k.display, target, group))
            else:
                jobs.append((k, *owner))
    limiter = anyio.CapacityLimiter(_CONCURRENCY)
    found: list[Finding] = []

    async def one(key: PackageKey, via: str, conn: str) -> None:
        async with limiter:
            try:
                versions = await public.versions(via, key.format, key.namespace, key.name)
            except CredentialsRefused:
                raise
            except TargetError as exc:
                report.unchecked.append((key.repository, key.format,
                                         f"{key.display}: the look-up failed: {exc}"))
                report.unknown.append(key)
                return
        # A repository that owns the connection itself lists the internal versions too, once
        # published: only the others are public.
        versions = [v for v in versions if _normal(key.format, v) not in ours.get(key, ())]
        if versions:
            protection, ok = _protection(manifest, key.format, key.namespace, key.name,
                                         key.repository)
            found.append(Finding(key.repository, key.format, key.namespace, key.name,
                                 key.display, conn, via, versions, protection, ok))

    async with anyio.create_task_group() as tg:
        for job in jobs:
            tg.start_soon(one, *job)
    report.checked = len(jobs)
    report.findings = _merge(queue, found)
    report.ordering = order_from_state(manifest, queue)
    report.read_requests = control.reads + public.reads + groups.reads
    return report


def _normal(fmt: str, version: str) -> object:
    """What a version compares as: PyPI's by PEP 440 (`1.0` equals and hashes as `1.0.0`),
    the others as written."""
    if fmt != "pypi":
        return version
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version)
    except InvalidVersion:
        return version


def _merge(queue: WorkQueue, found: list[Finding]) -> list[Finding]:
    """Earlier findings stay (a published name no longer shows upstream through its own
    repository); a new look-up of the same name replaces its entry."""
    merged = {tuple(f[k] for k in ("repository", "format", "namespace", "package")):
              Finding(**f) for f in queue.confusion_findings()}
    for f in found:
        merged[f.key()] = f
    out = [merged[k] for k in sorted(merged)]
    queue.set_meta(CONFUSION_FINDINGS, json.dumps([asdict(f) for f in out]))
    return out


async def protect_namespaces(manifest: Manifest, client: Any) -> list[str]:
    """Create the `[[namespaces]]` package groups that are missing and set their origin
    restrictions (EXTERNAL_UPSTREAM=BLOCK) where they differ; returns what was done."""
    groups = PackageGroups(client)
    done: list[str] = []
    for ns in manifest.namespaces:
        pattern = ns.group_pattern
        state = await groups.describe(pattern)
        if state is None:
            await groups.create(pattern, description=ns.description
                                or f"internal {ns.format} namespace {ns.pattern}",
                                contact_info=ns.contact_info)
            done.append(f"created package group {pattern}")
            todo = dict(INTERNAL_NAMESPACE)
        else:
            todo = state.differs(INTERNAL_NAMESPACE)
        if todo:
            await groups.set_origin(pattern, todo)
            done.append(f"{pattern}: " + ", ".join(f"{k}={v}" for k, v in todo.items()))
    return done


def check_manifest(manifest: Manifest, queue: WorkQueue, *, client: Any = None
                   ) -> ConfusionReport:
    """`check` with a CodeArtifact client of the manifest (or the injected `client`)."""

    async def main() -> ConfusionReport:
        if client is not None:
            return await check(manifest, queue, client)
        from migrator.target.codeartifact import CodeArtifactClient

        async with CodeArtifactClient.from_manifest(manifest) as owned:
            return await check(manifest, queue, owned)

    return anyio.run(main)
