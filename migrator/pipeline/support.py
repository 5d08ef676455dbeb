"""What the engine needs beside its loop: the target seam, stats, the summary, crash points.

`TargetAccess` is the engine's view of CodeArtifact: a publisher per format, the version
facts verification reads, the raw GET that pre-warms a public asset, and the npm dist-tag and
deprecation calls of finalize. `Stats` are per-worker counters summed with `+`. `RunSummary`
is read back from the state, so its numbers add up to the plan whatever happened in between.

Crash points make crash tests deterministic: with `MIGRATOR_TEST_CRASH_AT=<point>:<n>` in the
environment the process kills itself (SIGKILL, no clean-up) the n-th time it passes the named
point. Points: `crawl` (a page recorded), `mid-download` (a body written to its spool file,
before it is checked), `download` (an asset downloaded and checked, before it is published),
`recorded` / `recorded-<format>` (an asset's publish fact committed, before the next request
of its version, e.g. between the Maven jar PUT and the metadata PUT), `verify`
(CodeArtifact's facts read, before they are recorded).
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Protocol, runtime_checkable

from migrator import errors
from migrator.errors import MigratorError, SourceAuthError, SourceError, TargetAuthError
from migrator.models import ClaimedAsset, ClaimedVersion, Format, VersionCheck
from migrator.state import status as st
from migrator.target import Publisher

__all__ = [
    "CRASH_ENV",
    "FATAL_ERRORS",
    "VISIBLE_STATUSES",
    "EngineOptions",
    "RunSummary",
    "Stats",
    "TargetAccess",
    "compare_asset",
    "crash_point",
    "is_retryable",
    "summarise",
    "target_asset_name",
]

#: Errors that stop the whole run: a person must fix the credentials.
FATAL_ERRORS = (SourceAuthError, TargetAuthError)
#: Target statuses a verified version may have (Unlisted: an older Maven SNAPSHOT build).
VISIBLE_STATUSES = ("Published", "Unlisted")

CRASH_ENV = "MIGRATOR_TEST_CRASH_AT"
_crash_counts: Counter[str] = Counter()


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL the n-th time `name` is reached (tests only).

    `<point>:<n>:<SIGNAL>` sends that signal instead (e.g. `recorded:3:SIGTERM`), once, so a
    test of the graceful stop gets its signal at a known point rather than at a guessed time.
    """
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return
    point, _, rest = spec.partition(":")
    if point != name:
        return
    nth, _, signame = rest.partition(":")
    _crash_counts[name] += 1
    if _crash_counts[name] == int(nth or 1):
        os.kill(os.getpid(), signal.Signals[signame or "SIGKILL"])


@runtime_checkable
class TargetAccess(Protocol):
    """The engine's view of CodeArtifact (an adapter over the CodeArtifact client)."""

    def publisher(self, fmt: Format) -> Publisher:
        """The publisher of one format."""
        ...

    async def check_version(self, version: ClaimedVersion) -> VersionCheck:
        """DescribePackageVersion + ListPackageVersionAssets of the version in its target
        repository; `status` None when the version is not there (yet)."""
        ...

    async def request_asset(self, version: ClaimedVersion, asset: ClaimedAsset) -> None:
        """GET the asset through the target repository's native endpoint (pre-warm)."""
        ...

    async def protect_origin(self, version: ClaimedVersion) -> None:
        """PutPackageOriginConfiguration(publish=ALLOW, upstream=BLOCK) on the version's
        package in its target repository: an internal name never resolves from upstream
        (dependency confusion), and a version already ingested from upstream cannot block
        the publish."""
        ...

    async def restore_npm(self, target_repository: str, source_repository: str,
                          name: str) -> Mapping[str, Any]:
        """Put the source's dist-tags and deprecation messages on one npm package (`@scope/
        name` or `name`); returns what was set and skipped."""
        ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class Stats:
    """What one worker did; `a + b` sums them."""

    versions: int = 0
    downloads: int = 0
    bytes_downloaded: int = 0
    published: int = 0
    identical: int = 0
    verified: int = 0
    requested: int = 0
    ingested: int = 0
    conflicts: int = 0
    retryable: int = 0
    permanent: int = 0

    def __add__(self, other: Stats) -> Stats:
        return Stats(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                        for f in fields(self)})

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


PENDING = (st.DISCOVERED, st.CLAIMED, st.PUBLISHED, st.FAILED_RETRYABLE, st.REQUESTED)


