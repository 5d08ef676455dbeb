"""The engine with a MockTransport Nexus and a fake CodeArtifact: statuses, facts, failures."""

from __future__ import annotations

import hashlib
import sqlite3

import anyio
import pytest

from migrator.errors import Interrupted
from migrator.pipeline.stats import summarise
from migrator.state import WorkQueue
from migrator.state import status as st
from migrator.target.errors import CredentialsRefused, PublishError

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


JAR, POM = b"jar-bytes" * 1000, b"<project/>"


async def test_copy_publish_verify_every_asset_once(world):
    world.add_maven("com.acme", "a", "1.0", {"a-1.0.jar": JAR, "a-1.0.pom": POM})
    world.add_maven("com.acme", "b", "2.0", {"b-2.0.jar": JAR + b"b"})
    engine = world.engine()
    stats = await engine.run()
    assert world.statuses() == {st.VERIFIED: 3}
    assert world.statuses("versions") == {st.VERIFIED: 2}
    assert set(world.target.writes.values()) == {1} and len(world.target.writes) == 3
    assert stats.published == 3 and stats.verified == 3 and stats.downloads == 3
    row = world.queue.conn.execute(
        "SELECT dl_sha256, tgt_sha256 FROM assets WHERE path LIKE '%a-1.0.jar'").fetchone()
    assert row[0] == row[1] and row[0]
    summary = summarise(world.queue, engine.repository_ids, engine.stats)
    assert summary.exit_code == 0 and summary.planned == 3 and summary.assets == {"verified": 3}
    assert not list((world.tmp / "spool").iterdir())  # spool files removed


async def test_rerun_is_a_no_op(world):
    world.add_maven("com.acme", "a", "1.0", {"a-1.0.jar": JAR})
    await world.engine().run()
    calls = len(world.target.publish_calls)
    await world.engine().run()
    assert len(world.target.publish_calls) == calls
    assert world.statuses() == {st.VERIFIED: 1}


async def test_corrupt_source_checksum_is_permanent_and_never_published(world):
    bad = {"sha1": "0" * 40}
    world.add_maven("com.acme", "bad", "1.0", {"bad-1.0.jar": JAR, "bad-1.0.pom": POM},
                    checksums={"bad-1.0.jar": bad})
    world.add_maven("com.acme", "good", "1.0", {"good-1.0.jar": JAR})
    engine = world.engine()
    await engine.run()
    rows = dict(world.queue.conn.execute("SELECT filename, status FROM assets").fetchall())
    assert rows == {"bad-1.0.jar": st.FAILED_PERMANENT, "bad-1.0.pom": st.FAILED_PERMANENT,
                    "good-1.0.jar": st.VERIFIED}
    reason = world.queue.conn.execute(
        "SELECT reason FROM assets WHERE filename = 'bad-1.0.jar'").fetchone()[0]
    assert "0" * 40 in reason and world.source.files and "sha1" in reason
    assert hashlib.sha1(JAR).hexdigest() in reason
    assert all(k[2] != "bad" for k in world.target.writes)
    summary = summarise(world.queue, engine.repository_ids, engine.stats)
    assert summary.exit_code == 1
    assert any(f.path.endswith("bad-1.0.jar") for f in summary.failures)


async def test_retryable_publish_errors_are_retried_then_verified(world):
    world.add_maven("com.acme", "a", "1.0", {"a-1.0.jar": JAR})
    failures = iter([True, True])

    async def flaky(version, files):
        if next(failures, False):
            raise PublishError("HTTP 503", retryable=True, status=503)

    world.target.before_publish = flaky
    await world.engine(max_attempts=5).run()
    assert world.statuses() == {st.VERIFIED: 1}
    assert len(world.target.publish_calls) == 3


