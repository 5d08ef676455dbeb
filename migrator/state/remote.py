"""A state on S3 for runners without a disk of their own (CI jobs, Kubernetes pods, Batch).

    remote = RemoteState.from_url("s3://bucket/migrator/demo.sqlite", local=Path(...))
    remote.acquire("run")      # the lease object `<key>.lock`, by conditional write
    remote.restore()           # the last saved snapshot → the local working copy
    ... the run works on the local copy; a `Checkpointer` thread renews the lease and
    ... calls remote.save() every `checkpoint_seconds`
    remote.save()              # SQLite online backup → one PUT of a self-contained file
    remote.release()           # the lease object deleted (only if it is still ours)

The lock is an S3 object created with `PutObject(IfNoneMatch="*")`: S3 lets exactly one of
several concurrent creators succeed (the others get 412 Precondition Failed, or 409
ConditionalRequestConflict while a competing write is in flight). It holds a lease: who
holds it (host, pid, a run id, the command) and until when. The holder renews it with
`PutObject(IfMatch=<the ETag it wrote last>)`, so a renewal by a holder that lost the lease
fails instead of overwriting its successor's. A successor finding an expired lease takes it
over with the same `IfMatch` on the expired lease's ETag: of two successors racing, one
wins and the other gets 412. Before every save the lease is renewed, so a job that lost its
lease never uploads a state over its successor's.

Expiry compares the lease's wall-clock time with this machine's: clocks of the machines that
share a state must agree to well within `lease_seconds` (NTP gives milliseconds).

What a `kill -9` between two checkpoints costs: the facts recorded after the last save. The
next job restores that snapshot and does that work again, which writes nothing twice to
CodeArtifact: every publisher lists what the version already holds before it uploads
(`ListPackageVersionAssets`) and reports an asset that is there with the same hashes as
identical instead of sending it again (migrator.target: `check_first`). The successor starts
only after the dead job's lease expired, well past the second or so CodeArtifact's listing
takes to show a publish.

The endpoint is boto3's: `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` (moto's server in the
tests, MinIO, ...), credentials from the usual chain.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrator.errors import StateError, StateLockedError
from migrator.state.backup import backup

__all__ = ["Checkpointer", "Lease", "NoSavedState", "RemoteState", "Snapshot", "is_remote",
           "parse_s3_url"]

logger = logging.getLogger(__name__)

SCHEME = "s3://"
LOCK_SUFFIX = ".lock"
# Status codes of a conditional write that lost: the precondition failed, or S3 was still
# applying a competing conditional write to the same key.
_LOST = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


def is_remote(ref: str | os.PathLike[str] | None) -> bool:
    """Whether a `--state` value names an S3 object."""
    return isinstance(ref, str) and ref.startswith(SCHEME)


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/key` → (bucket, key).

    :raises StateError: not such a URL.
    """
    bucket, _, key = url[len(SCHEME):].partition("/") if is_remote(url) else ("", "", "")
    if not bucket or not key or key.endswith("/"):
        raise StateError(f"{url!r} is not an s3://bucket/key URL of a state file",
                         hint="write it as s3://my-bucket/migrator/demo.sqlite")
    return bucket, key


@dataclass(frozen=True)
class Lease:
    """The body of the lock object: who holds the state and until when."""

    host: str
    pid: int
    run_id: str
    command: str
    acquired: float
    expires: float

    def describe(self) -> str:
        until = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.expires))
        return (f"pid {self.pid} on {self.host} ({self.command}, run {self.run_id[:8]}, "
                f"lease until {until})")

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Lease | None:
        try:
            d = json.loads(data)
            return cls(host=str(d["host"]), pid=int(d["pid"]), run_id=str(d["run_id"]),
                       command=str(d["command"]), acquired=float(d["acquired"]),
                       expires=float(d["expires"]))
        except (ValueError, KeyError, TypeError):
            return None


