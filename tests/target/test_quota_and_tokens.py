"""Quotas (100 writes/s on, rate_budget 90 or deliberately 300), token refresh, no token leaks."""

from __future__ import annotations

import logging
import time

import anyio
import httpx
import pytest

from migrator.models import Format
from migrator.target import make_publisher
from migrator.target.errors import CredentialsRefused
from migrator.target.ratelimit import AdaptiveBucket, RateLimits
from migrator_sandbox.codeartifact import QuotaConfig

from .conftest import Recorder, claim, make_client

pytestmark = pytest.mark.usefixtures("aws_env")


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_bucket_paces_to_its_rate_with_a_small_burst():
    t = FakeTime()
    bucket = AdaptiveBucket("writes", 90, clock=t.clock, sleep=t.sleep)

    async def go():
        for _ in range(184):
            await bucket.acquire()

    anyio.run(go)
    # 4 tokens of burst (4.5), then 180 more at 90/s: two seconds, never more than 94.5 in a
    # window, which leaves the jitter of the network 5.5 requests under the 100/s quota.
    assert t.now - 1000.0 == pytest.approx(2.0, abs=0.02)


def test_a_429_costs_a_fraction_not_a_half_and_the_rate_grows_back_within_seconds():
    t = FakeTime()
    bucket = AdaptiveBucket("writes", 100, clock=t.clock, sleep=t.sleep)
    bucket.on_success()  # before any 429: at the ceiling, unchanged
    assert bucket.rate == 100
    bucket.on_throttle(2.0)
    bucket.on_throttle(2.0)  # same volley: one decrease
    assert bucket.rate == pytest.approx(70) and bucket.decreases == 1 and bucket.throttled == 2

    async def one():
        await bucket.acquire()

    anyio.run(one)
    assert t.now >= 1002.0  # waited for Retry-After
    t.now += 1.5
    bucket.on_throttle(None)  # a second 429, 3.5 s after the first: 0.7 of where it was
    after = bucket.rate
    assert after == pytest.approx(49)
    rates = []
    for _ in range(40):  # ten seconds of successes, four a second
        t.now += 0.25
        bucket.on_success()
        rates.append(bucket.rate)
    assert rates == sorted(rates)  # never down on a success
    # steep at first: most of the way back to the throttled rate within two seconds...
    assert rates[7] > after + 0.8 * (after / 0.7 - after)
    # ...then held at 0.95 of the pace that met the 429 (70: 66.5), creeping up by 0.1 % of
    # the budget per second instead of probing the quota again within seconds
    found = 0.95 * after / 0.7
    assert found - 0.1 < rates[15] <= found + 0.5
    assert rates[-1] == pytest.approx(found + 10 * 0.1, abs=0.05)
    t.now += 600  # ten minutes later: back to the budget, never above it
    bucket.on_success()
    assert bucket.rate == 100
    limits = RateLimits.from_budget(90)
    assert (limits.writes.rate, limits.reads.rate, limits.publish.rate, limits.token.rate) == \
        pytest.approx((90, 720, 9, 36))


def test_a_lone_429_slows_the_bucket_and_only_a_refusal_at_the_lower_rate_pauses_it():
    t = FakeTime()
    bucket = AdaptiveBucket("writes", 90, clock=t.clock, sleep=t.sleep)

    async def grant() -> float:
        return await bucket.acquire()

    before = [anyio.run(grant) for _ in range(4)]  # on their way when the 429 comes
    t.now += 0.03
    bucket.on_throttle(1.0, sent_at=before[0])
    bucket.on_throttle(1.0, sent_at=before[1])  # its volley: sent before the decrease
    assert bucket.rate == pytest.approx(63) and bucket.decreases == 1
    started = t.now
    after = anyio.run(grant)
    # The throttled requests wait their Retry-After in the retry policy; the others go
    # on at the lower rate instead of a second's pause of every write.
    assert after - started < 0.1
    assert t.now - started < 0.1
    t.now += 0.5
    bucket.on_throttle(1.0, sent_at=after)  # refused although sent at the lower rate
    started = t.now
    anyio.run(grant)
    assert t.now - started >= 1.0  # now every waiter pauses for the Retry-After
    assert bucket.decreases == 1  # still within the cooldown: no second cut
    t.now += 60
    lone = anyio.run(grant)
    bucket.on_throttle(1.0, sent_at=lone)  # a minute later: a new lone 429
    started = t.now
    anyio.run(grant)
    assert t.now - started < 0.1 and bucket.decreases == 2
    bucket.on_throttle(1.0)  # who sent it is unknown: paused, as is safe
    started = t.now
    anyio.run(grant)
    assert t.now - started >= 1.0