async def test_poison_version_goes_permanent_and_does_not_block_others(world):
    world.add_maven("com.acme", "poison", "1.0", {"poison-1.0.jar": JAR})
    world.add_maven("com.acme", "ok", "1.0", {"ok-1.0.jar": POM})

    async def poison(version, files):
        if version.package == "poison":
            raise PublishError("HTTP 500 always", retryable=True, status=500)

    world.target.before_publish = poison
    engine = world.engine(max_attempts=3)
    await engine.run()
    rows = dict(world.queue.conn.execute(
        "SELECT package, status FROM versions").fetchall())
    assert rows == {"poison": st.FAILED_PERMANENT, "ok": st.VERIFIED}
    reason = world.queue.conn.execute(
        "SELECT reason FROM assets WHERE filename = 'poison-1.0.jar'").fetchone()[0]
    assert "gave up after 3 attempts" in reason
    assert sum(1 for c in world.target.publish_calls if c[0][2] == "poison") == 3


async def test_non_retryable_error_is_permanent_at_once(world):
    world.add_maven("com.acme", "a", "1.0", {"a-1.0.jar": JAR})

    async def refuse(version, files):
        raise PublishError("HTTP 400 bad request", retryable=False, status=400)

    world.target.before_publish = refuse
    await world.engine().run()
    assert world.statuses("versions") == {st.FAILED_PERMANENT: 1}
    assert len(world.target.publish_calls) == 1


async def test_cut_download_resumes_with_range(world):
    world.add_maven("com.acme", "a", "1.0", {"a-1.0.jar": JAR})
    path = next(iter(world.source.files))
    world.source.cut.add(path)
    await world.engine().run()
    assert world.statuses() == {st.VERIFIED: 1}
    ranges = [r.headers.get("range") for r in world.source.requests]
    assert ranges == [None, f"bytes={len(JAR) // 2}-"]


async def test_cut_download_without_range_support_starts_over(world):
    world.add_maven("com.acme", "a", "1.0", {"a-1.0.jar": JAR})
    world.source.cut.add(next(iter(world.source.files)))
    world.source.range_support = False
    await world.engine().run()
    assert world.statuses() == {st.VERIFIED: 1}
    assert len(world.source.requests) == 2


async def test_source_5xx_is_retried_inside_the_download(world):
    world.add_maven("com.acme", "a", "1.0", {"a-1.0.jar": JAR})
    world.source.fail[next(iter(world.source.files))] = 2
    await world.engine().run()
    assert world.statuses() == {st.VERIFIED: 1}


async def test_verification_polls_until_visible(world):
    world.add_maven("com.acme", "a", "1.0", {"a-1.0.jar": JAR})
    world.target.invisible_checks = 3
    await world.engine().run()
    assert world.statuses() == {st.VERIFIED: 1}
    assert world.target.checks >= 4


async def test_target_hash_differs_is_a_conflict(world):
    world.add_maven("com.acme", "a", "1.0", {"a-1.0.jar": JAR})
    key = ("maven-releases", "com.acme", "a", "1.0")

    async def tamper(version, files):
        if files:
            return
        stored = world.target.versions[key]
        stored.assets["a-1.0.jar"]["sha256"] = "f" * 64

    # publish normally, then tamper before verification by flipping the stored hash
    engine = world.engine()
    await engine.run()
    world.queue.conn.execute("UPDATE versions SET status = 'published'")
    world.queue.conn.execute("UPDATE assets SET status = 'published'")
    world.target.versions[key].assets["a-1.0.jar"]["sha256"] = "f" * 64
    await world.engine().run()
    assert world.statuses() == {st.CONFLICT: 1}
    reason = world.queue.conn.execute("SELECT reason FROM assets").fetchone()[0]
    assert "f" * 64 in reason



async def test_interrupt_finishes_in_flight_then_resume_completes(world):
    for i in range(6):
        world.add_maven("com.acme", f"p{i}", "1.0", {f"p{i}-1.0.jar": JAR + bytes([i])})
    engine = world.engine(concurrency=2)

    async def stop_after_first(version, files):
        engine.interrupt()

    world.target.before_publish = stop_after_first
    with pytest.raises(Interrupted):
        await engine.run()
    assert world.statuses("versions").get(st.CLAIMED, 0) == 0  # nothing left claimed
    done = world.statuses("versions")
    assert done.get(st.DISCOVERED, 0) >= 3
    world.target.before_publish = None
    await world.engine().run()
    assert world.statuses() == {st.VERIFIED: 6}
    assert set(world.target.writes.values()) == {1}