class RemoteState:
    """One state object on S3, its lease, and the local working copy the run uses."""

    def __init__(self, client: Any, bucket: str, key: str, local: Path, *,
                 lease_seconds: float = 300.0, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.lock_key = key + LOCK_SUFFIX
        self.local = local
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.run_id = uuid.uuid4().hex
        self.lease: Lease | None = None
        self._etag: str | None = None
        self._mutex = threading.Lock()  # the checkpoint thread and the main thread

    @classmethod
    def from_url(cls, url: str, local: Path, *, lease_seconds: float = 300.0,
                 profile: str | None = None, region: str | None = None,
                 clock: Callable[[], float] = time.time) -> RemoteState:
        """A client from boto3's usual configuration (profile, environment, endpoint
        variables); `region` only when the environment names none."""
        import boto3

        bucket, key = parse_s3_url(url)
        session = boto3.session.Session(profile_name=profile)
        client = session.client(
            "s3", region_name=os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION") or region)
        return cls(client, bucket, key, local, lease_seconds=lease_seconds, clock=clock)

    @property
    def url(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"

    # -- the lease -------------------------------------------------------------------------

    def acquire(self, command: str) -> Lease:
        """Take the lease: create the lock object, or take over an expired one.

        :raises StateLockedError: (exit 2) a live job holds it; the message names it.
        :raises StateError: S3 refused or is unreachable.
        """
        lease = self._new_lease(command)
        try:
            self._etag = self._put_lock(lease, IfNoneMatch="*")
        except _Lost:
            held, etag = self._read_lock()
            if held is not None and held.expires > self.clock():
                raise StateLockedError(
                    f"the state {self.url} is in use by {held.describe()}",
                    hint="wait for that job to finish or stop it; a job that died leaves "
                    f"its lease, which the next job takes over when it expires "
                    f"(options.state_lease_seconds = {self.lease_seconds:g})") from None
            if etag is None:
                return self.acquire(command)  # released meanwhile: create it again
            try:
                self._etag = self._put_lock(lease, IfMatch=etag)
            except _Lost:
                raise StateLockedError(
                    f"the state {self.url}: another job took over the expired lease "
                    f"{'of ' + held.describe() if held else ''} at the same moment",
                    hint="only one job may run on a state; this one stops") from None
            logger.warning("took over the expired lease on %s%s", self.url,
                           f" of {held.describe()}" if held else "")
        self.lease = lease
        logger.info("holding %s until %s", self.url,
                    time.strftime("%H:%M:%S UTC", time.gmtime(lease.expires)))
        return lease

    def renew(self) -> None:
        """Push the lease's expiry forward.

        :raises StateLockedError: the lease was taken over (this job must stop writing).
        """
        with self._mutex:
            if self.lease is None or self._etag is None:
                raise StateLockedError(f"the state {self.url} is not held by this job")
            lease = Lease(**{**self.lease.__dict__,
                             "expires": self.clock() + self.lease_seconds})
            try:
                self._etag = self._put_lock(lease, IfMatch=self._etag)
            except _Lost:
                held, _ = self._read_lock()
                self.lease = self._etag = None
                raise StateLockedError(
                    f"lost the lease on {self.url}"
                    + (f" to {held.describe()}" if held else "")
                    + ": this job's state is not saved over it",
                    hint="a lease expires when its holder stops renewing it (a stalled "
                    "machine, clocks apart); raise options.state_lease_seconds") from None
            self.lease = lease

    def release(self) -> None:
        """Delete the lock object if it is still ours (a conditional delete)."""
        with self._mutex:
            if self._etag is None:
                return
            try:
                self.client.delete_object(Bucket=self.bucket, Key=self.lock_key,
                                          IfMatch=self._etag)
            except Exception as exc:  # the lease expires by itself anyway
                logger.warning("could not remove the lease %s/%s (%s); it expires by itself",
                               self.url, LOCK_SUFFIX, _short(exc))
            self.lease = self._etag = None

    @property
    def held(self) -> bool:
        return self._etag is not None

    def _new_lease(self, command: str) -> Lease:
        now = self.clock()
        return Lease(host=socket.gethostname(), pid=os.getpid(), run_id=self.run_id,
                     command=command, acquired=now, expires=now + self.lease_seconds)

    def _put_lock(self, lease: Lease, **condition: str) -> str:
        resp = self._call("write the lease", self.client.put_object, Bucket=self.bucket,
                          Key=self.lock_key, Body=lease.to_json(),
                          ContentType="application/json", **condition)
        return resp["ETag"]

    def _read_lock(self) -> tuple[Lease | None, str | None]:
        try:
            resp = self._call("read the lease", self.client.get_object, Bucket=self.bucket,
                              Key=self.lock_key)
        except _Missing:
            return None, None
        return Lease.from_json(resp["Body"].read()), resp["ETag"]

    # -- the snapshot ----------------------------------------------------------------------

    def restore(self) -> bool:
        """Replace the local working copy with the saved state (S3 is the truth: a copy left
        on this machine by an earlier job may be older than another machine's save).
        Returns False when nothing was saved yet (a new state starts)."""
        self.local.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):
            self.local.with_name(self.local.name + suffix).unlink(missing_ok=True)
        partial = self.local.with_name(f".{self.local.name}.download-{os.getpid()}")
        try:
            self._call("download the state", self.client.download_file, self.bucket,
                       self.key, str(partial))
        except _Missing:
            logger.info("%s holds no state yet: a new one starts", self.url)
            return False
        os.replace(partial, self.local)
        logger.info("restored %s (%d bytes) to %s", self.url, self.local.stat().st_size,
                    self.local)
        return True

    def save(self) -> int:
        """Renew the lease, then upload a consistent copy of the working state (SQLite's
        online backup: safe while the run writes). Returns the bytes uploaded.

        :raises StateLockedError: the lease was lost; nothing is uploaded.
        """
        self.renew()
        copy = self.local.with_name(f".{self.local.name}.upload-{os.getpid()}-"
                                    f"{threading.get_ident()}")
        copy.unlink(missing_ok=True)
        try:
            size = backup(self.local, copy).size
            self._call("upload the state", self.client.upload_file, str(copy), self.bucket,
                       self.key)
        finally:
            copy.unlink(missing_ok=True)
        logger.debug("saved %s (%d bytes)", self.url, size)
        return size

    # -- read-only copies and backups (no lease) -------------------------------------------

    def holder(self) -> Lease | None:
        """The live lease on the state, if a job holds one (an expired one is no holder)."""
        held, _ = self._read_lock()
        return held if held is not None and held.expires > self.clock() else None

    def download(self, dest: Path, *, unless_etag: str | None = None) -> Snapshot | None:
        """The saved state as it is now (one GET: its bytes, time and ETag belong together)
        into `dest`, replaced only once complete. With `unless_etag`, None when the object
        still has that ETag (304: `dest` is left as it is).

        :raises StateError: nothing saved there yet, or S3 refused.
        """
        kw = {"IfNoneMatch": unless_etag} if unless_etag else {}
        try:
            resp = self._call("download the state", self.client.get_object,
                              Bucket=self.bucket, Key=self.key, **kw)
        except _NotModified:
            return None
        except _Missing:
            raise NoSavedState(f"{self.url} holds no state yet",
                               hint="run `migrator run MANIFEST --state URL` (or plan) "
                               "first") from None
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(f".{dest.name}.download-{os.getpid()}")
        try:
            with partial.open("wb") as fh:
                for chunk in resp["Body"].iter_chunks(1 << 20):
                    fh.write(chunk)
            os.replace(partial, dest)
        finally:
            partial.unlink(missing_ok=True)
        return Snapshot(saved_at=resp["LastModified"].timestamp(), etag=resp["ETag"],
                        size=dest.stat().st_size)

    def upload_new(self, local: Path, key: str) -> None:
        """`local` as the new object `key` of this bucket, never over an existing one
        (`If-None-Match: *`).

        :raises StateError: `key` exists already, or S3 refused.
        """
        url = f"{SCHEME}{self.bucket}/{key}"
        try:
            with local.open("rb") as fh:
                self._call("upload the backup", self.client.put_object, Bucket=self.bucket,
                           Key=key, Body=fh, IfNoneMatch="*")
        except _Lost:
            raise StateError(f"{url} already exists; a backup never replaces an object",
                             hint="pass another --to, or remove that object") from None

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(*args, **kw)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            if code in ("304", "NotModified") or status == "304":
                raise _NotModified from None
            if code in _LOST or status in ("412", "409"):
                raise _Lost from None
            if code in ("NoSuchKey", "404", "NotFound") or status == "404":
                if code == "NoSuchBucket":
                    raise StateError(f"cannot {what} {self.url}: no bucket {self.bucket!r}",
                                     hint="create the bucket, or fix options.state_url / "
                                     "--state") from None
                raise _Missing from None
            raise StateError(f"cannot {what} {self.url}: S3 answered {code or status}: "
                             f"{err.get('Message', '')}".rstrip(": "),
                             hint="check the bucket name and that the job's role may "
                             "s3:GetObject, s3:PutObject and s3:DeleteObject there") from None
        except (BotoCoreError, S3UploadFailedError, OSError) as exc:
            # S3UploadFailedError: how boto3's transfer manager reports a refused upload.
            raise StateError(f"cannot {what} {self.url}: {_short(exc)}",
                             hint="check AWS credentials and the S3 endpoint "
                             "(AWS_ENDPOINT_URL_S3)") from None


class _Lost(Exception):
    """A conditional write whose condition did not hold."""


class _Missing(Exception):
    """No such object."""


class NoSavedState(StateError):
    """Nothing was saved at a state's URL yet."""


class _NotModified(Exception):
    """A conditional GET whose object still has the ETag given."""


@dataclass(frozen=True)
class Snapshot:
    """One download of a saved state: when S3 last stored it (LastModified, epoch
    seconds), its ETag and size."""

    saved_at: float
    etag: str
    size: int


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


class Checkpointer:
    """A thread that renews the lease (every third of it) and saves the state (every
    `checkpoint_seconds`) while a run goes on. When the lease is lost it calls `on_lost`
    (the run stops: it must not go on writing a state nobody will keep)."""

    def __init__(self, remote: RemoteState, *, checkpoint_seconds: float,
                 on_lost: Callable[[StateLockedError], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.remote = remote
        self.checkpoint_seconds = checkpoint_seconds
        self.on_lost = on_lost
        self.clock = clock
        self.saves = 0
        self.lost: StateLockedError | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="state-checkpoint",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        renew_every = max(self.remote.lease_seconds / 3, 0.2)
        tick = min(renew_every, self.checkpoint_seconds)
        next_save = self.clock() + self.checkpoint_seconds
        while not self._stop.wait(tick):
            try:
                if self.clock() >= next_save:
                    self.remote.save()  # renews first
                    self.saves += 1
                    next_save = self.clock() + self.checkpoint_seconds
                else:
                    self.remote.renew()
            except StateLockedError as exc:
                self.lost = exc
                logger.error("%s", exc)
                if self.on_lost is not None:
                    self.on_lost(exc)
                return
            except Exception as exc:  # S3 hiccups: try again next tick
                logger.warning("state checkpoint to %s failed (%s); trying again",
                               self.remote.url, _short(exc))

