"""Fail fast on a whole-system failure: an endpoint that refuses every connection stops the run
after a few versions (not after every version used up its attempts), nothing is marked failed
for good, the claims are given back, and the error names the root cause. A request that cannot
connect is tried only a few times; a name that does not resolve or a certificate that does not
verify is not retried at all; every retry's log line names the operation."""

from __future__ import annotations

import logging

import httpx
import pytest

from migrator.errors import SystemFailing
from migrator.retry import RetryPolicy, is_configuration_failure, is_retryable, root_cause
from migrator.state import status as st
from migrator.target.errors import PublishError

pytestmark = pytest.mark.anyio

JAR = b"jar-bytes" * 1000


@pytest.fixture
def anyio_backend():
    return "asyncio"

DOWN = "CodeArtifact at http://127.0.0.1:9/ is unreachable: ConnectError: [Errno 111] " \
       "Connection refused"


def unreachable() -> PublishError:
    e = PublishError("CodeArtifact: PUT http://127.0.0.1:9/x failed: ConnectError: [Errno 111] "
                     "Connection refused", retryable=True)
    e.systemic = DOWN
    return e


def add_versions(world, n: int) -> None:
    for i in range(n):
        world.add_maven("com.acme", f"a{i}", "1.0", {f"a{i}-1.0.jar": JAR})


async def test_an_unreachable_target_stops_the_run_and_gives_nothing_up(world):
    add_versions(world, 12)

    async def refuse(version, files):
        raise unreachable()

    world.target.before_publish = refuse
    engine = world.engine(fail_fast_after=3, concurrency=2)
    with pytest.raises(SystemFailing) as err:
        await engine.run()
    assert err.value.exit_code == 2  # nothing was done: as good as a configuration error
    assert DOWN in str(err.value) and "migrator resume" in str(err.value)
    # it stopped after a few versions, not after trying all twelve
    assert len(world.target.publish_calls) <= 3 + 2
    versions = world.statuses("versions")
    assert st.FAILED_PERMANENT not in versions and st.CLAIMED not in versions
    assert versions.get(st.FAILED_RETRYABLE, 0) <= 3 + 2
    assert sum(versions.values()) == 12


async def test_a_failure_after_progress_is_resumable_exit_3(world):
    add_versions(world, 8)
    seen = {"n": 0}

    async def down_after_two(version, files):
        seen["n"] += 1
        if seen["n"] > 2:
            raise unreachable()

    world.target.before_publish = down_after_two
    engine = world.engine(fail_fast_after=3, concurrency=1)
    with pytest.raises(SystemFailing) as err:
        await engine.run()
    assert err.value.exit_code == 3
    assert world.statuses("versions").get(st.FAILED_PERMANENT, 0) == 0


async def test_one_versions_connection_failure_among_successes_does_not_stop_the_run(world):
    add_versions(world, 6)
    failed = set()

    async def flaky(version, files):
        if version.package == "a0" and "a0" not in failed:
            failed.add("a0")
            raise unreachable()

    world.target.before_publish = flaky
    await world.engine(fail_fast_after=2, concurrency=1).run()
    assert world.statuses("versions") == {st.VERIFIED: 6}


def test_names_that_do_not_resolve_and_certificates_that_do_not_verify_are_not_retried():
    dns = httpx.ConnectError("[Errno -2] Name or service not known")
    tls = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    assert is_configuration_failure(dns) and not is_retryable(dns)
    assert is_configuration_failure(tls) and not is_retryable(tls)
    assert not is_configuration_failure(refused) and is_retryable(refused)
    assert root_cause(refused) == "ConnectError: [Errno 111] Connection refused"


async def test_a_refused_connection_gets_connect_attempts_and_the_log_names_the_operation(
        caplog):
    calls = []

    async def no_sleep(_seconds: float) -> None:
        return None

    policy = RetryPolicy(name="t", attempts=10, connect_attempts=3)
    with caplog.at_level(logging.WARNING, logger="migrator.retry"), \
            pytest.raises(httpx.ConnectError):
        async for attempt in policy.retrying(sleep=no_sleep, what="GET http://nexus/x"):
            with attempt:
                calls.append(1)
                raise httpx.ConnectError("[Errno 111] Connection refused")
    assert len(calls) == 3
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert all("GET http://nexus/x failed (ConnectError: [Errno 111] Connection refused)" in
               line for line in lines)
    assert "<unknown>" not in " ".join(lines)


async def test_other_transient_errors_still_get_every_attempt():
    calls = []

    async def no_sleep(_seconds: float) -> None:
        return None

    with pytest.raises(httpx.ReadError):
        async for attempt in RetryPolicy(name="t", attempts=5).retrying(sleep=no_sleep):
            with attempt:
                calls.append(1)
                raise httpx.ReadError("reset")
    assert len(calls) == 5


async def test_a_full_spool_for_every_version_stops_the_run_resumable(world):
    import shutil

    add_versions(world, 8)
    engine = world.engine(fail_fast_after=3, concurrency=1)
    engine.source.disk_usage = lambda path: shutil._ntuple_diskusage(10**9, 10**9, 0)
    with pytest.raises(SystemFailing) as err:
        await engine.run()
    assert "is full" in str(err.value) and err.value.exit_code == 2
    assert st.FAILED_PERMANENT not in world.statuses("versions")
