"""The S3 state and its lease, against moto's S3 server over loopback (real HTTP, real
conditional writes: `If-None-Match: *` and `If-Match` on PutObject, `If-Match` on
DeleteObject)."""

from __future__ import annotations

import json
import time
import uuid

import boto3
import pytest
from moto.server import ThreadedMotoServer

from migrator.errors import StateError, StateLockedError
from migrator.state import WorkQueue
from migrator.state.remote import Checkpointer, Lease, RemoteState, parse_s3_url

CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing",
         "region_name": "us-east-1"}


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    name = f"state-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, **CREDS)
    client.create_bucket(Bucket=name)
    return client, name


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _remote(bucket, tmp_path, name="a", clock=None, lease=30.0) -> RemoteState:
    _client, b = bucket
    return RemoteState.from_url(f"s3://{b}/mig/demo.sqlite", tmp_path / name / "demo.sqlite",
                                lease_seconds=lease, clock=clock or time.time)


def _lock_body(bucket) -> dict:
    client, b = bucket
    return json.loads(client.get_object(Bucket=b, Key="mig/demo.sqlite.lock")["Body"].read())


def test_parse_url():
    assert parse_s3_url("s3://b-1/x/y.sqlite") == ("b-1", "x/y.sqlite")
    for bad in ("s3://bucket", "s3://bucket/", "/tmp/x", "s3:///key"):
        with pytest.raises(StateError):
            parse_s3_url(bad)


def test_the_second_job_is_refused_with_the_holder_named(bucket, tmp_path):
    first = _remote(bucket, tmp_path, "a")
    lease = first.acquire("run")
    body = _lock_body(bucket)
    assert body["run_id"] == first.run_id and body["command"] == "run"
    assert body["expires"] == pytest.approx(lease.acquired + 30.0)
    second = _remote(bucket, tmp_path, "b")
    with pytest.raises(StateLockedError) as err:
        second.acquire("run")
    message = str(err.value)
    assert f"pid {lease.pid} on {lease.host}" in message and first.run_id[:8] in message
    assert err.value.exit_code == 2
    first.release()
    second.acquire("resume")  # free again
    assert _lock_body(bucket)["run_id"] == second.run_id


def test_an_expired_lease_is_taken_over_and_its_old_holder_cannot_save(bucket, tmp_path):
    clock = Clock()
    dead = _remote(bucket, tmp_path, "dead", clock, lease=10)
    dead.acquire("run")
    _state_with(dead.local, "who", "dead")
    dead.save()
    clock.now += 5
    successor = _remote(bucket, tmp_path, "next", clock, lease=10)
    with pytest.raises(StateLockedError):
        successor.acquire("run")  # still alive: 5 s of 10 left
    clock.now += 6  # the dead job stopped renewing: expired
    successor.acquire("run")
    assert _lock_body(bucket)["run_id"] == successor.run_id
    assert successor.restore()
    assert _meta(successor.local, "who") == "dead"
    # The old holder wakes up: its renewal and its save fail, its state is not uploaded.
    _state_with(dead.local, "who", "stale")
    with pytest.raises(StateLockedError) as err:
        dead.save()
    assert "lost the lease" in str(err.value) and successor.run_id[:8] in str(err.value)
    dead.release()  # not ours any more: the conditional delete leaves the lock alone
    assert _lock_body(bucket)["run_id"] == successor.run_id
    check = _remote(bucket, tmp_path, "check", clock)
    check.restore()
    assert _meta(check.local, "who") == "dead"


def test_two_successors_of_one_expired_lease_cannot_both_win(bucket, tmp_path):
    clock = Clock()
    _remote(bucket, tmp_path, "dead", clock, lease=5).acquire("run")
    clock.now += 60
    one = _remote(bucket, tmp_path, "one", clock)
    two = _remote(bucket, tmp_path, "two", clock)
    seen = two._read_lock()  # both read the same expired lease (same ETag) ...
    one.acquire("run")  # ... one takes it over first
    two._read_lock = lambda: seen  # the other still acts on what it read
    with pytest.raises(StateLockedError, match="at the same moment"):
        two.acquire("run")
    assert _lock_body(bucket)["run_id"] == one.run_id


def test_save_and_restore_round_trip_a_consistent_state(bucket, tmp_path):
    a = _remote(bucket, tmp_path, "a")
    a.acquire("run")
    assert a.restore() is False  # nothing saved yet: a new state
    with WorkQueue.open(a.local, lock_for="run") as q:
        q.set_meta("answer", "42")
        size = a.save()  # while the state is open and locked locally: the online backup
    a.release()
    b = _remote(bucket, tmp_path, "b")
    b.acquire("run")
    (b.local.parent).mkdir(parents=True, exist_ok=True)
    b.local.write_bytes(b"an older copy left on this machine")
    assert b.restore() is True
    assert b.local.stat().st_size == size
    assert _meta(b.local, "answer") == "42"


def test_checkpointer_renews_and_saves_until_stopped(bucket, tmp_path):
    r = _remote(bucket, tmp_path, "a", lease=1.5)
    r.acquire("run")
    _state_with(r.local, "n", "1")
    first_expiry = _lock_body(bucket)["expires"]
    cp = Checkpointer(r, checkpoint_seconds=0.3)
    cp.start()
    deadline = time.monotonic() + 20
    while cp.saves < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # polling for the thread, with a deadline
    cp.stop()
    assert cp.saves >= 2 and cp.lost is None
    assert _lock_body(bucket)["expires"] > first_expiry


