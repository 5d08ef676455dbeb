"""SQLite at the edge of the state package: connections, what a file is, errors as StateErrors.

- `connect(path, readonly=...)`: the one way the state package opens a file (read-only with
  a `mode=ro` URI, so an inspection such as `migrator status` never writes).
- `inspect(conn)`: whether a file is new (no tables), a migrator state (the `meta` marker
  `format = migrator-state`, or the migration record of states written before the marker) or
  something else, read before anything is written to it.
- `state_error(path, exc)`: an `sqlite3.DatabaseError` as the `StateError` an operator can act
  on: a damaged file (with `PRAGMA integrity_check`'s first lines), a full disk, an I/O error,
  a read-only or locked file. Errors that mean a bug in migrator (a constraint, a closed
  connection, a typo in SQL) are left alone, so they keep their traceback.
- `guard_sqlite`: wraps every public method of `WorkQueue` / `Queries`, so an error surfacing
  mid-run (a page found damaged when a query first touches it) is the same one line.
"""

from __future__ import annotations

import functools
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote

from migrator.errors import MigratorError, StateCorruptError, StateError
from migrator.state.schema import migrations

__all__ = [
    "FORMAT",
    "check_pages",
    "connect",
    "guard_sqlite",
    "inspect",
    "integrity_verdict",
    "state_error",
]

#: The `meta` row that marks a file as a migrator state (`meta.format`).
FORMAT = "migrator-state"
#: What the first 16 bytes of every SQLite 3 database are.
SQLITE_MAGIC = b"SQLite format 3\x00"

Kind = Literal["new", "state", "foreign"]

# Primary result codes (https://sqlite.org/rescode.html).
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, \
    14, 26

_HINT_DAMAGED = (
    "restore a backup (`migrator state backup` makes them): stop every run on it, move "
    "{name} and its -wal/-shm files away and copy the backup to {name}; or move them away to "
    "start a new state (the next run crawls again; files already in CodeArtifact are "
    "recorded as identical, not published twice)")