async def test_rejected_credentials_stop_the_run_and_release(world):
    world.add_maven("com.acme", "a", "1.0", {"a-1.0.jar": JAR})

    async def refuse(version, files):
        raise CredentialsRefused("CodeArtifact refused the token (HTTP 401)", status=401)

    world.target.before_publish = refuse
    with pytest.raises(CredentialsRefused):
        await world.engine().run()
    assert world.statuses("versions") == {st.DISCOVERED: 1}
    assert world.queue.conn.execute("SELECT attempts FROM versions").fetchone()[0] == 0


async def test_many_versions_flow_through_batches(world):
    for i in range(120):
        world.add_maven("com.acme", f"m{i}", "1.0", {f"m{i}-1.0.jar": bytes([i % 256]) * 10,
                                                    f"m{i}-1.0.pom": POM + bytes([i % 256])})
    engine = world.engine(concurrency=8)
    with anyio.fail_after(30):
        stats = await engine.run()
    assert world.statuses() == {st.VERIFIED: 240}
    assert stats.versions == 240  # 120 publish claims + 120 verify claims


async def test_leases_are_renewed_while_a_slow_publish_runs(world):
    """The clock is the test's: an hour passes inside one publish (the lease is 0.3 s). The
    writer must renew the lease from that new now, so another claimer finds nothing to take."""
    world.add_maven("com.acme", "slow", "1.0", {"slow-1.0.jar": JAR})
    now = [1_000_000.0]

    def clock() -> float:
        return now[0]

    def lease() -> tuple[str, float, int]:
        return world.queue.conn.execute("SELECT lease_owner, lease_expires, attempts FROM "
                                        "versions WHERE package = 'slow'").fetchone()

    seen: dict[str, object] = {}

    async def slow(version, files):
        if not files:
            return
        assert lease() == ("test-owner", now[0] + 0.3, 1)
        now[0] += 3600.0  # long past the lease: only a renewal keeps it
        deadline = anyio.current_time() + 10
        while lease()[1] <= now[0]:  # bounded readiness poll: renewal runs on its own cadence
            assert anyio.current_time() < deadline, f"lease not renewed: {lease()} at {now[0]}"
            await anyio.sleep(0.01)
        seen["lease"] = lease()
        intruder = WorkQueue.open(world.queue.path, clock=clock)
        try:
            seen["stolen"] = intruder.claim("intruder", limit=10, lease_seconds=60)
        finally:
            intruder.close()

    world.target.before_publish = slow
    await world.engine(lease_seconds=0.3, clock=clock).run()
    # renewed from the new now, by the same claim (a lapsed lease taken again, even by the
    # engine itself, would count a second attempt)
    assert seen["lease"] == ("test-owner", now[0] + 0.3, 1)
    assert seen["stolen"] == []
    assert world.statuses() == {st.VERIFIED: 1}
    assert len(world.target.publish_calls) == 1


async def test_an_asset_over_the_size_quota_fails_without_a_download(world):
    world.add_maven("com.acme", "big", "1.0", {"big-1.0.jar": JAR})
    await world.engine(max_asset_bytes=100).run()
    assert world.statuses() == {st.FAILED_PERMANENT: 1}
    assert world.source.requests == [] and world.target.publish_calls == []
    reason = world.queue.conn.execute("SELECT reason FROM assets").fetchone()[0]
    assert "asset quota" in reason


async def test_a_broken_state_write_surfaces_as_one_error_and_releases(world, monkeypatch):
    world.add_maven("com.acme", "a", "1.0", {"a-1.0.jar": JAR})
    engine = world.engine()

    def broken(owner, updates):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(world.queue, "mark_assets", broken)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        with anyio.fail_after(90):
            await engine.run()
    assert world.statuses("versions") == {st.DISCOVERED: 1}


