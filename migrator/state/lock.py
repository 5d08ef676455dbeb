"""An exclusive, crash-safe lock on a state file, naming its holder when refused."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from migrator.errors import StateLockedError


class StateLock:
    """An exclusive, crash-safe lock on a state file (flock: the kernel frees it on death)."""

    def __init__(self, state_path: Path, command: str) -> None:
        self.path = state_path.with_name(state_path.name + ".lock")
        self.command = command
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            try:
                h = json.loads(holder)
                since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(h["started"]))
                holder = f"pid {h['pid']} on {h['host']} ({h['command']}, since {since})"
            except (ValueError, KeyError, TypeError):
                pass
            raise StateLockedError(
                f"the state {self.path.with_suffix('')} is in use by {holder}",
                hint="wait for that run to finish or stop it; a dead process frees the lock "
                "by itself. Use another --state to run something else in parallel.",
            ) from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                "started": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def lock_holder(state_path: Path) -> dict | None:
    """Who holds the run lock of `state_path` now, read without locking anything (taking
    even a shared flock for a moment could make a starting run fail): the holder's record
    (pid, host, command, started), or None when no process holds it.

    The holder writes its record after taking the lock and empties it when it lets go; a
    process killed with -9 leaves its record behind, so a record naming a pid of this host
    that no longer exists is no holder. A record from another host (a shared filesystem)
    cannot be checked from here and is believed.
    """
    path = state_path.with_name(state_path.name + ".lock")
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    if not text:
        return None
    try:
        info = json.loads(text)
        pid = int(info["pid"])
    except (ValueError, KeyError, TypeError):
        return None
    if info.get("host") == socket.gethostname():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, another user's
    return info
