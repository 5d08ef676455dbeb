"""What `migrator sync` reads and writes in a state: a listing page compared with the state,
changed files of migrated versions as conflicts, files the source no longer lists.

One read and one write per listing page, whatever its size: the page's paths go to SQLite as
one JSON array (`json_each`), never one query per asset. Statuses change through the status
machine (`migrator.state.status`), each change in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from migrator.models import HASH_ALGORITHMS, DiscoveredAsset
from migrator.state import status as st
from migrator.state.queries import _HASH_COLS

if TYPE_CHECKING:
    from migrator.state.queue import WorkQueue

__all__ = ["Changed", "Deleted", "PageDiff", "compare_page", "high_water_mark",
           "mark_conflicts", "mark_deleted", "mark_seen", "record_dates", "scope_versions"]

Found = tuple[DiscoveredAsset, "str | None"]

#: Asset statuses whose bytes are (or are being put) in CodeArtifact: a different file under
#: the same path there is a conflict, never a re-publish (CodeArtifact assets are immutable).
_IN_TARGET = (st.PUBLISHED, st.VERIFIED, st.SKIPPED_IDENTICAL, st.CONFLICT)
#: Statuses whose facts a listing may still refresh (nothing of them is in the target yet).
_REFRESHABLE = (st.DISCOVERED, st.FAILED_RETRYABLE, st.EXCLUDED)


@dataclass(frozen=True, slots=True)
class Changed:
    """A file the source changed after it was migrated: the listing's checksums and the
    state's (what was downloaded and what CodeArtifact holds)."""

    asset_id: int
    version_id: int | None
    path: str
    status: str
    listed: dict[str, str]
    recorded: dict[str, str]
    target: dict[str, str]
    size: int | None = None  # the listed size and modification time
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Deleted:
    path: str
    previous: str


@dataclass(slots=True)
class PageDiff:
    """One listing page against the state."""

    new: list[Found] = field(default_factory=list)  # not in the state: queue them
    refresh: list[Found] = field(default_factory=list)  # not published yet, changed: re-record
    changed: list[Changed] = field(default_factory=list)  # in the target with other bytes
    unchanged: int = 0


def _differs(listed: DiscoveredAsset, size: int | None, hashes: dict[str, str],
             last_modified: str | None) -> bool:
    """Whether a listed file is not the one recorded: a common checksum or the size differs;
    with no checksum on either side, the modification time decides."""
    if listed.size is not None and size is not None and listed.size != size:
        return True
    common = [a for a in HASH_ALGORITHMS if a in listed.checksums and a in hashes]
    if common:
        return any(listed.checksums[a] != hashes[a] for a in common)
    return bool(listed.last_modified and last_modified
                and listed.last_modified != last_modified)


def compare_page(q: WorkQueue, repository_id: int, items: Sequence[Found], sync_id: int
                 ) -> PageDiff:
    """Compare one listing page with the state and mark its files as seen by this sync (one
    read, one write)."""
    paths = json.dumps([a.path for a, _ in items])
    n = len(HASH_ALGORITHMS)
    cols = ", ".join(_HASH_COLS["src"] + _HASH_COLS["dl"] + _HASH_COLS["tgt"])
    known = {}
    for row in q.conn.execute(
            f"SELECT a.path, a.id, a.version_id, a.status, a.size, a.last_modified, {cols} "
            f"FROM json_each(?) AS j CROSS JOIN assets AS a ON a.repository_id = ? AND "
            f"a.path = j.value", (paths, repository_id)):
        h = row[6:]
        pick = lambda o, h=h: {a: v for a, v in zip(HASH_ALGORITHMS, h[o:o + n],  # noqa: E731
                                                     strict=True) if v}
        known[row[0]] = (row[1], row[2], row[3], row[4], row[5], pick(0), pick(n), pick(2 * n))
    diff = PageDiff()
    for found in items:
        asset = found[0]
        rec = known.get(asset.path)
        if rec is None:
            diff.new.append(found)
            continue
        aid, vid, status, size, modified, src, dl, tgt = rec
        if status == st.DELETED_AT_SOURCE:
            diff.refresh.append(found)  # listed again: back to the queue
        elif not _differs(asset, size, {**dl, **src}, modified):
            diff.unchanged += 1
        elif status in _REFRESHABLE:
            diff.refresh.append(found)
        elif status in _IN_TARGET:
            diff.changed.append(Changed(aid, vid, asset.path, status, dict(asset.checksums),
                                        {**src, **dl}, tgt, asset.size, asset.last_modified))
        else:  # pre-warmed public files, refused paths: nothing of ours to compare
            diff.unchanged += 1
    mark_seen(q, repository_id, [a.path for a, _ in items], sync_id,
              revive=[a.path for a, _ in diff.refresh if known[a.path][2]
                      == st.DELETED_AT_SOURCE])
    return diff


