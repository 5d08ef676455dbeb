"""Where a command's state lives, and opening it: a local file, or an S3 object with a lease.

    loc = locate_state(manifest, state, shard)
        --state PATH                 that file
        --state s3://bucket/key      that object (worked on in a local copy)
        neither                      options.state_url, else <state_dir>/<stem>.sqlite; with
                                     a shard, `.shard-K-of-N` before the suffix of either, so
                                     the one command line of an Indexed Job gives each pod
                                     its own state
    with open_state(loc, command="run", shard=shard, manifest=m) as queue: ...
        (plan, run, resume, sync, prewarm: the engine's commands, checkpointed as they go)

Every other command that takes a state (`status`, `report`, `verify`, `cutover`, `retry`,
`state backup`, `run --only-failed`, `prewarm --dry-run`) gets its file from ONE function:

    with state_file(m, state, command="status", writes=False) as sf:
        read_status(sf.path) ... sf.note()   # "the last checkpoint, saved ..." for S3

    writes=False   a local state is read in place; an S3 state is downloaded (one GET) into
                   a temporary folder, removed afterwards, and no lease is taken: the
                   command never writes, so it is never in a running job's way; what it
                   reads is the job's last checkpoint, whose time (the object's
                   LastModified) `note()` gives
    writes=True    a local state is used in place (the command takes its own lock); an S3
                   state is held by the lease exactly as `run` holds it (refused while a job
                   runs on it), restored, and saved when the command ends (short commands:
                   no checkpoints in between; one that fails changed nothing and is not
                   saved)

For S3 (`migrator.state.remote`): the lease is taken first (a second job is refused, naming
the holder), the saved state is restored into the local copy, a thread renews the lease and
saves a snapshot every `options.state_checkpoint_seconds`, and the state is saved once more
when the command ends, however it ends short of `kill -9` (done, failed, interrupted:
SIGTERM and SIGINT end as `Interrupted`, exit 3, after the save). A job that loses its lease
stops (SIGTERM to itself) and never saves over its successor.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from migrator.errors import ConfigError, Interrupted, MigratorError, StateError, StateLockedError
from migrator.manifest import DEFAULT_STATE_DIR, Manifest
from migrator.models import Shard
from migrator.pipeline.shard import bind_shard, shard_state_path
from migrator.state import WorkQueue
from migrator.state.backup import StateBackup, backup, default_backup_path
from migrator.state.remote import (
    Checkpointer,
    Lease,
    NoSavedState,
    RemoteState,
    is_remote,
    parse_s3_url,
)

__all__ = ["RemoteBackup", "StateFile", "StateLocation", "backup_state", "locate_state",
           "open_state", "read_remote", "state_file"]

logger = logging.getLogger(__name__)

#: The folder (under the state folder) of local working copies of S3 states.
WORKING_COPIES = "s3"


@dataclass(frozen=True)
class StateLocation:
    """The file a command works on, and the S3 object it is restored from and saved to."""

    local: Path
    remote: str | None = None

    def __str__(self) -> str:
        return self.remote or str(self.local)


def locate_state(manifest: Manifest | None, state: str | os.PathLike[str] | None,
                 shard: Shard | None = None) -> StateLocation:
    """The state of a command (see the module's docstring).

    :raises ConfigError: neither a manifest nor a state was given.
    :raises StateError: a malformed s3:// URL.
    """
    folder = (manifest.resolve(manifest.options.state_dir) if manifest is not None
              else DEFAULT_STATE_DIR.absolute())
    if state is not None and not is_remote(str(state)):
        return StateLocation(Path(state))
    if state is not None:
        url = str(state)
    elif manifest is None:
        raise ConfigError("no state given", hint="pass MANIFEST or --state PATH")
    elif manifest.options.state_url:
        url = _shard_url(manifest.options.state_url, shard)
    else:
        return StateLocation(shard_state_path(manifest.state_path, shard))
    bucket, key = parse_s3_url(url)
    return StateLocation(folder / WORKING_COPIES / bucket / key, url)


def _shard_url(url: str, shard: Shard | None) -> str:
    if shard is None:
        return url
    head, _, name = url.rpartition("/")
    return f"{head}/{shard_state_path(Path(name), shard).name}"


@contextmanager
def open_state(loc: StateLocation, *, command: str, shard: Shard | None = None,
               manifest: Manifest | None = None) -> Iterator[WorkQueue]:
    """The state under its run lock (and, for S3, its lease), checked against `shard`.

    :raises StateLockedError: another process (or job) holds it. :raises ConfigError: the
        state belongs to another shard. :raises StateError: S3 or the file is unusable.
    """
    if loc.remote is None:
        with WorkQueue.open(loc.local, lock_for=command) as q:
            bind_shard(q, shard)
            yield q
        return
    options = manifest.options if manifest is not None else None
    remote = _remote(loc.remote, loc.local, manifest)
    remote.acquire(command)
    checkpointer: Checkpointer | None = None
    failed = True
    opened = False  # only a state that was restored and opened is ever uploaded
    try:
        remote.restore()
        with WorkQueue.open(loc.local, lock_for=command) as q:
            opened = True
            bind_shard(q, shard)
            checkpointer = Checkpointer(
                remote, checkpoint_seconds=options.state_checkpoint_seconds if options
                else 60.0, on_lost=_stop_this_run)
            checkpointer.start()
            try:
                yield q
            except Interrupted:
                if checkpointer.lost is not None:
                    # We stopped ourselves: say why (exit 2), not "interrupted, resume".
                    raise checkpointer.lost from None
                raise
        failed = False
    finally:
        if checkpointer is not None:
            checkpointer.stop()
        try:
            if opened and remote.held and (checkpointer is None or checkpointer.lost is None):
                size = remote.save()
                logger.info("saved the state to %s (%d bytes)", loc.remote, size)
        except MigratorError as exc:
            if not failed:
                raise
            # The command's own error is the one to report; this one goes to the log.
            logger.error("could not save the state to %s: %s", loc.remote, exc)
        finally:
            remote.release()
    if checkpointer is not None and checkpointer.lost is not None:
        raise checkpointer.lost


def _stop_this_run(_exc: StateLockedError) -> None:
    """The lease is gone: stop like on SIGTERM (work in flight is finished or given back)."""
    if threading.main_thread().is_alive():
        os.kill(os.getpid(), signal.SIGTERM)


def read_remote(url: str, manifest: Manifest | None = None) -> Path:
    """A copy of the saved state of `url` in a new temporary folder (the caller removes it),
    to read without the lease (the manifest `resume` needs before it takes the lease).

    :raises StateError: nothing saved there yet, or S3 refused.
    """
    folder = Path(tempfile.mkdtemp(prefix="migrator-state-"))
    remote = _remote(url, folder / "state.sqlite", manifest)
    if not remote.restore():
        raise StateError(f"{url} holds no state yet",
                         hint="run `migrator run MANIFEST --state URL` first")
    return remote.local


def _remote(url: str, local: Path, manifest: Manifest | None) -> RemoteState:
    """The S3 state `url` worked on in `local`, with the manifest's AWS profile, region and
    lease length."""
    options = manifest.options if manifest is not None else None
    target = manifest.target if manifest is not None else None
    return RemoteState.from_url(
        url, local, lease_seconds=options.state_lease_seconds if options else 300.0,
        profile=target.profile if target else None, region=target.region if target else None)


@dataclass
class StateFile:
    """The local file a command works on (`path`), where it lives (`location`), and for a
    read-only copy of an S3 state when that copy was saved and who holds the state now."""

    path: Path
    location: StateLocation
    saved_at: float | None = None  # the S3 object's LastModified (epoch seconds)
    holder: Lease | None = None  # the live lease on the S3 state, when a job holds it
    manifest: Manifest | None = None
    _remote: RemoteState | None = None  # read-only copies: where refresh() reads
    _etag: str | None = None

    @property
    def remote(self) -> str | None:
        return self.location.remote

    def refresh(self) -> bool:
        """Download the S3 state again if it was saved since (`status --watch`); whether
        the copy changed. A local state is always current."""
        if self._remote is None:
            return False
        snap = self._remote.download(self.path, unless_etag=self._etag)
        self.holder = self._remote.holder()
        if snap is None:
            return False
        self.saved_at, self._etag = snap.saved_at, snap.etag
        return True

    def held_by(self, _path: Path | None = None) -> dict[str, object] | None:
        """Who runs on the state now, as `migrator.reports.status` shows a run lock's
        holder; for an S3 state its live lease, else None."""
        h = self.holder
        if h is None:
            return None
        return {"pid": h.pid, "host": h.host, "command": h.command, "started": h.acquired}

    def clock(self) -> float:
        """The time a read-only copy stands for: when it was saved (rates and ages of the
        live view are of that moment), else now."""
        return self.saved_at if self.saved_at is not None else time.time()

    def note(self) -> str | None:
        """For a read-only copy of an S3 state: what it is (None for a local state)."""
        if self.remote is None or self.saved_at is None:
            return None
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.saved_at))
        line = f"state {self.remote}: the last checkpoint, saved {when}"
        if self.holder is not None:
            line += f"; in use by {self.holder.describe()}"
        return line

    def as_dict(self) -> dict[str, object] | None:
        if self.remote is None or self.saved_at is None:
            return None
        return {"url": self.remote, "saved_at": self.saved_at,
                "in_use_by": self.holder.describe() if self.holder else None}


@contextmanager
def state_file(manifest: Manifest | None, state: str | os.PathLike[str] | None, *,
               command: str, writes: bool, shard: Shard | None = None,
               missing_ok: bool = False) -> Iterator[StateFile]:
    """The state file of a command other than plan/run/resume (see the module's docstring):
    `--state` (a path or s3:// URL), else the manifest's `options.state_url` or local default.
    `missing_ok`: an S3 state never saved yet is an empty file (else StateError).

    :raises ConfigError: neither a manifest nor a state. :raises StateLockedError: (writes)
        a job holds the S3 state. :raises StateError: S3 refused, or nothing saved there.
    """
    loc = locate_state(manifest, state, shard)
    if loc.remote is None:
        yield StateFile(loc.local, loc, manifest=manifest)
        return
    if not writes:
        folder = Path(tempfile.mkdtemp(prefix="migrator-state-"))
        try:
            # Named as the object is, so what reads it (a merge naming shards) sees its name.
            remote = _remote(loc.remote, folder / Path(loc.local.name), manifest)
            sf = StateFile(remote.local, loc, manifest=manifest, _remote=remote)
            try:
                sf.refresh()
            except NoSavedState:
                if not missing_ok:
                    raise
            yield sf
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    remote = _remote(loc.remote, loc.local, manifest)
    remote.acquire(command)
    try:
        if not remote.restore() and not missing_ok:
            raise StateError(f"{loc.remote} holds no state yet",
                             hint="run `migrator run MANIFEST --state URL` (or plan) first")
        yield StateFile(loc.local, loc, manifest=manifest)
        if loc.local.is_file():
            # Saved only when the command finished: a failed one changed nothing there.
            size = remote.save()
            logger.info("saved the state to %s (%d bytes)", loc.remote, size)
    finally:
        remote.release()


@dataclass(frozen=True)
class RemoteBackup:
    """A verified copy of a state, uploaded to S3."""

    source: str
    url: str
    size: int
    integrity: str

    def as_dict(self) -> dict[str, object]:
        return {"state": self.source, "backup": self.url, "bytes": self.size,
                "integrity_check": self.integrity}

    def render(self) -> str:
        from migrator.models import human_bytes

        return (f"backed up {self.source} to {self.url} ({human_bytes(self.size)}, "
                f"integrity_check: {self.integrity})")


def backup_state(sf: StateFile, to: str | None, *, now: float | None = None
                 ) -> StateBackup | RemoteBackup:
    """`migrator state backup`: a checked copy of `sf` (opened by `state_file`) at `to`, a
    path or an s3:// URL, never over an existing file or object; default: beside the state
    (`<stem>.<UTC time>.bak.sqlite`, in the same bucket for an S3 state).

    :raises StateError: as `migrator.state.backup`, or S3 refused / the object exists.
    """
    if (to is None and sf.remote is None) or (to is not None and not is_remote(to)):
        return backup(sf.path, to, now=now)
    if to is None:
        head, _, name = str(sf.remote).rpartition("/")
        to = f"{head}/{default_backup_path(Path(name), now).name}"
    bucket_key = parse_s3_url(to)
    with tempfile.TemporaryDirectory(prefix="migrator-backup-") as tmp:
        made = backup(sf.path, Path(tmp) / Path(bucket_key[1]).name, now=now)
        _remote(to, made.path, sf.manifest).upload_new(made.path, bucket_key[1])
    return RemoteBackup(str(sf.location), to, made.size, made.integrity)
