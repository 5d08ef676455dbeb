"""The resumable work queue: one SQLite file per manifest, WAL, versioned schema, leases.

Rows: repositories (with the crawl cursor), package versions (the unit of publishing, claimed
with a lease) and assets (one file each, with the source's checksums, the hashes of the bytes
we downloaded and CodeArtifact's hashes). Statuses follow `migrator.state.status`; every change is
one transaction and is written only after the fact it records is true, so a process killed at
any instant leaves a state from which a resume reaches the same end.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import sqlite_utils

from migrator.errors import IllegalTransition, StateError, shorten
from migrator.models import (
    HASH_ALGORITHMS,
    AssetUpdate,
    ClaimedVersion,
    DiscoveredAsset,
    Format,
    RepoType,
    RunSample,
    VersionResult,
)
from migrator.state import status as st
from migrator.state.db import (
    check_pages,
    connect,
    foreign_error,
    guard_sqlite,
    inspect,
    state_error,
)
from migrator.state.lock import StateLock
from migrator.state.queries import _HASH_COLS, Queries
from migrator.state.schema import SCHEMA_VERSION, migrations

# How long a count of the discovered versions left per repository is trusted (claim shares).
_LEFT_SECONDS = 10.0


class CrawlState(NamedTuple):
    """Where the crawl of one repository stands."""

    status: str  # pending | crawling | complete
    cursor: str | None
    pages: int


@guard_sqlite
class WorkQueue(Queries):
    """The state of one migration. Open with `WorkQueue.open(path)`; thread-confined."""

    def __init__(self, db: sqlite_utils.Database, path: Path, *,
                 clock: Callable[[], float] = time.time, lock: StateLock | None = None,
                 readonly: bool = False) -> None:
        self.db = db
        self.conn: sqlite3.Connection = db.conn
        self.path = path
        self.clock = clock
        self._lock = lock
        #: Opened for inspection only (`mode=ro`): every write is refused by SQLite.
        self.readonly = readonly
        # Discovered versions left per repository, for sharing claims (`_claim_fairly`).
        self._left: dict[int, int] = {}
        self._left_at = -math.inf

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, lock_for: str | None = None,
             create: bool = True, clock: Callable[[], float] = time.time) -> WorkQueue:
        """Open (and create or migrate) a state file.

        `lock_for` names the command taking the exclusive run lock; None opens without the
        lock. Without the lock and with `create=False` (an inspection: `migrator status`,
        `verify`, reading the stored manifest) the file is opened read-only (`mode=ro`):
        it works during a run and never writes.

        Before anything is written, the file is looked at: a new or empty file becomes a
        state; a SQLite database without migrator's marker is refused and left as it was;
        a state written by a newer migrator is refused; damaged pages give one line with
        `PRAGMA integrity_check`'s verdict (`StateCorruptError`): under the run lock every
        page is checked first (`PRAGMA quick_check`), otherwise when a query meets one.

        :raises StateError: no such state (`create=False`), not a migrator state, damaged
            (`StateCorruptError`), in use (`StateLockedError`), or unreadable.
        """
        p = Path(path)
        if not create and not p.exists():
            raise StateError(f"no state file at {p}",
                             hint="run `migrator plan MANIFEST` first, or pass --state PATH")
        readonly = lock_for is None and not create
        conn: sqlite3.Connection | None = None
        lock: StateLock | None = None
        try:
            if p.exists():
                # Look first, read-only: a foreign or damaged file is refused before a lock
                # file appears beside it or a byte of it changes.
                conn = connect(p, readonly=True)
                kind, tables = inspect(conn)
                if kind == "foreign":
                    raise foreign_error(p, tables)
                if kind == "new" and not create:
                    raise StateError(f"{p} holds no migrator state (it is empty)",
                                     hint="run `migrator plan MANIFEST` first, or pass "
                                     "--state PATH")
                if not readonly:
                    conn.close()
                    conn = None
            if lock_for is not None:
                lock = StateLock(p, lock_for)
                lock.acquire()
            if conn is None:
                p.parent.mkdir(parents=True, exist_ok=True)
                conn = connect(p)
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                # Checkpoints fsync; at the default (every 1,000 pages) they were most of
                # the cost of enqueueing. Every 50,000 pages (up to ~200 MiB of WAL between
                # checkpoints, cut back to 64 MiB after each) keeps synchronous=NORMAL's
                # guarantee (no corruption on power loss): 1M assets enqueue at ~57k/s
                # instead of ~35k/s.
                conn.execute("PRAGMA wal_autocheckpoint = 50000")
                conn.execute("PRAGMA journal_size_limit = 67108864")
            # 16 MiB of page cache (default 2 MiB): measured, more bought nothing on 600k
            # assets, and memory stays flat however large the repository.
            conn.execute("PRAGMA cache_size = -16384")
            if lock is not None:
                # A run writes for hours: refuse a damaged file before writing into it
                # (0.5 s per million assets; `status` and other readers skip it).
                check_pages(conn, p)
            db = sqlite_utils.Database(conn)
            applied = len(migrations.applied(db))
            if applied > SCHEMA_VERSION:
                raise StateError(
                    f"{p} was written by a newer migrator (schema {applied}; this one "
                    f"knows {SCHEMA_VERSION})",
                    hint="upgrade migrator to the version that wrote this state")
            if not readonly and migrations.pending(db):
                # Two processes opening a new state at once: the IMMEDIATE lock serialises
                # them and the second sees no pending migration. (Read-only, a state of an
                # older migrator is read as it is: migrations only add to the schema.)
                conn.execute("BEGIN IMMEDIATE")
                try:
                    migrations.apply(db)
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON "
                        "CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (str(len(migrations.applied(db))),))
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
        except BaseException as exc:
            if conn is not None:
                conn.close()
            if lock is not None:
                lock.release()
            if isinstance(exc, sqlite3.DatabaseError):
                err = state_error(p, exc) or StateError(
                    f"{p} is not a usable migrator state file: {exc}",
                    hint="point --state at a state file written by migrator, or move this "
                    "file away to start a new state")
                raise err from None
            raise
        return cls(db, p, clock=clock, lock=lock, readonly=readonly)

    @property
    def locked(self) -> bool:
        """Whether this process holds the state's run lock through this queue."""
        return self._lock is not None and self._lock.held

    def close(self) -> None:
        self.conn.close()
        if self._lock:
            self._lock.release()

    def __enter__(self) -> WorkQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taking the write lock up front (no upgrade deadlocks)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- metadata and runs -------------------------------------------------------------------

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as c:
            c.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) "
                      "DO UPDATE SET value = excluded.value", (key, value))

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def start_run(self, command: str) -> int:
        with self._write() as c:
            cur = c.execute("INSERT INTO runs (command, pid, host, started_at) VALUES (?,?,?,?)",
                            (command, os.getpid(), socket.gethostname(), self.clock()))
            return int(cur.lastrowid)

    def finish_run(self, run_id: int, exit_code: int) -> None:
        with self._write() as c:
            c.execute("UPDATE runs SET finished_at = ?, exit_code = ? WHERE id = ?",
                      (self.clock(), exit_code, run_id))

    # -- repositories and crawling -----------------------------------------------------------

    def upsert_repository(self, *, source: str, target: str | None, format: Format,
                          repo_type: RepoType, mode: str, stage: int | str = 1) -> int:
        with self._write() as c:
            c.execute(
                "INSERT INTO repositories (source, target, format, repo_type, mode, stage) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT(source) DO UPDATE SET target = excluded.target,"
                " format = excluded.format, repo_type = excluded.repo_type, mode = excluded.mode,"
                " stage = excluded.stage",
                (source, target, str(format), str(repo_type), mode, stage))
            return c.execute("SELECT id FROM repositories WHERE source = ?",
                             (source,)).fetchone()[0]

    def crawl_state(self, repo_id: int) -> CrawlState:
        row = self.conn.execute("SELECT crawl_status, crawl_cursor, crawl_pages FROM "
                                "repositories WHERE id = ?", (repo_id,)).fetchone()
        if row is None:
            raise StateError(f"no repository with id {repo_id} in {self.path}")
        return CrawlState(*row)

    def begin_crawl(self, repo_id: int) -> CrawlState:
        """Start a crawl, or keep the cursor of an unfinished one so it resumes."""
        with self._write() as c:
            c.execute("UPDATE repositories SET crawl_status = 'crawling', crawl_cursor = NULL, "
                      "crawl_pages = 0, crawl_started_at = ?, crawl_completed_at = NULL "
                      "WHERE id = ? AND crawl_status IN ('pending', 'complete')",
                      (self.clock(), repo_id))
        return self.crawl_state(repo_id)

    def record_page(self, repo_id: int, items: Sequence[tuple[DiscoveredAsset, str | None]],
                    *, cursor: str | None, done: bool) -> None:
        """Store one crawled page and the cursor of the next one, atomically.

        Each item is an asset and the reason it is excluded (None: it is wanted). Refused
        assets (hostile paths) are stored as failed_permanent; excluded files without
        coordinates (index pages, sidecars) belong to no version. Recording a path again is
        idempotent: facts of items not yet published are refreshed, nothing is duplicated.
        """
        now = self.clock()
        fmt = self.conn.execute("SELECT format FROM repositories WHERE id = ?",
                                (repo_id,)).fetchone()
        if fmt is None:
            raise StateError(f"no repository with id {repo_id} in {self.path}")
        versions: dict[tuple[str, str, str], tuple[str, str | None, str]] = {}
        rows = []
        for asset, excluded in items:
            c = asset.coordinates
            if asset.refused:
                status, reason, key = st.FAILED_PERMANENT, asset.refused, None
            elif c is None:
                # index pages, checksum sidecars: recorded and counted, belong to no version
                status, reason = ((st.EXCLUDED, excluded) if excluded else
                                  (st.FAILED_PERMANENT, "no package coordinates"))
                key = None
            else:
                key = (c.namespace, c.package, c.version)
                status, reason = (st.EXCLUDED, excluded) if excluded else (st.DISCOVERED, None)
                prev = versions.get(key)
                if prev is None or (prev[0] == st.EXCLUDED and status == st.DISCOVERED):
                    versions[key] = (status, reason, str(c.format))
            cs = asset.checksums
            rows.append((
                repo_id, *(key or (None, None, None)), asset.path, asset.filename,
                str(asset.kind), asset.size, status, reason and shorten(reason),
                *(cs.get(a) for a in HASH_ALGORITHMS), asset.last_modified,
                json.dumps(c.extra) if c and c.extra else None, now, now,
            ))
        with self._write() as conn:
            changes_before = conn.total_changes
            conn.executemany(
                "INSERT INTO versions (repository_id, format, namespace, package, version, "
                "status, reason, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT (repository_id, namespace, package, version) DO NOTHING",
                [(repo_id, f, ns, pkg, ver, s, r and shorten(r), now, now)
                 for (ns, pkg, ver), (s, r, f) in versions.items()])
            all_versions_new = conn.total_changes - changes_before == len(versions)
            conn.executemany(
                f"""INSERT INTO assets (repository_id, version_id, path, filename, kind, size,
                    status, reason, {", ".join(_HASH_COLS["src"])}, last_modified, extra,
                    created_at, updated_at)
                VALUES (?1, (SELECT id FROM versions WHERE repository_id = ?1 AND namespace = ?2
                             AND package = ?3 AND version = ?4), ?5, ?6, ?7, ?8, ?9, ?10,
                        ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
                ON CONFLICT (repository_id, path) DO UPDATE SET size = excluded.size,
                    src_md5 = excluded.src_md5, src_sha1 = excluded.src_sha1,
                    src_sha256 = excluded.src_sha256, src_sha512 = excluded.src_sha512,
                    last_modified = excluded.last_modified, updated_at = excluded.updated_at
                WHERE assets.status IN ('discovered', 'failed_retryable', 'excluded')""",
                rows)
            # A wanted file in a version that was finished or excluded puts the version back
            # in the queue (a sync found a new classifier, or an exclusion no longer applies).
            # Versions created by this very page already have the right status.
            if not all_versions_new:
                conn.execute(
                    "UPDATE versions SET status = 'discovered', reason = NULL, updated_at = ? "
                    "WHERE status IN ('excluded', 'verified', 'skipped_identical', 'ingested') "
                    "AND id IN (SELECT a.version_id FROM json_each(?) AS j CROSS JOIN assets "
                    "AS a ON a.repository_id = ? AND a.path = j.value "
                    "WHERE a.status = 'discovered')",
                    (now, json.dumps([a.path for a, _ in items]), repo_id))
            conn.execute(
                "UPDATE repositories SET crawl_cursor = ?, crawl_pages = crawl_pages + 1, "
                "crawl_status = ?, crawl_completed_at = ? WHERE id = ?",
                (cursor, "complete" if done else "crawling", now if done else None, repo_id))

    # -- claims ------------------------------------------------------------------------------

    def claim(self, owner: str, *, limit: int, lease_seconds: float = 300.0,
              repository_ids: Sequence[int] | None = None,
              verify_early: bool = False) -> list[ClaimedVersion]:
        """Lease up to `limit` versions that need work, with all their assets.

        Claimable: published (to verify) and requested (to confirm) versions and
        failed_retryable ones whose time has come, discovered ones, and claims whose lease
        expired (their holder died or hung). `verify_early`: published versions also before
        their time (the run has nothing else left to do than wait for it).
        """
        now = self.clock()
        repo_filter, params = "", []
        if repository_ids is not None:
            repo_filter = " AND repository_id IN (SELECT value FROM json_each(?))"
            params = [json.dumps(list(repository_ids))]
        # Published versions first, from their `next_attempt_at` (a moment after the
        # publish, for the target's reads to catch up): verification runs beside the
        # publishing, on the read quotas, instead of in a tail of reads after the last write.
        # Then discovered ones, shared out between repositories (`_claim_fairly`), then the
        # rest that has come due.
        published = f"SELECT id FROM versions WHERE status = 'published' AND " \
                    f"next_attempt_at <= ?{repo_filter}"
        due = (
            f"SELECT id FROM versions WHERE status = 'requested' AND next_attempt_at <= ?"
            f"{repo_filter}",
            f"SELECT id FROM versions WHERE status = 'failed_retryable' AND next_attempt_at <= ?"
            f"{repo_filter}",
            f"SELECT id FROM versions WHERE status = 'claimed' AND lease_expires < ?{repo_filter}",
        )
        expires = now + lease_seconds
        with self._write() as c:
            published_by = float("inf") if verify_early else now
            claimed = self._take(c, published, [published_by, *params, limit], owner, expires,
                                 now)
            if len(claimed) < limit:
                claimed += self._claim_fairly(c, owner, limit - len(claimed), expires, now,
                                              repository_ids)
            for pick in due:
                if len(claimed) >= limit:
                    break
                claimed += self._take(c, pick, [now, *params, limit - len(claimed)], owner,
                                      expires, now)
        if not claimed:
            return []
        repos = {r["id"]: r for r in self.repositories()}
        out: dict[int, ClaimedVersion] = {}
        for vid, rid, fmt, ns, pkg, ver, frm, att, extra in sorted(claimed):
            repo = repos[rid]
            out[vid] = ClaimedVersion(
                id=vid, repository_id=rid, source_repository=repo["source"],
                target_repository=repo["target"], mode=repo["mode"], format=Format(fmt),
                namespace=ns, package=pkg, version=ver, claimed_from=frm, attempts=att,
                extra=json.loads(extra) if extra else {})
        self._attach_assets(out, "status NOT IN ('excluded', 'deleted_at_source')")
        return list(out.values())

    @staticmethod
    def _take(c: sqlite3.Connection, pick: str, args: Sequence[Any], owner: str,
              lease_expires: float, now: float) -> list[tuple]:
        """Claim the versions `pick` selects (in id order, `args` ending with the limit)."""
        return c.execute(
            f"UPDATE versions SET claimed_from = CASE status WHEN 'claimed' THEN "
            f"claimed_from ELSE status END, status = 'claimed', lease_owner = ?, "
            f"lease_expires = ?, attempts = attempts + 1, updated_at = ? "
            f"WHERE id IN ({pick} ORDER BY id LIMIT ?) RETURNING id, repository_id, "
            f"format, namespace, package, version, claimed_from, attempts, extra",
            [owner, lease_expires, now, *args]).fetchall()

    def _claim_fairly(self, c: sqlite3.Connection, owner: str, want: int,
                      lease_expires: float, now: float,
                      repository_ids: Sequence[int] | None) -> list[tuple]:
        """Discovered versions, shared out between the repositories with work in proportion
        to how many each has left (in id order within each), so that they all drain
        together.

        In id order alone the claims in flight are one repository's at a time: a format
        with a narrow quota of its own (generic packages: PublishPackageVersion, 10/s) then
        holds every slot while it waits on that quota, with the write quota idle, and the
        run ends on the last repository's versions alone (Maven's, a few round trips each
        and SNAPSHOT builds one at a time), far below the quota. An even split would end the
        same way, on the repository with the most versions."""
        scope = "" if repository_ids is None else \
            " AND r.id IN (SELECT value FROM json_each(?))"
        rows = c.execute(
            "SELECT r.id, (SELECT count(*) FROM versions v WHERE v.repository_id = r.id AND "
            "v.status = 'claimed') FROM repositories r WHERE EXISTS (SELECT 1 FROM versions v "
            f"WHERE v.repository_id = r.id AND v.status = 'discovered'){scope} ORDER BY r.id",
            [] if repository_ids is None else [json.dumps(list(repository_ids))]).fetchall()
        held = dict(rows)
        if not held:
            return []
        left = self._discovered_left(c, list(held), now)
        shares = dict.fromkeys(held, 0)
        for _ in range(want):  # each slot to the repository with the most left per claim
            rid = max(held, key=lambda r: (left[r] / (held[r] + shares[r] + 1), -r))
            shares[rid] += 1
        claimed: list[tuple] = []
        for rid, share in shares.items():
            if share:
                got = self._take(
                    c, "SELECT id FROM versions WHERE status = 'discovered' AND "
                    "repository_id = ?", [rid, share], owner, lease_expires, now)
                self._left[rid] = max(1, left[rid] - len(got))
                claimed += got
        if len(claimed) < want:  # a repository had fewer left than its share
            claimed += self._take(c, "SELECT id FROM versions WHERE status = 'discovered' "
                                  "AND repository_id IN (SELECT value FROM json_each(?))",
                                  [json.dumps(list(held)), want - len(claimed)], owner,
                                  lease_expires, now)
        return claimed

    def _discovered_left(self, c: sqlite3.Connection, repository_ids: Sequence[int],
                         now: float) -> dict[int, int]:
        """Discovered versions per repository: counted (an index range each) at most every
        `_LEFT_SECONDS`, and in between the count less what was claimed since, which is all a
        share needs (a count per claim would cost a scan of the index at a million
        versions)."""
        if now - self._left_at > _LEFT_SECONDS or any(r not in self._left
                                                       for r in repository_ids):
            self._left = {rid: max(1, c.execute(
                "SELECT count(*) FROM versions WHERE repository_id = ? AND status = "
                "'discovered'", (rid,)).fetchone()[0]) for rid in repository_ids}
            self._left_at = now
        return {rid: self._left[rid] for rid in repository_ids}

    def renew(self, owner: str, version_ids: Sequence[int], lease_seconds: float) -> int:
        """Extend leases still held by `owner`; returns how many are still held."""
        with self._write() as c:
            return c.execute(
                "UPDATE versions SET lease_expires = ? WHERE lease_owner = ? AND status = "
                "'claimed' AND id IN (SELECT value FROM json_each(?))",
                (self.clock() + lease_seconds, owner, json.dumps(list(version_ids)))).rowcount

    def mark_assets(self, owner: str, updates: Sequence[AssetUpdate]) -> list[int]:
        """Record asset facts under `owner`'s lease; returns the asset ids whose lease was lost."""
        with self._write() as c:
            return self._apply_assets(c, owner, updates)

    def finish(self, owner: str, results: Sequence[VersionResult]) -> list[int]:
        """End claims: new version statuses plus their final asset facts, in one transaction.

        Returns the ids of versions whose lease `owner` no longer holds (another process took
        them over after the lease expired); their results are dropped, the new holder redoes
        the work, and nothing is counted twice.
        """
        now = self.clock()
        for r in results:
            st.check("version", st.CLAIMED, r.status)
        lost: list[int] = []
        with self._write() as c:
            held = {row[0] for row in c.execute(
                "SELECT id FROM versions WHERE lease_owner = ? AND status = 'claimed' AND id IN "
                "(SELECT value FROM json_each(?))",
                (owner, json.dumps([r.version_id for r in results])))}
            lost = [r.version_id for r in results if r.version_id not in held]
            mine = [r for r in results if r.version_id in held]
            self._apply_assets(c, owner, [a for r in mine for a in r.assets])
            c.executemany(
                "UPDATE versions SET status = ?, reason = ?, next_attempt_at = ?, "
                "lease_owner = NULL, lease_expires = NULL, claimed_from = NULL, "
                "updated_at = ?, attempts = CASE WHEN ? THEN 0 ELSE attempts END WHERE id = ?",
                [(r.status, r.reason and shorten(r.reason), r.retry_at or 0, now,
                  _fresh_budget(r), r.version_id) for r in mine])
        return lost

    def release(self, owner: str) -> int:
        """Give back every claim of `owner` unfinished (graceful stop); attempts are refunded."""
        with self._write() as c:
            return c.execute(
                "UPDATE versions SET status = claimed_from, claimed_from = NULL, lease_owner = "
                "NULL, lease_expires = NULL, attempts = max(attempts - 1, 0), updated_at = ? "
                "WHERE lease_owner = ? AND status = 'claimed'", (self.clock(), owner)).rowcount

    def _apply_assets(self, c: sqlite3.Connection, owner: str,
                      updates: Sequence[AssetUpdate]) -> list[int]:
        if not updates:
            return []
        now = self.clock()
        lost: list[int] = []
        held = {row[0]: row[1] for row in c.execute(
            "SELECT a.id, a.status FROM json_each(?) AS j CROSS JOIN assets AS a ON a.id = j.value"
            " CROSS JOIN versions AS v ON v.id = a.version_id WHERE v.lease_owner = ? AND "
            "v.status = 'claimed'", (json.dumps([u.asset_id for u in updates]), owner))}
        rows = []
        for u in updates:
            old = held.get(u.asset_id)
            if old is None:
                lost.append(u.asset_id)
                continue
            if old != u.status:
                st.check("asset", old, u.status)
            held[u.asset_id] = u.status
            dl = u.downloaded or {}
            tgt = u.target or {}
            rows.append((u.status, u.reason and shorten(u.reason),
                         *(dl.get(a) for a in HASH_ALGORITHMS),
                         *(tgt.get(a) for a in HASH_ALGORITHMS), now,
                         u.status == st.FAILED_RETRYABLE, u.asset_id))
        c.executemany(
            "UPDATE assets SET status = ?, reason = ?, "
            + ", ".join(f"{col} = coalesce(?, {col})"
                        for col in (*_HASH_COLS["dl"], *_HASH_COLS["tgt"]))
            + ", updated_at = ?, attempts = attempts + ? WHERE id = ?", rows)
        return lost

    # -- operator actions --------------------------------------------------------------------

    def requeue(self, statuses: Sequence[str], *, repository: str | None = None) -> int:
        """Send versions (and their assets) in `statuses` back to discovered (`migrator retry`)."""
        for s in statuses:
            st.check("version", s, st.DISCOVERED)
        now = self.clock()
        where = "status IN (SELECT value FROM json_each(?))"
        args: list[Any] = [json.dumps(list(statuses))]
        if repository:
            where += " AND repository_id = (SELECT id FROM repositories WHERE source = ?)"
            args.append(repository)
        with self._write() as c:
            c.execute(f"UPDATE assets SET status = 'discovered', reason = NULL, updated_at = ? "
                      f"WHERE status IN ('conflict', 'failed_permanent', 'not_found_upstream', "
                      f"'blocked_by_origin_control') AND version_id IN "
                      f"(SELECT id FROM versions WHERE {where})", [now, *args])
            return c.execute(f"UPDATE versions SET status = 'discovered', reason = NULL, "
                             f"attempts = 0, next_attempt_at = 0, updated_at = ? WHERE {where}",
                             [now, *args]).rowcount

    def requeue_versions(self, version_ids: Sequence[int]) -> list[int]:
        """Send these versions back to discovered (`migrator run --only-failed`), each through
        the status machine, with their failed or conflicting assets; versions that are not
        problems (done, excluded, in flight, already queued) are left alone. Returns the ids
        sent back."""
        problems = (st.CONFLICT, st.FAILED_PERMANENT, st.FAILED_RETRYABLE,
                    *st.PREWARM_REFUSALS)
        ids = json.dumps(list(version_ids))
        now = self.clock()
        with self._write() as c:
            chosen = [vid for vid, status in c.execute(
                "SELECT id, status FROM versions WHERE id IN (SELECT value FROM json_each(?)) "
                "ORDER BY id", (ids,)) if status in problems]
            for _vid, status in c.execute(
                    "SELECT id, status FROM versions WHERE id IN (SELECT value FROM "
                    "json_each(?))", (json.dumps(chosen),)):
                st.check("version", status, st.DISCOVERED)
            for status, in c.execute(
                    "SELECT DISTINCT status FROM assets WHERE version_id IN (SELECT value FROM "
                    "json_each(?)) AND status IN (SELECT value FROM json_each(?))",
                    (json.dumps(chosen), json.dumps(problems))):
                st.check("asset", status, st.DISCOVERED)
            c.execute("UPDATE assets SET status = 'discovered', reason = NULL, updated_at = ? "
                      "WHERE version_id IN (SELECT value FROM json_each(?)) AND status IN "
                      "(SELECT value FROM json_each(?))", (now, json.dumps(chosen),
                                                            json.dumps(problems)))
            c.execute("UPDATE versions SET status = 'discovered', reason = NULL, attempts = 0, "
                      "next_attempt_at = 0, claimed_from = NULL, updated_at = ? WHERE id IN "
                      "(SELECT value FROM json_each(?))", (now, json.dumps(chosen)))
        return chosen

    def transition_version(self, version_id: int, new: str, reason: str | None = None) -> None:
        """Move one version outside a claim (e.g. exclusion by policy), checked."""
        row = self.conn.execute("SELECT status FROM versions WHERE id = ?",
                                (version_id,)).fetchone()
        if row is None:
            raise StateError(f"no version with id {version_id}")
        st.check("version", row[0], new)
        with self._write() as c:
            n = c.execute("UPDATE versions SET status = ?, reason = ?, updated_at = ? "
                          "WHERE id = ? AND status = ?",
                          (new, reason, self.clock(), version_id, row[0])).rowcount
            if n == 1 and new == st.EXCLUDED:
                # an excluded version's files are excluded with it, so the counts add up
                c.execute("UPDATE assets SET status = 'excluded', reason = ?, updated_at = ? "
                          "WHERE version_id = ? AND status = 'discovered'",
                          (reason, self.clock(), version_id))
        if n != 1:
            raise IllegalTransition(f"version {version_id} changed status concurrently")

    # -- live status samples (`migrator status` while a run is going) ------------------------

    def record_sample(self, run_id: int | None, sample: RunSample) -> None:
        """Append one sample of the running process's cumulative work (one small write)."""
        with self._write() as c:
            c.execute(
                "INSERT INTO run_samples (run_id, at, published_assets, published_bytes, "
                "verified_assets, verified_bytes, settled_assets, writes, reads, throttled, "
                "write_rate, budget) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, sample.at, sample.published_assets, sample.published_bytes,
                 sample.verified_assets, sample.verified_bytes, sample.settled_assets,
                 sample.writes, sample.reads, sample.throttled, sample.write_rate,
                 sample.budget))


def default_owner() -> str:
    """A lease owner id unique to this process."""
    return f"{socket.gethostname()}:{os.getpid()}:{int(time.time() * 1000) % 10**9}"


def _fresh_budget(r: VersionResult) -> bool:
    """Whether a claim's result starts the version's attempts afresh (verification gets its
    own budget): only when this claim really published or requested something. A claim that
    found every file already published (a retry after a failed verification) keeps counting,
    or a version that never shows in the target would be polled for ever."""
    return r.status in (st.PUBLISHED, st.REQUESTED) and any(
        u.status in (st.PUBLISHED, st.REQUESTED) for u in r.assets)