def mark_seen(q: WorkQueue, repository_id: int, paths: Sequence[str], sync_id: int, *,
              revive: Sequence[str] = ()) -> int:
    """Record that this sync's listing holds `paths`; `revive`: files listed again after they
    were deleted at the source go back to `discovered` (the caller re-records them). Returns
    how many of `paths` the state does not hold."""
    now = q.clock()
    unique = sorted(set(paths))
    with q._write() as c:
        seen = c.execute("UPDATE assets SET seen_sync = ? WHERE repository_id = ? AND path IN "
                         "(SELECT value FROM json_each(?))",
                         (sync_id, repository_id, json.dumps(unique))).rowcount
        if revive:
            st.check("asset", st.DELETED_AT_SOURCE, st.DISCOVERED)
            c.execute("UPDATE versions SET status = 'discovered', reason = NULL, updated_at = ? "
                      "WHERE status = 'deleted_at_source' AND id IN (SELECT version_id FROM "
                      "assets WHERE repository_id = ? AND path IN (SELECT value FROM "
                      "json_each(?)))", (now, repository_id, json.dumps(list(revive))))
            c.execute("UPDATE assets SET status = 'discovered', reason = NULL, updated_at = ? "
                      "WHERE repository_id = ? AND status = 'deleted_at_source' AND path IN "
                      "(SELECT value FROM json_each(?))",
                      (now, repository_id, json.dumps(list(revive))))
    return len(unique) - seen


def mark_conflicts(q: WorkQueue, changed: Sequence[Changed], reasons: Sequence[str]) -> None:
    """Changed files of versions in the target: `conflict` with `reasons` (both hashes); the
    listing's checksums become the recorded source checksums, so the report shows the new
    source file beside what CodeArtifact holds. The version is a conflict too."""
    now = q.clock()
    with q._write() as c:
        for ch, reason in zip(changed, reasons, strict=True):
            if ch.status != st.CONFLICT:
                st.check("asset", ch.status, st.CONFLICT)
            sets = ", ".join(f"src_{a} = ?" for a in HASH_ALGORITHMS)
            c.execute(f"UPDATE assets SET status = 'conflict', reason = ?, {sets}, "
                      f"size = coalesce(?, size), last_modified = coalesce(?, last_modified), "
                      f"updated_at = ? WHERE id = ?",
                      (reason, *(ch.listed.get(a) for a in HASH_ALGORITHMS), ch.size,
                       ch.last_modified, now, ch.asset_id))
            if ch.version_id is None:
                continue
            row = c.execute("SELECT status FROM versions WHERE id = ?",
                            (ch.version_id,)).fetchone()
            if row and row[0] != st.CONFLICT:
                st.check("version", row[0], st.CONFLICT)
                c.execute("UPDATE versions SET status = 'conflict', reason = ?, updated_at = ? "
                          "WHERE id = ?", (reason, now, ch.version_id))


