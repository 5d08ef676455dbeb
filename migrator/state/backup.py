"""`backup`: a consistent copy of a state file, safe while a run is going.

SQLite's online backup API (`sqlite3.Connection.backup`) copies every page under one read
transaction, from a read-only connection: a run holding the state's lock keeps writing (WAL
readers never block the writer) and the copy is the state as of one instant, with the
committed contents of the -wal file folded in. The copy is one self-contained file (rollback
journal mode, no -wal/-shm beside it), checked with `PRAGMA integrity_check`, and appears
under its name only once it is complete and checked (written beside it, then hard-linked,
which never replaces an existing file).

To restore: stop every run on the state, move `<name>.sqlite` and its `-wal`/`-shm` files
away, copy the backup to `<name>.sqlite`; the next run or `resume` opens it as usual.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrator.errors import StateCorruptError, StateError
from migrator.models import human_bytes
from migrator.state.db import connect, foreign_error, inspect, integrity_verdict, state_error

__all__ = ["StateBackup", "backup", "default_backup_path"]

_SQLITE_FULL = 13


@dataclass(frozen=True)
class StateBackup:
    """A verified copy of a state."""

    source: Path
    path: Path
    size: int
    integrity: str  # "ok"

    def as_dict(self) -> dict[str, Any]:
        return {"state": str(self.source), "backup": str(self.path), "bytes": self.size,
                "integrity_check": self.integrity}

    def render(self) -> str:
        return (f"backed up {self.source} to {self.path} ({human_bytes(self.size)}, "
                f"integrity_check: {self.integrity})")


def default_backup_path(state_path: Path, now: float | None = None) -> Path:
    """`<stem>.<UTC yyyymmddThhmmssZ>.bak.sqlite` beside the state file."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    return state_path.with_name(f"{state_path.stem}.{stamp}.bak.sqlite")


def backup(state_path: str | os.PathLike[str], dest: str | os.PathLike[str] | None = None, *,
           now: float | None = None) -> StateBackup:
    """Copy the state at `state_path` to `dest` (default: `default_backup_path`) and verify
    the copy; returns where it is and its size. Takes no lock: safe during a run.

    :raises StateError: no state there, not a migrator state, `dest` already exists (never
        overwritten) or its folder is missing, no room for the copy.
    :raises StateCorruptError: the state is damaged (the copy failed `integrity_check`; it
        is removed).
    """
    src_path = Path(state_path)
    if not src_path.is_file():
        raise StateError(f"no state file at {src_path}",
                         hint="pass the state's path (--state PATH) or its manifest")
    out = Path(dest) if dest is not None else default_backup_path(src_path, now)
    if out.exists():
        raise StateError(f"{out} already exists; a backup never replaces a file",
                         hint="pass another --to path, or move that file away")
    if not out.parent.is_dir():
        raise StateError(f"cannot write the backup {out}: its folder does not exist",
                         hint="create the folder first, or pass another --to path")
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    try:
        src = connect(src_path, readonly=True)
        try:
            kind, tables = inspect(src)
            if kind == "foreign":
                raise foreign_error(src_path, tables)
            if kind == "new":
                raise StateError(f"{src_path} holds no migrator state (it is empty)",
                                 hint="back up a state that a plan or run has written")
            partial.unlink(missing_ok=True)
            dst = connect(partial, timeout=5.0)
            try:
                src.backup(dst)  # all pages in one step: one consistent snapshot
                dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
                verdict = [r[0] for r in dst.execute("PRAGMA integrity_check(4)")]
            finally:
                dst.close()
        finally:
            src.close()
        if verdict != ["ok"]:
            raise StateCorruptError(
                f"{src_path} is damaged: its copy failed integrity_check: "
                f"{integrity_verdict(partial)}",
                hint="the backup was not kept; restore an older backup, or move the state "
                "away to start a new one")
        try:
            os.link(partial, out)  # fails if `out` appeared meanwhile: never overwrites
        except FileExistsError:
            raise StateError(f"{out} already exists; a backup never replaces a file",
                             hint="pass another --to path, or move that file away") from None
        except OSError:
            # A filesystem without hard links: the check above is as close as it gets.
            if out.exists():
                raise StateError(f"{out} already exists; a backup never replaces a file",
                                 hint="pass another --to path") from None
            os.replace(partial, out)
    except sqlite3.DatabaseError as exc:
        if (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF == _SQLITE_FULL:
            raise StateError(f"no room for the backup {out} ({exc})",
                             hint="free space there, or pass --to a path on another "
                             "disk") from exc
        err = state_error(src_path, exc)
        if err is None:
            raise
        raise err from exc
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        for suffix in ("-journal", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                partial.with_name(partial.name + suffix).unlink(missing_ok=True)
    return StateBackup(source=src_path, path=out, size=out.stat().st_size, integrity="ok")