async def test_builds_of_one_snapshot_are_never_published_at_once(world):
    active: set[str] = set()
    overlaps: list[tuple[str, ...]] = []

    async def track(version, files):
        key = version.package
        if files:
            if key in active:
                overlaps.append((key, version.version))
            active.add(key)
            await anyio.sleep(0.05)
            active.discard(key)

    for build in (1, 2, 3):
        v = f"1.0-20240101.12000{build}-{build}"
        world.add_maven("com.acme", "snap", v, {f"snap-{v}.jar": JAR + bytes([build])},
                        repo="maven-releases", extra={"base_version": "1.0-SNAPSHOT"})
    world.add_maven("com.acme", "rel", "1.0", {"rel-1.0.jar": JAR})
    world.target.before_publish = track
    await world.engine(concurrency=4).run()
    assert overlaps == []
    assert world.statuses() == {st.VERIFIED: 4}


async def test_origin_control_blocks_upstream_once_per_package_before_its_first_publish(world):
    world.add_maven("com.acme", "a", "1.0", {"a-1.0.jar": JAR, "a-1.0.pom": POM})
    world.add_maven("com.acme", "a", "1.1", {"a-1.1.jar": JAR + b"1"})
    world.add_maven("com.acme", "b", "2.0", {"b-2.0.jar": JAR + b"b"})
    order: list[str] = []

    async def publishing(*_):
        order.append("publish")

    world.target.before_publish = publishing
    protect = world.target.protect_origin

    async def recording(v):
        order.append("protect")
        await protect(v)

    world.target.protect_origin = recording
    await world.engine().run()
    assert sorted(world.target.protected) == [("maven-releases", "com.acme", "a"),
                                              ("maven-releases", "com.acme", "b")]
    assert order[0] == "protect"  # before any file is published
    assert world.statuses() == {st.VERIFIED: 4}


async def test_origin_control_is_left_to_the_default_where_the_default_is_what_it_sets(world):
    """After the dependency-confusion check (engine.exposed set): a package absent from the
    target whose name is not public gets CodeArtifact's publish=ALLOW, upstream=BLOCK from
    its first direct publish, so no write; a public name, a package already in the target,
    and one whose publish failed after being left to the default get the explicit write."""
    world.add_maven("com.acme", "fresh", "1.0", {"fresh-1.0.jar": JAR})
    world.add_maven("com.acme", "fresh", "1.1", {"fresh-1.1.jar": JAR + b"1"})
    world.add_maven("com.acme", "public", "1.0", {"public-1.0.jar": JAR + b"p"})
    world.add_maven("com.acme", "there", "1.0", {"there-1.0.jar": JAR + b"t"})
    world.add_maven("com.acme", "flaky", "1.0", {"flaky-1.0.jar": JAR + b"f"})
    world.target.existing_packages = {"there"}
    failed_once: list[str] = []

    async def fail_flaky_once(version, files):
        if version.package == "flaky" and not failed_once:
            failed_once.append(version.package)
            raise PublishError("CodeArtifact: HTTP 409: ingested from upstream meanwhile",
                               retryable=True)

    world.target.before_publish = fail_flaky_once
    engine = world.engine(max_attempts=3)
    engine.exposed = {("maven-releases", "maven", "com.acme", "public")}
    await engine.run()
    assert sorted(p for _, _, p in world.target.protected) == ["flaky", "public", "there"]
    assert "fresh" in world.target.exists_asked and "public" not in world.target.exists_asked
    assert world.statuses() == {st.VERIFIED: 5}


async def test_origin_control_leave_never_touches_origin_configuration(world):
    world.add_maven("com.acme", "a", "1.0", {"a-1.0.jar": JAR})
    await world.engine(origin_control="leave").run()
    assert world.target.protected == []
    assert world.statuses() == {st.VERIFIED: 1}
