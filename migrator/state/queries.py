"""Read queries over a state: the one source of counts, and what each step needs to read.

`counts()` is the only counting query: `migrator status`, the run summary and every report
take their numbers from it, so they agree. Its rule: every asset is counted once, under its
own status, except that the assets of an excluded version count as excluded (a snapshot policy
excludes whole versions and leaves their assets' rows alone).

Everything here only reads; `WorkQueue` inherits it (`migrator.state.queue`).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrator.models import HASH_ALGORITHMS, ClaimedAsset, ClaimedVersion, Format, RunSample
from migrator.state.db import guard_sqlite

__all__ = ["AssetRow", "Failure", "NpmPackage", "Queries", "RepositoryCounts", "SnapshotBuild"]

_HASH_COLS = {p: [f"{p}_{a}" for a in HASH_ALGORITHMS] for p in ("src", "dl", "tgt")}
_ASSET_COLS = ["id", "version_id", "path", "filename", "kind", "size", "status",
               *_HASH_COLS["src"], *_HASH_COLS["dl"], *_HASH_COLS["tgt"], "extra"]
#: Version statuses after which nothing more happens in a run.
_SETTLED = ("verified", "skipped_identical", "ingested", "excluded", "conflict",
            "failed_permanent", "not_found_upstream", "blocked_by_origin_control",
            "deleted_at_source")


@dataclass
class RepositoryCounts:
    """One repository of the state: its mapping, its crawl, and counts by status."""

    source: str
    target: str | None
    format: str
    mode: str
    stage: int | str
    crawl: str
    pages: int
    assets: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "format": self.format, "mode": self.mode,
                "stage": self.stage, "crawl": self.crawl, "pages": self.pages,
                "assets": dict(self.assets), "bytes": dict(self.bytes),
                "versions": dict(self.versions)}


@dataclass(frozen=True)
class Failure:
    """A problem asset (conflict, failed for good, or waiting for a retry) and why."""

    repository: str
    path: str
    status: str
    reason: str | None
    attempts: int

    def as_dict(self) -> dict[str, Any]:
        return {"repository": self.repository, "path": self.path, "status": self.status,
                "reason": self.reason, "attempts": self.attempts}


@dataclass(frozen=True)
class AssetRow:
    """One asset of the state as reports show it: where it came from, its package version,
    its effective status (the assets of an excluded version are excluded, as in `counts`),
    why (the asset's reason, else its version's), and the three sets of hashes."""

    repository: str
    target: str | None
    format: str
    mode: str
    namespace: str
    package: str
    version: str
    version_status: str
    path: str
    filename: str
    kind: str
    size: int | None
    status: str
    reason: str | None
    attempts: int
    source_hashes: dict[str, str]
    downloaded_hashes: dict[str, str]
    target_hashes: dict[str, str]
    extra: dict[str, Any]
    version_extra: dict[str, Any]
    updated_at: float


@dataclass(frozen=True)
class NpmPackage:
    """An npm package whose versions in the state are all settled (finalize restores its
    dist-tags and deprecations); `versions` is `version:status` for each of them."""

    repository_id: int
    source: str
    target: str | None
    name: str
    versions: tuple[str, ...]


@dataclass(frozen=True)
class SnapshotBuild:
    """One timestamped build of a Maven SNAPSHOT, still to be migrated."""

    version_id: int
    namespace: str
    package: str
    version: str
    base_version: str
    timestamp: str
    build: int


def _json_ids(ids: Iterable[int]) -> str:
    return json.dumps(list(ids))


@guard_sqlite
class Queries:
    """Read-only queries; mixed into `WorkQueue`, which provides `conn` and `path`.

    Every public method turns the SQLite errors an operator can act on (damaged pages, a
    full disk, ...) into a one-line `StateError` (`migrator.state.db.guard_sqlite`)."""

    conn: sqlite3.Connection
    path: Path

    # -- repositories ------------------------------------------------------------------------

    def repositories(self) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT * FROM repositories ORDER BY id")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur]

    def repository_ids(self, *, stage: int | str | None = None) -> list[int]:
        """Repositories in scope: all, or those of the wave `stage` (a number or a name)."""
        return [r["id"] for r in self.repositories() if stage is None or r["stage"] == stage]

    def needs_plan(self) -> bool:
        """No completed crawl yet, or a crawl that was interrupted."""
        repos = self.repositories()
        open_plan = self.conn.execute("SELECT value FROM meta WHERE key = 'plan.crawl_open'"
                                      ).fetchone()
        return (not repos or (open_plan is not None and open_plan[0] == "1")
                or any(r["crawl_status"] != "complete" for r in repos
                       if r["mode"] in ("copy", "prewarm")))

    # -- the counts --------------------------------------------------------------------------

    def counts(self, repository_ids: Sequence[int] | None = None) -> dict[str, RepositoryCounts]:
        """Assets (with bytes) and package versions per repository and status."""
        repos = {r["id"]: r for r in self.repositories()
                 if repository_ids is None or r["id"] in repository_ids}
        out = {r["source"]: RepositoryCounts(
            source=r["source"], target=r["target"], format=r["format"], mode=r["mode"],
            stage=r["stage"], crawl=r["crawl_status"], pages=r["crawl_pages"])
            for r in repos.values()}
        for rid, status, n, size in self._effective_counts():
            if rid in repos:
                slot = out[repos[rid]["source"]]
                slot.assets[status] = n
                slot.bytes[status] = int(size)
        for rid, status, n in self.conn.execute(
                "SELECT repository_id, status, count(*) FROM versions GROUP BY 1, 2"):
            if rid in repos:
                out[repos[rid]["source"]].versions[status] = n
        return out

    def _effective_counts(self) -> list[tuple[int, str, int, float]]:
        """(repository id, effective status, assets, bytes): an asset counts under its own
        status, except that the assets of an excluded version are excluded.

        Two indexed reads instead of one join of every asset with its version: the counts by
        the assets' own status come from the covering index (repository_id, status, size),
        then the few assets of excluded versions move to `excluded` (versions_status, then
        assets_version). 0.1 s instead of 1 s on a million assets. The index alone would
        not notice a damaged table: the first and last rows are read too (a walk down each
        edge of the table's b-tree), so damage at its root is one StateCorruptError here,
        as a full scan met it; a run checks the whole file before it writes."""
        self.conn.execute("SELECT (SELECT min(id) FROM assets NOT INDEXED), "
                          "(SELECT max(id) FROM assets NOT INDEXED)").fetchone()
        counts: dict[tuple[int, str], list[float]] = {
            (rid, status): [n, size] for rid, status, n, size in self.conn.execute(
                "SELECT repository_id, status, count(*), total(size) FROM assets "
                "GROUP BY 1, 2")}
        for rid, status, n, size in self.conn.execute(
                "SELECT a.repository_id, a.status, count(*), total(a.size) FROM versions v "
                "JOIN assets a ON a.version_id = v.id WHERE v.status = 'excluded' "
                "AND a.status != 'excluded' GROUP BY 1, 2"):
            own = counts[(rid, status)]
            own[0] -= n
            own[1] -= size
            moved = counts.setdefault((rid, "excluded"), [0, 0.0])
            moved[0] += n
            moved[1] += size
        return [(rid, status, int(n), size) for (rid, status), (n, size) in counts.items()
                if n]

    def asset_total(self) -> int:
        """How many assets the state holds (the plan), counted without statuses: reports
        check that `counts()` adds up to it."""
        return int(self.conn.execute("SELECT count(*) FROM assets").fetchone()[0])

    def asset_rows(self, statuses: Sequence[str] | None = None) -> Iterator[AssetRow]:
        """Every asset (or those whose effective status is in `statuses`), in repository and
        path order, streamed (reports, the certificate)."""
        n = len(HASH_ALGORITHMS)
        status_expr = "CASE WHEN v.status = 'excluded' THEN 'excluded' ELSE a.status END"
        where, args = "", []
        if statuses is not None:
            where = f"WHERE {status_expr} IN (SELECT value FROM json_each(?))"
            args.append(json.dumps(list(statuses)))
        cur = self.conn.execute(
            f"SELECT r.source, r.target, r.format, r.mode, coalesce(v.namespace, ''), "
            f"coalesce(v.package, ''), coalesce(v.version, ''), coalesce(v.status, ''), "
            f"a.path, a.filename, a.kind, a.size, {status_expr}, coalesce(a.reason, v.reason), "
            f"a.attempts, {', '.join(_HASH_COLS['src'] + _HASH_COLS['dl'] + _HASH_COLS['tgt'])},"
            f" a.extra, v.extra, a.updated_at FROM assets a JOIN repositories r ON "
            f"r.id = a.repository_id LEFT JOIN versions v ON v.id = a.version_id {where} "
            f"ORDER BY r.id, a.path", args)
        for row in cur:
            h = row[15:15 + 3 * n]

            def pick(offset: int, h: tuple = h) -> dict[str, str]:
                return {a: v for a, v in zip(HASH_ALGORITHMS, h[offset:offset + n],
                                             strict=True) if v}

            a_extra, v_extra, updated = row[15 + 3 * n:]
            yield AssetRow(*row[:15], source_hashes=pick(0), downloaded_hashes=pick(n),
                           target_hashes=pick(2 * n),
                           extra=json.loads(a_extra) if a_extra else {},
                           version_extra=json.loads(v_extra) if v_extra else {},
                           updated_at=float(updated))

    def version_ids_of(self, items: Iterable[tuple[str, str]]) -> tuple[dict[int, str], list]:
        """The package versions holding the assets `(repository, path)`: version id → its
        status, and the items the state does not hold (or that belong to no version)."""
        found: dict[int, str] = {}
        missing: list[tuple[str, str]] = []
        for repo, path in items:
            row = self.conn.execute(
                "SELECT v.id, v.status FROM assets a JOIN repositories r ON "
                "r.id = a.repository_id JOIN versions v ON v.id = a.version_id WHERE "
                "r.source = ? AND a.path = ?", (repo, path)).fetchone()
            if row is None:
                missing.append((repo, path))
            else:
                found[int(row[0])] = row[1]
        return found, missing

    def failures(self, limit: int = 50, repository_ids: Sequence[int] | None = None
                 ) -> tuple[list[Failure], int]:
        """The first `limit` problem assets (conflicts, failed for good or waiting for a
        retry) with their reasons, and how many there are in all."""
        # The repository ids always in the condition: with them SQLite seeks the
        # (repository_id, status) index instead of reading every asset.
        if repository_ids is None:
            repository_ids = [r["id"] for r in self.repositories()]
        where = ("a.repository_id IN (SELECT value FROM json_each(?)) AND a.status IN "
                 "('conflict', 'failed_permanent', 'failed_retryable', "
                 "'not_found_upstream', 'blocked_by_origin_control')")
        args: list[Any] = [_json_ids(repository_ids)]
        total = self.conn.execute(f"SELECT count(*) FROM assets a WHERE {where}",
                                  args).fetchone()[0]
        cur = self.conn.execute(
            f"SELECT r.source, a.path, a.status, a.reason, a.attempts FROM assets a "
            f"JOIN repositories r ON r.id = a.repository_id WHERE {where} ORDER BY a.id "
            f"LIMIT ?", [*args, limit])
        return [Failure(*row) for row in cur], int(total)

    def todo_counts(self, repository_ids: Sequence[int]) -> tuple[int, int]:
        """Assets a run still has to put into the target, and to verify (the progress
        bars' totals): of versions not settled, those not published yet, and those not
        verified yet."""
        row = self.conn.execute(
            f"SELECT total(a.status IN ('discovered', 'failed_retryable')), "
            f"total(a.status IN ('discovered', 'failed_retryable', 'published', 'requested')) "
            f"FROM assets a JOIN versions v ON v.id = a.version_id WHERE "
            f"v.status NOT IN {_SETTLED} AND a.repository_id IN "
            f"(SELECT value FROM json_each(?))", (_json_ids(repository_ids),)).fetchone()
        return int(row[0]), int(row[1])

    # -- what the pipeline reads -------------------------------------------------------------

    def next_due(self, repository_ids: Sequence[int]) -> float | None:
        """When the next version waiting in scope can be claimed (a verification, a retry, a
        pre-warm check, a lease running out), or None when none waits."""
        row = self.conn.execute(
            "SELECT min(CASE WHEN status = 'claimed' THEN lease_expires ELSE next_attempt_at "
            "END) FROM versions WHERE status IN ('failed_retryable', 'requested', 'claimed', "
            "'published') "
            "AND repository_id IN (SELECT value FROM json_each(?))",
            (_json_ids(repository_ids),)).fetchone()
        return None if row[0] is None else float(row[0])

    def claim_owners(self) -> list[str]:
        """Every owner holding a claim (after a crash: the dead process's id)."""
        return [row[0] for row in self.conn.execute(
            "SELECT DISTINCT lease_owner FROM versions WHERE status = 'claimed' AND "
            "lease_owner IS NOT NULL")]

    def settled_npm_packages(self, repository_ids: Sequence[int],
                             only: Iterable[tuple[int, str, str]] | None = None
                             ) -> list[NpmPackage]:
        """npm packages (copy mode) whose versions are all settled, with one verified or
        already there: their dist-tags and deprecations can be restored. `only`: just these
        (repository id, namespace, package), each looked up by the versions' unique index."""
        query = (
            "SELECT r.id, r.source, r.target, v.namespace, v.package, "
            "group_concat(v.version || ':' || v.status, ',') FROM versions v JOIN repositories "
            "r ON r.id = v.repository_id WHERE r.format = 'npm' AND r.mode = 'copy' "
            "AND v.package != '' AND r.id IN (SELECT value FROM json_each(?)){} "
            "GROUP BY r.id, v.namespace, v.package HAVING sum(v.status NOT IN "
            "('verified', 'skipped_identical', 'excluded', 'conflict', 'failed_permanent', "
            "'deleted_at_source')) = 0"
            " AND sum(v.status IN ('verified', 'skipped_identical')) > 0")
        ids = _json_ids(repository_ids)
        if only is None:
            rows = self.conn.execute(query.format(""), (ids,)).fetchall()
        else:
            one = query.format(" AND v.repository_id = ? AND v.namespace = ? AND v.package = ?")
            rows = [row for key in sorted(set(only))
                    for row in self.conn.execute(one, (ids, *key)).fetchall()]
        return [NpmPackage(rid, source, target, f"@{ns}/{pkg}" if ns else pkg,
                           tuple(sorted(versions.split(","))))
                for rid, source, target, ns, pkg, versions in rows]

    def npm_scopes(self, repository_id: int) -> list[str]:
        """The npm scopes (namespaces, without `@`; '' for unscoped packages) of the versions
        of one repository that are in the target (verified or already there), sorted: the
        scoped registries the cut-over kit's `.npmrc` names."""
        return [row[0] for row in self.conn.execute(
            "SELECT DISTINCT namespace FROM versions WHERE repository_id = ? AND status IN "
            "('verified', 'skipped_identical', 'ingested') ORDER BY namespace",
            (repository_id,))]

    def verified_versions(self, repository_ids: Sequence[int] | None = None
                          ) -> list[ClaimedVersion]:
        """Versions of copy repositories that are verified (or were already there), with
        their verified assets, shaped like a claim but without one (`migrator verify`)."""
        repos = {r["id"]: r for r in self.repositories()
                 if r["mode"] == "copy" and (repository_ids is None or r["id"] in
                                             repository_ids)}
        out: dict[int, ClaimedVersion] = {}
        for vid, rid, fmt, ns, pkg, ver, extra in self.conn.execute(
                "SELECT id, repository_id, format, namespace, package, version, extra FROM "
                "versions WHERE status IN ('verified', 'skipped_identical') AND repository_id "
                "IN (SELECT value FROM json_each(?)) ORDER BY id", (_json_ids(repos),)):
            r = repos[rid]
            out[vid] = ClaimedVersion(
                id=vid, repository_id=rid, source_repository=r["source"],
                target_repository=r["target"], mode=r["mode"], format=Format(fmt),
                namespace=ns, package=pkg, version=ver, claimed_from="verified", attempts=0,
                extra=json.loads(extra) if extra else {})
        self._attach_assets(out, "status IN ('verified', 'skipped_identical')")
        return list(out.values())

    def _attach_assets(self, versions: dict[int, ClaimedVersion], where: str) -> None:
        """Load the assets (matching `where`) of `versions` into them, in id order."""
        cur = self.conn.execute(
            f"SELECT {', '.join(_ASSET_COLS)} FROM assets WHERE version_id IN "
            f"(SELECT value FROM json_each(?)) AND {where} ORDER BY id",
            (_json_ids(versions),))
        n = len(HASH_ALGORITHMS)
        for row in cur:
            h = row[7:7 + 3 * n]

            def pick(offset: int, h: tuple = h) -> dict[str, str]:
                return {a: v for a, v in zip(HASH_ALGORITHMS, h[offset:offset + n],
                                             strict=True) if v}

            versions[row[1]].assets.append(ClaimedAsset(
                id=row[0], path=row[2], filename=row[3], kind=row[4], size=row[5],
                status=row[6], source_hashes=pick(0), downloaded_hashes=pick(n),
                target_hashes=pick(2 * n), extra=json.loads(row[-1]) if row[-1] else {}))

    # -- what the plan reads -----------------------------------------------------------------

    def snapshot_builds(self, repository_id: int) -> list[SnapshotBuild]:
        """Timestamped SNAPSHOT builds still discovered in one Maven repository."""
        rows = self.conn.execute(
            "SELECT v.id, v.namespace, v.package, v.version, "
            "json_extract(a.extra, '$.base_version'), "
            "json_extract(a.extra, '$.snapshot_timestamp'), "
            "json_extract(a.extra, '$.build_number') FROM versions v JOIN assets a "
            "ON a.version_id = v.id WHERE v.repository_id = ? AND v.status = 'discovered' "
            "AND json_extract(a.extra, '$.build_number') IS NOT NULL GROUP BY v.id",
            (repository_id,)).fetchall()
        return [SnapshotBuild(vid, ns, pkg, ver, str(base), str(stamp), int(build))
                for vid, ns, pkg, ver, base, stamp, build in rows]

    def plan_breakdown(self, repository_id: int) -> dict[str, Any]:
        """For the plan of one repository: why files are excluded or refused (reason →
        count), and the wanted files, their versions, bytes and distinct packages."""
        excluded: dict[str, int] = defaultdict(int)
        refused: dict[str, int] = defaultdict(int)
        for a_status, a_reason, v_reason, n in self.conn.execute(
                "SELECT a.status, a.reason, v.reason, count(*) FROM assets a "
                "LEFT JOIN versions v ON v.id = a.version_id WHERE a.repository_id = ? "
                "AND (a.status IN ('excluded', 'failed_permanent') OR v.status = 'excluded') "
                "GROUP BY 1, 2, 3", (repository_id,)):
            if a_status == "failed_permanent":
                refused[a_reason or "refused"] += n
            elif a_status == "excluded":
                excluded[a_reason or "excluded"] += n
            else:
                excluded[v_reason or "excluded"] += n
        files, versions, size, packages = self.conn.execute(
            "SELECT count(*), count(DISTINCT a.version_id), total(a.size), "
            "count(DISTINCT v.namespace || '/' || v.package) FROM assets a "
            "JOIN versions v ON v.id = a.version_id WHERE a.repository_id = ? AND a.status "
            "NOT IN ('excluded', 'failed_permanent') AND v.status != 'excluded'",
            (repository_id,)).fetchone()
        return {"excluded": dict(excluded), "refused": dict(refused), "files": files,
                "versions": versions, "bytes": int(size), "packages": packages}

    # -- dependency confusion ------------------------------------------------------------------

    def package_names(self, repository_id: int) -> list[tuple[str, str]]:
        """The distinct (namespace, package) of one repository's wanted versions."""
        return [(ns or "", name) for ns, name in self.conn.execute(
            "SELECT DISTINCT namespace, package FROM versions WHERE repository_id = ? AND "
            "status != 'excluded' ORDER BY 1, 2", (repository_id,))]

    def package_versions(self, repository_id: int) -> dict[tuple[str, str], set[str]]:
        """(namespace, package) → the versions the state holds for it in one repository."""
        out: dict[tuple[str, str], set[str]] = defaultdict(set)
        for ns, name, version in self.conn.execute(
                "SELECT namespace, package, version FROM versions WHERE repository_id = ?",
                (repository_id,)):
            out[(ns or "", name)].add(version)
        return dict(out)

    def confusion_findings(self) -> list[dict[str, Any]]:
        """The dependency-confusion findings recorded by the last check (internal names that
        also exist in a public registry), each with what protects it."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?",
                                (CONFUSION_FINDINGS,)).fetchone()
        return json.loads(row[0]) if row and row[0] else []

    # -- live status (`migrator status` while a run is going) --------------------------------

    def asset_sizes(self, asset_ids: Iterable[int]) -> dict[int, int]:
        """The recorded size of each asset id (unknown sizes count 0): the sampler turns the
        facts the writer commits into bytes."""
        return {int(i): int(n or 0) for i, n in self.conn.execute(
            "SELECT id, size FROM assets WHERE id IN (SELECT value FROM json_each(?))",
            (_json_ids(asset_ids),))}

    def runs(self, limit: int = 1) -> list[dict[str, Any]]:
        """The last `limit` runs recorded in the state, newest first (command, pid, host,
        started_at, finished_at: None while it runs or after it was killed, exit_code)."""
        cur = self.conn.execute("SELECT id, command, pid, host, started_at, finished_at, "
                                "exit_code FROM runs ORDER BY id DESC LIMIT ?", (limit,))
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur]

    def samples(self, run_id: int | None, since: float = 0.0, *, last: bool = False
                ) -> list[RunSample]:
        """The samples of one run taken at or after `since`, oldest first (with `last`: only
        the newest one); none when the state predates them (a read-only open does not
        migrate an older state)."""
        if not self._has_table("run_samples"):
            return []
        order = "ORDER BY at DESC, id DESC LIMIT 1" if last else "ORDER BY at, id"
        cur = self.conn.execute(
            f"SELECT at, published_assets, published_bytes, verified_assets, verified_bytes, "
            f"settled_assets, writes, reads, throttled, write_rate, budget FROM run_samples "
            f"WHERE run_id IS ? AND at >= ? {order}", (run_id, since))
        return [RunSample(*row) for row in cur]

    def recent_problems(self, limit: int = 5) -> list[Failure]:
        """The problem assets most recently recorded (the last errors), newest first."""
        cur = self.conn.execute(
            "SELECT r.source, a.path, a.status, a.reason, a.attempts FROM assets a "
            "JOIN repositories r ON r.id = a.repository_id WHERE a.status IN "
            "('conflict', 'failed_permanent', 'failed_retryable') "
            "ORDER BY a.updated_at DESC, a.id DESC LIMIT ?", (limit,))
        return [Failure(*row) for row in cur]

    def asset_keys(self) -> Iterator[tuple[str, str]]:
        """Every asset as (source repository, path), streamed: what merging shard states
        checks for overlap."""
        yield from self.conn.execute(
            "SELECT r.source, a.path FROM assets a JOIN repositories r ON "
            "r.id = a.repository_id")

    def read_snapshot(self) -> Any:
        """A context manager holding one read transaction: every query inside sees the same
        committed state (WAL: the writer goes on meanwhile, nothing is locked)."""
        return _ReadSnapshot(self.conn)

    def _has_table(self, name: str) -> bool:
        return self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                 "name = ?", (name,)).fetchone() is not None

    # -- waves (`migrator status` by stage) ------------------------------------------------

    def stage_counts(self) -> dict[str, dict[str, int]]:
        """Assets per stage (as text: `1`, `pilot`) and effective status, counted by the same
        rule as `counts` (the assets of an excluded version are excluded)."""
        stage_of = {r["id"]: r["stage"] for r in self.repositories()}

        def order(stage: Any) -> tuple[int, Any]:  # SQLite's: NULL, numbers, then text
            return (0, 0) if stage is None else (1, stage) if isinstance(stage, int | float) \
                else (2, str(stage))

        out: dict[str, dict[str, int]] = {}
        known = [row for row in self._effective_counts() if row[0] in stage_of]  # as a JOIN
        for rid, status, n, _ in sorted(known, key=lambda row: (order(stage_of[row[0]]),
                                                                row[1])):
            slot = out.setdefault(str(stage_of[rid]), {})
            slot[status] = slot.get(status, 0) + n
        return out

    def exclusion_reasons(self) -> list[tuple[str, str, int]]:
        """(repository, reason, assets) of everything left out with a reason (globs, policies,
        scoping by use and time, deletions at the source), most first; the reason is the
        asset's, else its version's, as reports show it."""
        # Two indexed reads (the assets' own status; the assets of excluded versions), not a
        # join of every asset with its version; an asset in both is counted once.
        ids = _json_ids([r["id"] for r in self.repositories()])
        return [(r, why or "excluded", n) for r, why, n in self.conn.execute(
            "SELECT r.source, coalesce(x.reason, x.vreason), count(*) FROM ("
            "  SELECT a.id, a.repository_id, a.reason, v.reason AS vreason FROM assets a "
            "  LEFT JOIN versions v ON v.id = a.version_id "
            "  WHERE a.repository_id IN (SELECT value FROM json_each(?)) "
            "  AND a.status IN ('excluded', 'deleted_at_source') "
            "  UNION "
            "  SELECT a.id, a.repository_id, a.reason, v.reason FROM versions v "
            "  JOIN assets a ON a.version_id = v.id WHERE v.status = 'excluded') AS x "
            "JOIN repositories r ON r.id = x.repository_id "
            "GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2", (ids,))]


class _ReadSnapshot:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.opened = False

    def __enter__(self) -> None:
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN")
            self.opened = True

    def __exit__(self, *exc: object) -> None:
        # A read transaction has nothing to keep: ending it cannot lose anything, and an
        # error doing so (a damaged file) must not hide the one that brought us here.
        if self.opened and self.conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")


#: The meta key holding the dependency-confusion findings (JSON, written by `set_meta`).
CONFUSION_FINDINGS = "confusion.findings"