def connect(path: Path, *, readonly: bool = False, timeout: float = 30.0) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit); `readonly` opens the file
    with a `mode=ro` URI: SQLite refuses every write, and a missing file is an error."""
    if readonly:
        uri = f"file:{quote(str(path.absolute()))}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None,
                               check_same_thread=False)
    else:
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None,
                               check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    return conn


def has_sqlite_header(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def inspect(conn: sqlite3.Connection) -> tuple[Kind, list[str]]:
    """What the connected file is, and its tables; reads only (nothing is written yet).

    :raises sqlite3.DatabaseError: the file is not a database, or page 1 is damaged.
    """
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name")]
    if not tables:
        return "new", tables
    if "meta" in tables:
        row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        if row is not None and row[0] == FORMAT:
            return "state", tables
    if "_sqlite_migrations" in tables:
        # States written before the marker existed: the schema's migration record.
        row = conn.execute("SELECT count(*) FROM _sqlite_migrations WHERE migration_set = ?",
                           (migrations.name,)).fetchone()
        if row[0]:
            return "state", tables
    return "foreign", tables


def foreign_error(path: Path, tables: list[str]) -> StateError:
    shown = ", ".join(tables[:8]) + (f", ... ({len(tables)} in all)" if len(tables) > 8 else "")
    return StateError(f"{path} is a SQLite database but not a migrator state (tables: {shown})",
                      hint="point --state at a migrator state file or a new path")


def integrity_verdict(path: Path, *, lines: int = 3, width: int = 240) -> str:
    """`PRAGMA integrity_check`'s first `lines` findings on `path`, on one short line
    (a fresh read-only connection: the one that failed may be unusable). When the check
    itself cannot run, the tables that cannot be read."""
    try:
        conn = connect(path, readonly=True, timeout=5.0)
    except sqlite3.Error as exc:
        return f"cannot open it ({exc})"
    try:
        try:
            rows = [line for r in conn.execute(f"PRAGMA integrity_check({lines + 1})")
                    for line in str(r[0]).splitlines()]
        except sqlite3.Error as exc:
            text = f"it stopped ({exc})"
            bad = _unreadable_tables(conn)
            if bad:
                text += f"; unreadable tables: {', '.join(bad)}"
            return _shorten(text, width)
    finally:
        conn.close()
    rows = [r for r in rows if r and not r.startswith("*** in database")]
    return _shorten("; ".join(rows[:lines]) + (" ..." if len(rows) > lines else ""), width)


def check_pages(conn: sqlite3.Connection, path: Path) -> None:
    """`PRAGMA quick_check` over every page (about 0.5 s per million assets).

    :raises StateCorruptError: with `integrity_check`'s verdict.
    """
    try:
        rows = [r[0] for r in conn.execute("PRAGMA quick_check(1)")]
    except sqlite3.DatabaseError as exc:
        err = state_error(path, exc)
        if err is None:
            raise
        raise err from exc
    if rows != ["ok"]:
        raise StateCorruptError(f"{path} is damaged; integrity_check: "
                                f"{integrity_verdict(path)}",
                                hint=_HINT_DAMAGED.format(name=path.name))


def _unreadable_tables(conn: sqlite3.Connection) -> list[str]:
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    except sqlite3.Error:
        return ["sqlite_master"]
    bad = []
    for name in names:
        try:
            for _ in conn.execute(f'SELECT * FROM "{name}"'):
                pass
        except sqlite3.Error:
            bad.append(name)
    return bad


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3].rstrip() + "..."


def state_error(path: Path, exc: sqlite3.Error) -> MigratorError | None:
    """The StateError an operator can act on for `exc` on the state `path`, or None when
    `exc` is a bug in migrator (it keeps its traceback)."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    name = path.name
    if primary in (_CORRUPT, _NOTADB) or (primary is None and "malformed" in str(exc)):
        if primary == _NOTADB and not has_sqlite_header(path):
            return StateError(f"{path} is not a SQLite database, so not a migrator state",
                              hint="point --state at a migrator state file or a new path")
        return StateCorruptError(
            f"{path} is damaged ({exc}); integrity_check: {integrity_verdict(path)}",
            hint=_HINT_DAMAGED.format(name=name))
    if primary == _FULL:
        free = _free_bytes(path.parent)
        return StateError(f"the disk holding the state {path} is full ({exc}; "
                          f"{free} bytes free)",
                          hint="free space on that filesystem; everything committed is kept, "
                          "`migrator resume` continues")
    if primary == _IOERR:
        return StateError(f"I/O error on the state {path} ({exc})",
                          hint="check the disk and the filesystem holding it (dmesg); "
                          "everything committed is kept")
    if primary == _READONLY:
        return StateError(f"the state {path} cannot be written ({exc})",
                          hint="give this user write access to the file and its folder "
                          "(SQLite writes -wal/-shm files beside it)")
    if primary == _CANTOPEN:
        return StateError(f"cannot open the state {path} ({exc})",
                          hint="check that its folder exists and this user may read and "
                          "write it")
    if primary in (_BUSY, _LOCKED):
        return StateError(f"the state {path} stayed locked by another SQLite connection "
                          f"({exc})",
                          hint="another program holds a write transaction on it (a SQLite "
                          "shell?); close it and try again")
    return None


def _free_bytes(folder: Path) -> str:
    try:
        return str(shutil.disk_usage(folder).free)
    except OSError:
        return "unknown"


F = TypeVar("F", bound=Callable[..., Any])


def _guarded(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            err = state_error(self.path, exc)
            if err is None:
                raise
            raise err from exc

    wrapper.__sqlite_guarded__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


C = TypeVar("C", bound=type)


def guard_sqlite(cls: C) -> C:
    """Class decorator: every public method of `cls` (its own, not inherited) turns the
    SQLite errors an operator can act on into `StateError`s (see `state_error`). The instance
    must have `path` (the state file)."""
    for attr, value in list(vars(cls).items()):
        if attr.startswith("_") or not callable(value) or isinstance(value, (classmethod,
                                                                            staticmethod)):
            continue
        if getattr(value, "__sqlite_guarded__", False):
            continue
        setattr(cls, attr, _guarded(value))
    return cls
