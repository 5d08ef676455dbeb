"""Where a command's state lives, and opening it: a local file, or an S3 object with a lease.

    loc = locate_state(manifest, state, shard)
        --state PATH                 that file
        --state s3://bucket/key      that object (worked on in a local copy)
        neither                      options.state_url, else <state_dir>/<stem>.sqlite; with
                                     a shard, `.shard-K-of-N` before the suffix of either, so
                                     the one command line of an Indexed Job gives each pod
                                     its own state
    with open_state(loc, command="run", shard=shard, manifest=m) as queue: ...

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
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from migrator.errors import ConfigError, Interrupted, MigratorError, StateLockedError
from migrator.manifest import DEFAULT_STATE_DIR, Manifest
from migrator.models import Shard
from migrator.pipeline.shard import bind_shard, shard_state_path
from migrator.state import WorkQueue
from migrator.state.remote import Checkpointer, RemoteState, is_remote, parse_s3_url

__all__ = ["StateLocation", "locate_state", "open_state", "read_remote"]

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
    target = manifest.target if manifest is not None else None
    remote = RemoteState.from_url(
        loc.remote, loc.local,
        lease_seconds=options.state_lease_seconds if options else 300.0,
        profile=target.profile if target else None, region=target.region if target else None)
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
    from migrator.errors import StateError

    folder = Path(tempfile.mkdtemp(prefix="migrator-state-"))
    target = manifest.target if manifest is not None else None
    remote = RemoteState.from_url(url, folder / "state.sqlite",
                                  profile=target.profile if target else None,
                                  region=target.region if target else None)
    if not remote.restore():
        raise StateError(f"{url} holds no state yet",
                         hint="run `migrator run MANIFEST --state URL` first")
    return remote.local