def mark_deleted(q: WorkQueue, repository_id: int, sync_id: int, reason: str,
                 *, shown: int = 50) -> tuple[int, list[Deleted]]:
    """After a complete listing: every file of the repository it did not hold is
    `deleted_at_source` (with `reason`), and so is every version all of whose files are.
    Returns how many files, and the first `shown` of them."""
    now = q.clock()
    with q._write() as c:
        rows = c.execute(
            "SELECT id, path, status FROM assets WHERE repository_id = ? AND status NOT IN "
            "('deleted_at_source') AND (seen_sync IS NULL OR seen_sync != ?) ORDER BY path",
            (repository_id, sync_id)).fetchall()
        for _aid, _path, status in rows:
            st.check("asset", status, st.DELETED_AT_SOURCE)
        c.execute("UPDATE assets SET status = 'deleted_at_source', reason = ? || ' (was ' || "
                  "status || ')', updated_at = ? WHERE id IN (SELECT value FROM json_each(?))",
                  (reason, now, json.dumps([r[0] for r in rows])))
        gone = c.execute(
            "SELECT v.id, v.status FROM versions v WHERE v.repository_id = ? AND v.status NOT "
            "IN ('deleted_at_source', 'claimed') AND NOT EXISTS (SELECT 1 FROM assets a WHERE "
            "a.version_id = v.id AND a.status != 'deleted_at_source')",
            (repository_id,)).fetchall()
        for _vid, status in gone:
            st.check("version", status, st.DELETED_AT_SOURCE)
        c.execute("UPDATE versions SET status = 'deleted_at_source', reason = ?, updated_at = ? "
                  "WHERE id IN (SELECT value FROM json_each(?))",
                  (reason, now, json.dumps([v[0] for v in gone])))
    return len(rows), [Deleted(p, s) for _, p, s in rows[:shown]]


def high_water_mark(q: WorkQueue, repository_id: int) -> str | None:
    """The newest source modification time the state holds for a repository (ISO text as the
    source wrote it), where the first incremental listing starts."""
    row = q.conn.execute("SELECT max(last_modified) FROM assets WHERE repository_id = ?",
                         (repository_id,)).fetchone()
    return row[0] if row else None


def scope_versions(q: WorkQueue, repository_id: int, *, downloaded_since: str | None,
                   published_since: str | None, reason: str) -> int:
    """Scoping by use and time, whole versions only: a discovered version none of whose files
    was downloaded since `downloaded_since` (or, with `published_since`, published since then)
    is excluded with `reason`; one qualifying file keeps the whole version. ISO-8601 UTC text
    compares in time order. Returns how many versions were excluded."""
    conds, args = [], []
    if downloaded_since is not None:
        conds.append("(a.last_downloaded IS NOT NULL AND a.last_downloaded >= ?)")
        args.append(downloaded_since)
    if published_since is not None:
        conds.append("coalesce(a.created_at_source, a.last_modified) >= ?")
        args.append(published_since)
    if not conds:
        return 0
    qualifies = " AND ".join(conds)
    now = q.clock()
    with q._write() as c:
        ids = [r[0] for r in c.execute(
            f"SELECT v.id FROM versions v WHERE v.repository_id = ? AND v.status = 'discovered' "
            f"AND NOT EXISTS (SELECT 1 FROM assets a WHERE a.version_id = v.id AND "
            f"a.kind = 'artifact' AND {qualifies})", (repository_id, *args))]
        st.check("version", st.DISCOVERED, st.EXCLUDED)
        c.execute("UPDATE versions SET status = 'excluded', reason = ?, updated_at = ? WHERE id "
                  "IN (SELECT value FROM json_each(?))", (reason, now, json.dumps(ids)))
        c.execute("UPDATE assets SET status = 'excluded', reason = ?, updated_at = ? WHERE "
                  "status = 'discovered' AND version_id IN (SELECT value FROM json_each(?))",
                  (reason, now, json.dumps(ids)))
    return len(ids)


def record_dates(q: WorkQueue, repository_id: int,
                 rows: Sequence[tuple[str, str | None, str | None]]) -> None:
    """Store when files were last downloaded and stored at the source (`(path,
    last_downloaded, created)`, ISO-8601 UTC; None keeps what is there), one write per
    page, for scoping by use and time."""
    rows = [r for r in rows if r[1] is not None or r[2] is not None]
    if not rows:
        return
    with q._write() as c:
        c.executemany("UPDATE assets SET last_downloaded = coalesce(?, last_downloaded), "
                      "created_at_source = coalesce(?, created_at_source) WHERE "
                      "repository_id = ? AND path = ?",
                      [(d, cr, repository_id, p) for p, d, cr in rows])