@dataclass
class RunSummary:
    """The end of a run, read from the state: per repository and status, plus this run's work.

    `assets` counts every asset of the repositories in scope by status; they add up to
    `planned` (what the crawl recorded). `exit_code`: 0 when nothing is pending and nothing
    failed, 1 when something failed, conflicts or is still pending, 3 when interrupted.
    """

    repositories: dict[str, Any]
    stats: Stats = field(default_factory=Stats)
    failures: list[dict[str, Any]] = field(default_factory=list)
    elapsed: float = 0.0
    interrupted: bool = False
    finalize: dict[str, Any] = field(default_factory=dict)

    @property
    def assets(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for r in self.repositories.values():
            out.update(r["assets"])
        return dict(out)

    @property
    def versions(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for r in self.repositories.values():
            out.update(r["versions"])
        return dict(out)

    @property
    def planned(self) -> int:
        return sum(self.assets.values())

    @property
    def pending(self) -> int:
        return sum(n for s, n in self.assets.items() if s in PENDING) + sum(
            n for s, n in self.versions.items() if s in PENDING)

    @property
    def problems(self) -> int:
        return sum(n for s, n in self.assets.items() if s in st.PROBLEMS) + sum(
            n for s, n in self.versions.items() if s in st.PROBLEMS)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 3
        return 1 if self.problems or self.pending else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "interrupted": self.interrupted,
            "elapsed_seconds": round(self.elapsed, 2),
            "planned_assets": self.planned,
            "assets": self.assets,
            "versions": self.versions,
            "this_run": self.stats.as_dict(),
            "repositories": self.repositories,
            "failures": self.failures,
            "finalize": self.finalize,
        }

    def render(self) -> str:
        order = [s for s in st.ALL if s in self.assets]
        head = ("repository", *order, "total")
        rows = [head]
        for name, r in self.repositories.items():
            a = r["assets"]
            rows.append((name, *(str(a.get(s, 0)) for s in order), str(sum(a.values()))))
        totals = self.assets
        rows.append(("TOTAL", *(str(totals.get(s, 0)) for s in order), str(self.planned)))
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                 for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        s = self.stats
        lines.append(f"this run: {s.published} published, {s.identical} already there, "
                     f"{s.verified} verified, {s.ingested} pre-warmed, "
                     f"{s.bytes_downloaded / 1e6:.1f} MB downloaded in {self.elapsed:.1f} s")
        if self.finalize:
            tags = sum(len(f.get("set") or {}) for f in self.finalize.values())
            lines.append(f"npm: dist-tags restored on {len(self.finalize)} package(s) "
                         f"({tags} tags)")
            for name, f in self.finalize.items():
                for tag, why in (f.get("skipped") or {}).items():
                    lines.append(f"  {name}: dist-tag {tag} not set: {why}")
                if f.get("error"):
                    lines.append(f"  {name}: dist-tags not restored: {f['error']}")
        for f in self.failures:
            lines.append(f"  {f['status']}: {f['repository']}/{f['path']}: {f['reason']}")
        if self.interrupted:
            lines.append("interrupted: the state is saved; `migrator resume` continues")
        elif self.pending:
            lines.append(f"{self.pending} items still pending (retry times not reached); run "
                         "again to continue")
        return "\n".join(lines)


def state_counts(queue: Any, repository_ids: list[int] | None = None) -> dict[str, Any]:
    """Assets (and bytes) and versions per repository and status, read from the state.

    An asset of an excluded version counts as excluded (snapshot policies exclude whole
    versions and leave their assets alone), so every asset is in exactly one status.
    """
    conn = queue.conn
    repos = {r["id"]: r for r in queue.repositories()
             if repository_ids is None or r["id"] in repository_ids}
    out: dict[str, Any] = {}
    for r in repos.values():
        out[r["source"]] = {"target": r["target"], "format": r["format"], "mode": r["mode"],
                            "stage": r["stage"], "crawl": r["crawl_status"],
                            "assets": {}, "bytes": {}, "versions": {}}
    for rid, status, n, size in conn.execute(
            "SELECT a.repository_id, CASE WHEN v.status = 'excluded' THEN 'excluded' "
            "ELSE a.status END, count(*), total(a.size) FROM assets a LEFT JOIN versions v "
            "ON v.id = a.version_id GROUP BY 1, 2"):
        if rid in repos:
            slot = out[repos[rid]["source"]]
            slot["assets"][status] = n
            slot["bytes"][status] = int(size)
    for rid, status, n in conn.execute(
            "SELECT repository_id, status, count(*) FROM versions WHERE package != '' "
            "GROUP BY 1, 2"):
        if rid in repos:
            out[repos[rid]["source"]]["versions"][status] = n
    return out


_FINAL = frozenset({*st.DONE, *st.PROBLEMS})


class Progress:
    """A tqdm bar of assets brought to a final status, with bytes, rate, ETA and failures.

    Silent (no bar at all) when disabled; the CLI disables it when stderr is not a TTY or
    with --no-progress. Log lines go through `logging_redirect_tqdm` around the run.
    """

    def __init__(self, total: int, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.bytes = 0
        self.failures = 0
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="asset", dynamic_ncols=True, smoothing=0.1,
                            desc="migrating")

    def add_bytes(self, n: int) -> None:
        self.bytes += n

    def update_from(self, engine: Any, finished: list[Any]) -> None:
        done = 0
        for m in finished:
            r = m.result
            if r.status in _FINAL:
                v = engine.in_flight.get(r.version_id)
                done += len(r.assets) if v is None else len(v.assets)
            if r.status in (st.FAILED_PERMANENT, st.CONFLICT):
                self.failures += 1
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.bytes / 1e6:.1f} MB, {self.failures} failed",
                                     refresh=False)
            self.bar.update(done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass(frozen=True, kw_only=True)
class EngineOptions:
    """How the engine paces itself (the manifest's options plus timings tests shorten)."""

    concurrency: int = 8
    source_concurrency: int = 4
    max_attempts: int = 5
    lease_seconds: float = 300.0
    retry_base: float = 2.0  # first back-off of a failed version; doubles per attempt
    retry_cap: float = 300.0
    verify_timeout: float = 60.0  # polling for eventual consistency, per claim
    verify_first_wait: float = 0.1
    # Pre-warm: ingestion takes about 3 minutes on AWS. One claim polls this long; a version
    # not ingested by then is retried with back-off (the GET repeated) until max_attempts.
    confirm_timeout: float = 60.0
    grace_seconds: float = 20.0  # after SIGINT/SIGTERM, for versions in flight
    batch: int = 500
    stage: int | None = None
    # CodeArtifact's asset size quota (5 GB by default, adjustable per account): larger files
    # fail at once, before a download that could only be refused. None: no check.
    max_asset_bytes: int | None = 5 * 1024**3
    # The manifest's origin-control policy: "block-upstream" sets publish=ALLOW,
    # upstream=BLOCK on every package before its first version is published; "leave" never
    # touches origin configuration.
    origin_control: str = "block-upstream"

    @classmethod
    def from_manifest(cls, manifest: Any, **overrides: Any) -> EngineOptions:
        o = manifest.options
        return cls(**{"concurrency": o.concurrency, "source_concurrency": o.source_concurrency,
                      "max_attempts": o.max_attempts, "origin_control": o.origin_control,
                      **overrides})


def is_retryable(exc: BaseException) -> bool:
    """failed_retryable (True) or failed_permanent (False) for an error from a step.

    An explicit `retryable` attribute wins (target errors carry one); a source answer such
    as 404 is permanent; other source/target failures (servers down, kept failing) and
    unexpected errors are retried, bounded by max_attempts.
    """
    flag = getattr(exc, "retryable", None)
    if flag is not None:
        return bool(flag)
    if isinstance(exc, SourceError) and getattr(exc, "status", None) is not None:
        return int(exc.status) in (408, 429) or int(exc.status) >= 500
    return True


def target_asset_name(version: ClaimedVersion, asset: ClaimedAsset) -> str:
    """The asset's name in CodeArtifact: npm versions have one asset, `package.tgz`."""
    if version.format is Format.NPM:
        return "package.tgz"
    if version.format is Format.GENERIC:
        return str(asset.extra.get("asset") or asset.filename)
    return asset.filename


def reason_text(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return text if isinstance(exc, MigratorError) else f"{type(exc).__name__}: {text}"


def compare_asset(a: ClaimedAsset, facts: Mapping[str, Any],
                  target: Mapping[str, str]) -> str | None:
    """Why CodeArtifact's asset differs from what we downloaded / the source said, or None."""
    size = facts.get("size")
    if a.size is not None and size is not None and int(size) != a.size:
        return f"size: source {a.size}, CodeArtifact {size}"
    if "sha256" not in target:
        return "CodeArtifact reported no SHA-256"
    for alg, theirs in target.items():
        for label, ours in (("downloaded", a.downloaded_hashes.get(alg)),
                            ("source", a.source_hashes.get(alg))):
            if ours and ours.lower() != theirs:
                return f"{alg}: {label} {ours}, CodeArtifact {theirs}"
    return None


def lower_hashes(hashes: Mapping[str, str] | None) -> dict[str, str] | None:
    if not hashes:
        return None
    out = {}
    for k, val in hashes.items():
        key = k.lower().replace("-", "")
        if key in ("md5", "sha1", "sha256", "sha512") and val:
            out[key] = str(val).lower()
    return out or None


def display_version(v: ClaimedVersion) -> str:
    ns = f"{v.namespace}:" if v.format is Format.MAVEN and v.namespace else (
        f"@{v.namespace}/" if v.namespace and v.format is Format.NPM else
        (f"{v.namespace}/" if v.namespace else ""))
    return f"{v.source_repository}: {ns}{v.package}@{v.version}"


def first_error(group: BaseExceptionGroup) -> BaseException:
    """The error a task group of the engine ends with: a fatal one first."""
    return errors.first_error(group, prefer=FATAL_ERRORS)


def summarise(queue: Any, engine: Any, *, elapsed: float = 0.0,
              interrupted: bool = False, failures: int = 50,
              finalize: dict[str, Any] | None = None) -> RunSummary:
    """The run's summary, read from the state (numbers add up to the plan)."""
    ids = engine.repository_ids if engine else None
    repos = state_counts(queue, ids)
    names = set(repos)
    fails = [f for f in queue.failures(failures) if f["repository"] in names]
    return RunSummary(repositories=repos, stats=engine.stats if engine else Stats(),
                      failures=fails, elapsed=elapsed, interrupted=interrupted,
                      finalize=finalize or {})
