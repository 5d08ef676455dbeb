"""The spool: the folder where downloads wait between the source and the target.

`options.spool_dir` (default: `spool/` beside the state file, so it lives on the disk the
operator chose for the state, not in /tmp). Each run works in its own sub-folder,

    <spool_dir>/<state stem>-<8 hex of the state's path>-run-<pid>-<UTC start>/
        owner.json      {"state", "pid", "host", "command", "started"}
        v<id>-<attempt>/a<asset id><suffix>   (migrator.sources.access.SourceAccess)

File names in the spool are ours (`migrator.paths.spool_name`: the asset's id and a known
suffix such as `.whl`), never the source's: a listed name can be 3,000 characters long
(`File name too long`) or hold bytes the filesystem refuses.

and removes it when it ends. A run killed with `kill -9` cannot, so a new run removes the
sub-folders of dead runs when it starts: it holds the state's run lock then (the lock is
held by a live run and freed by the kernel when it dies), so every other sub-folder of this
state is a dead run's. The state's stem and a digest of its absolute path in the names keep
two states that share one spool folder from touching each other's files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from migrator.errors import ConfigError, StateError
from migrator.manifest import Manifest
from migrator.state import WorkQueue

__all__ = ["OWNER_FILE", "RunSpool", "open_spool", "run_spool", "spool_prefix"]

logger = logging.getLogger(__name__)

OWNER_FILE = "owner.json"


@dataclass(frozen=True)
class RunSpool:
    """This run's spool folder, and what was cleaned up before it was made."""

    root: Path
    path: Path
    removed: list[Path] = field(default_factory=list)
    freed_bytes: int = 0


def spool_prefix(state_path: Path) -> str:
    """The name prefix of the run folders of one state: `<stem>-<8 hex>-run-`."""
    digest = hashlib.sha256(str(Path(state_path).resolve()).encode()).hexdigest()[:8]
    return f"{Path(state_path).stem}-{digest}-run-"


def open_spool(manifest: Manifest, queue: WorkQueue, *, command: str = "run",
               now: float | None = None) -> RunSpool:
    """Remove the spool folders of this state's dead runs and make this run's.

    `queue` must hold the state's run lock (that is what makes the others dead).

    :raises StateError: the queue does not hold the run lock (a bug in the caller).
    :raises ConfigError: the spool folder cannot be created or written.
    """
    if not queue.locked:
        raise StateError(f"the spool of {queue.path} is only managed under its run lock",
                         hint="this is a bug in migrator; please report it")
    root = manifest.spool_path(queue.path)
    prefix = spool_prefix(queue.path)
    started = time.time() if now is None else now
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))
    mine = root / f"{prefix}{os.getpid()}-{stamp}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        removed, freed = _remove_dead(root, prefix, keep=mine)
        mine.mkdir()
        owner = {"state": str(queue.path.absolute()), "pid": os.getpid(),
                 "host": socket.gethostname(), "command": command, "started": started}
        (mine / OWNER_FILE).write_text(json.dumps(owner) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot use the spool folder {root}: {exc.strerror or exc}",
                          hint="make it writable for this user, or set options.spool_dir in "
                          "the manifest to another folder") from None
    if removed:
        logger.info("removed %d spool folder(s) of dead runs in %s (%d bytes)", len(removed),
                    root, freed)
    return RunSpool(root=root, path=mine, removed=removed, freed_bytes=freed)


@contextmanager
def run_spool(manifest: Manifest, queue: WorkQueue, *, command: str = "run"
              ) -> Iterator[RunSpool]:
    """`open_spool`, and this run's folder removed when the block ends (a process that is
    killed leaves it to the next run)."""
    spool = open_spool(manifest, queue, command=command)
    try:
        yield spool
    finally:
        shutil.rmtree(spool.path, ignore_errors=True)


def _remove_dead(root: Path, prefix: str, *, keep: Path) -> tuple[list[Path], int]:
    removed: list[Path] = []
    freed = 0
    for child in sorted(root.iterdir()):
        if (not child.name.startswith(prefix) or child == keep or child.is_symlink()
                or not child.is_dir()):
            continue
        freed += _size(child)
        shutil.rmtree(child)
        removed.append(child)
        logger.debug("removed the spool folder of a dead run: %s", child)
    return removed, freed


def _size(folder: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            with suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total
