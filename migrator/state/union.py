"""Across several state files at once: which assets more than one of them holds.

Shards of one migration (`--shard K/N`) each keep their own state; together they must hold
every asset exactly once. The check runs in SQL over a scratch database: each state is
attached read-only in turn (`mode=ro`: a shard still running is neither blocked nor
written), its (repository, path) keys copied in, then grouped, so it needs no memory per
asset however large the states are.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from migrator.errors import StateError
from migrator.state.db import state_error

__all__ = ["overlapping_assets"]


def overlapping_assets(paths: Sequence[Path], limit: int = 50
                       ) -> tuple[list[tuple[str, str, list[int]]], int]:
    """Assets that more than one of `paths` holds: the first `limit` as (repository, path,
    indexes into `paths`), and how many there are in all."""
    with tempfile.TemporaryDirectory(prefix="migrator-merge-") as tmp:
        conn = sqlite3.connect(Path(tmp) / "keys.sqlite", isolation_level=None, uri=True)
        try:
            conn.execute("CREATE TABLE seen (repository TEXT, path TEXT, shard INTEGER)")
            for i, p in enumerate(paths):
                uri = f"file:{quote(str(Path(p).absolute()))}?mode=ro"
                try:
                    conn.execute("ATTACH DATABASE ? AS s", (uri,))
                    try:
                        conn.execute("BEGIN")
                        conn.execute(
                            "INSERT INTO seen SELECT r.source, a.path, ? FROM s.assets a "
                            "JOIN s.repositories r ON r.id = a.repository_id", (i,))
                        conn.execute("COMMIT")
                    finally:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                        conn.execute("DETACH DATABASE s")
                except sqlite3.DatabaseError as exc:
                    err = state_error(Path(p), exc)
                    raise (err or StateError(f"cannot read the assets of {p}: {exc}")) from exc
            conn.execute("CREATE INDEX seen_key ON seen (repository, path)")
            dup = ("SELECT repository, path, group_concat(shard) FROM seen GROUP BY "
                   "repository, path HAVING count(*) > 1")
            total = conn.execute(f"SELECT count(*) FROM ({dup})").fetchone()[0]
            rows = conn.execute(f"{dup} ORDER BY repository, path LIMIT ?", (limit,))
            listed = [(repo, path, sorted(int(x) for x in shards.split(",")))
                      for repo, path, shards in rows]
        finally:
            conn.close()
    return listed, int(total)