def _count_429(sandbox) -> int:
    log = httpx.get(f"{sandbox.base_url}/_sandbox/requests?entries=0").json()
    return int(log["by_status"].get("429", 0))


async def _put_many(client, n: int, workers: int = 32) -> list[int]:
    endpoint = await client.endpoint("maven-releases", "maven")
    statuses: list[int] = []
    send, receive = anyio.create_memory_object_stream[int](n)
    for i in range(n):
        send.send_nowait(i)
    send.close()

    async def worker():
        async for i in receive:
            r = await client.http.request(
                "PUT", f"{endpoint}com/acme/q{i}/q{i}/1.0/q{i}-1.0.jar", content=b"%d" % i)
            statuses.append(r.status_code)

    async with anyio.create_task_group() as tg:
        for _ in range(workers):
            tg.start_soon(worker)
    return statuses


def test_300_puts_under_the_write_quota_at_budget_90(sandbox_factory):
    sb = sandbox_factory(quotas=QuotaConfig())

    async def go():
        async with make_client(sb, rate_budget=90, sleep=anyio.sleep) as client:
            await client.token()
            started = time.monotonic()
            statuses = await _put_many(client, 300)
            return statuses, time.monotonic() - started, client.limits.writes.stats()

    statuses, elapsed, stats = anyio.run(go)
    assert sorted(set(statuses)) == [201] and len(statuses) == 300
    assert elapsed >= (300 - 9) / 90 - 0.2  # paced by the bucket, not by 429s
    assert _count_429(sb) <= 3, stats  # any 429 at all was absorbed by a retry


def test_generic_publishes_respect_the_publish_quota(sandbox_factory, tmp_path):
    sb = sandbox_factory(quotas=QuotaConfig())
    files = []
    for i in range(20):
        path = tmp_path / f"raw/tools/1.{i}/tool-1.{i}.txt"
        path.parent.mkdir(parents=True)
        path.write_text(f"tool {i}\n")
        files.append(f"tools/1.{i}/tool-1.{i}.txt")

    async def go():
        async with make_client(sb, rate_budget=90, sleep=anyio.sleep) as client:
            publisher = make_publisher(Format.GENERIC, client, check_first=False)
            rec = Recorder()
            async with anyio.create_task_group() as tg:
                for rel in files:
                    version, spooled = claim(Format.GENERIC, "raw", [rel], root=tmp_path,
                                             target_repo="raw-files")
                    tg.start_soon(publisher.publish, version, spooled, rec)
            return rec

    rec = anyio.run(go)
    assert rec.outcomes() == ["published"] * 20
    assert _count_429(sb) <= 2


def test_oversized_budget_sees_429s_shrinks_and_still_finishes(sandbox_factory):
    sb = sandbox_factory(quotas=QuotaConfig())

    async def go():
        async with make_client(sb, rate_budget=300, sleep=anyio.sleep) as client:
            await client.token()
            statuses = await _put_many(client, 300, workers=48)
            return statuses, client.limits.writes

    statuses, writes = anyio.run(go)
    assert sorted(set(statuses)) == [201] and len(statuses) == 300
    assert writes.throttled > 0 and writes.decreases >= 1
    assert writes.rate < 300
    assert _count_429(sb) == writes.throttled