def test_checkpointer_reports_a_lost_lease(bucket, tmp_path):
    clock = Clock()
    r = _remote(bucket, tmp_path, "a", clock, lease=1)
    r.acquire("run")
    clock.now += 100
    thief = _remote(bucket, tmp_path, "b", clock)
    thief.acquire("run")
    lost = []
    cp = Checkpointer(r, checkpoint_seconds=60, on_lost=lost.append)
    cp.start()
    deadline = time.monotonic() + 20
    while not lost and time.monotonic() < deadline:
        time.sleep(0.05)
    cp.stop()
    assert lost and isinstance(cp.lost, StateLockedError)


def test_unreachable_endpoint_is_one_state_error(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-value")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    r = RemoteState.from_url("s3://nobucket/k.sqlite", tmp_path / "k.sqlite", region="eu-west-1")
    with pytest.raises(StateError) as err:
        r.acquire("run")
    text = str(err.value)
    assert "s3://nobucket/k.sqlite" in text and "testing-secret-value" not in text
    assert "\n" not in err.value.message


def test_a_missing_bucket_is_named(bucket, tmp_path):
    r = RemoteState.from_url("s3://no-such-bucket-here/k.sqlite", tmp_path / "k.sqlite")
    with pytest.raises(StateError, match="no-such-bucket-here"):
        r.acquire("run")


def test_lease_body_is_read_back():
    lease = Lease(host="h", pid=1, run_id="r" * 32, command="run", acquired=1.0, expires=2.0)
    assert Lease.from_json(lease.to_json()) == lease
    assert Lease.from_json(b"not json") is None


def _state_with(path, key, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    with WorkQueue.open(path, lock_for="run") as q:
        q.set_meta(key, value)


def _meta(path, key):
    with WorkQueue.open(path, create=False) as q:
        return q.get_meta(key)


# -- read-only copies and backups (no lease) -------------------------------------------------

def _saved(bucket, tmp_path) -> RemoteState:
    """A state saved on S3 by a job (lease taken, one asset recorded, saved, released)."""
    writer = _remote(bucket, tmp_path, "writer")
    writer.acquire("run")
    with WorkQueue.open(writer.local) as q:
        q.set_meta("marker", "first")
    writer.save()
    writer.release()
    return writer


def test_a_download_is_the_saved_state_with_its_time_and_takes_no_lease(bucket, tmp_path):
    client, b = bucket
    writer = _saved(bucket, tmp_path)
    reader = _remote(bucket, tmp_path, "reader")
    snap = reader.download(tmp_path / "copy" / "demo.sqlite")
    head = client.head_object(Bucket=b, Key="mig/demo.sqlite")
    assert snap.saved_at == head["LastModified"].timestamp() and snap.etag == head["ETag"]
    with WorkQueue.open(tmp_path / "copy" / "demo.sqlite", create=False) as q:
        assert q.get_meta("marker") == "first"
    assert not reader.held and reader.holder() is None
    # unchanged: a conditional GET answers 304 and the copy is left as it is
    assert reader.download(tmp_path / "copy" / "demo.sqlite", unless_etag=snap.etag) is None
    # a new save: downloaded again
    writer.acquire("run")
    with WorkQueue.open(writer.local) as q:
        q.set_meta("marker", "second")
    writer.save()
    assert reader.holder() is not None and reader.holder().run_id == writer.run_id
    again = reader.download(tmp_path / "copy" / "demo.sqlite", unless_etag=snap.etag)
    assert again is not None and again.etag != snap.etag
    with WorkQueue.open(tmp_path / "copy" / "demo.sqlite", create=False) as q:
        assert q.get_meta("marker") == "second"
    writer.release()
    assert reader.holder() is None


def test_an_expired_lease_is_no_holder(bucket, tmp_path):
    clock = Clock()
    job = _remote(bucket, tmp_path, "job", clock=clock, lease=30)
    job.acquire("run")
    reader = _remote(bucket, tmp_path, "reader", clock=clock)
    assert reader.holder() is not None
    clock.now += 31
    assert reader.holder() is None


def test_a_download_of_nothing_saved_says_so(bucket, tmp_path):
    from migrator.state.remote import NoSavedState

    with pytest.raises(NoSavedState, match="holds no state yet"):
        _remote(bucket, tmp_path).download(tmp_path / "x.sqlite")
    assert not (tmp_path / "x.sqlite").exists()


def test_a_backup_upload_never_replaces_an_object(bucket, tmp_path):
    client, b = bucket
    remote = _remote(bucket, tmp_path)
    first = tmp_path / "one.bin"
    first.write_bytes(b"first")
    remote.upload_new(first, "mig/demo.bak.sqlite")
    other = tmp_path / "two.bin"
    other.write_bytes(b"second")
    with pytest.raises(StateError, match="already exists"):
        remote.upload_new(other, "mig/demo.bak.sqlite")
    body = client.get_object(Bucket=b, Key="mig/demo.bak.sqlite")["Body"].read()
    assert body == b"first"