def test_token_refresh_when_the_sandbox_clock_passes_expiry_mid_run(sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    paths = [("com/acme/greeter/1.0.0/greeter-1.0.0.pom",
              "com/acme/greeter/1.0.0/greeter-1.0.0.jar"),
             ("com/acme/greeter/1.1.0/greeter-1.1.0.pom",
              "com/acme/greeter/1.1.0/greeter-1.1.0.jar")]

    async def go():
        async with make_client(sandbox) as client:
            publisher = make_publisher(Format.MAVEN, client)
            rec = Recorder()
            v1, f1 = claim(Format.MAVEN, "maven-releases", paths[0],
                           target_repo="maven-releases")
            await publisher.publish(v1, f1, rec)
            first = await client.token()
            httpx.post(f"{sandbox.base_url}/_sandbox/clock", json={"advance": 43200 + 60})
            v2, f2 = claim(Format.MAVEN, "maven-releases", paths[1],
                           target_repo="maven-releases")
            await publisher.publish(v2, f2, rec)
            second = await client.token()
            return rec, first, second, client.token_fetches

    rec, first, second, fetches = anyio.run(go)
    assert rec.outcomes() == ["published"] * 4
    assert first != second and fetches == 2
    assert first not in caplog.text and second not in caplog.text
    assert "obtained" in caplog.text  # the refresh is logged, the token is not


def test_token_refreshed_before_expiry_by_the_client_clock(sandbox):
    now = [time.time()]

    async def go():
        async with make_client(sandbox, clock=lambda: now[0]) as client:
            first = await client.token()
            now[0] += 43200 - 600  # inside the refresh margin
            second = await client.token()
            assert await client.token() == second
            return first, second, client.token_fetches

    first, second, fetches = anyio.run(go)
    assert first != second and fetches == 2


def test_a_refused_token_is_permanent_and_never_printed(sandbox, caplog):
    caplog.set_level(logging.DEBUG)

    async def go():
        async with make_client(sandbox) as client:
            token = await client.token()
            sandbox.emulator.store.tokens.clear()  # the service forgot every token

            async def stubborn(header=None):
                return False  # pretend a new token cannot help

            client.invalidate_token = stubborn
            endpoint = await client.endpoint("maven-releases", "maven")
            try:
                await client.http.request("PUT", endpoint + "com/acme/x/x/1/x-1.jar",
                                          content=b"x")
            except CredentialsRefused as exc:
                return token, exc
            raise AssertionError("no error")

    token, exc = anyio.run(go)
    assert exc.retryable is False and exc.status == 401
    assert "CodeArtifact" in str(exc)
    assert token not in str(exc) and token not in repr(exc.args) and token not in caplog.text


def test_concurrent_workers_share_one_refresh_after_expiry(sandbox, caplog):
    """Eight workers hit 401 together after the sandbox clock passed expiry: one new token,
    no failed publish."""
    caplog.set_level(logging.DEBUG)
    versions = ("1.0.0", "1.1.0")

    async def go():
        async with make_client(sandbox) as client:
            first = await client.token()
            httpx.post(f"{sandbox.base_url}/_sandbox/clock", json={"advance": 43200 + 60})
            endpoint = await client.endpoint("maven-releases", "maven")
            statuses = []

            async def put(i: int) -> None:
                r = await client.http.request(
                    "PUT", f"{endpoint}com/acme/t{i}/t{i}/1.0/t{i}-1.0.jar", content=b"t")
                statuses.append(r.status_code)

            async with anyio.create_task_group() as tg:
                for i in range(8):
                    tg.start_soon(put, i)
            rec = Recorder()
            for ver in versions:
                v, f = claim(Format.MAVEN, "maven-releases",
                             [f"com/acme/greeter/{ver}/greeter-{ver}.jar"],
                             target_repo="maven-releases")
                await make_publisher(Format.MAVEN, client).publish(v, f, rec)
            return first, statuses, client.token_fetches, rec, await client.token()

    first, statuses, fetches, rec, second = anyio.run(go)
    assert statuses == [201] * 8 and fetches == 2
    assert rec.outcomes() == ["published", "published"]
    assert first not in caplog.text and second not in caplog.text


def test_put_package_origin_configuration_before_the_package_exists(sandbox):
    async def go():
        async with make_client(sandbox) as client:
            result = await client.put_origin_configuration(
                "npm-internal", Format.NPM, "acme", "internal-ui", publish="ALLOW",
                upstream="BLOCK")
            return result

    result = anyio.run(go)
    restrictions = result["originConfiguration"]["restrictions"]
    assert restrictions == {"publish": "ALLOW", "upstream": "BLOCK"}
