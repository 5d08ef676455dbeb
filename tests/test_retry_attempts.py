"""RetryPolicy's attempts: the first one is made without a tenacity controller, and a
failed one hands over to tenacity with the same decisions, waits and log lines."""

from __future__ import annotations

import logging

import httpx
import pytest

import migrator.retry as retry
from migrator.retry import RetryPolicy

pytestmark = pytest.mark.anyio


def _reset() -> httpx.ReadError:
    return httpx.ReadError("connection reset")


async def _call(policy: RetryPolicy, outcomes: list, slept: list[float]) -> tuple[str, int]:
    """Run `outcomes` (exceptions to raise, then a value) through the attempts."""
    tries = 0

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async for attempt in policy.retrying(sleep=sleep, what="GET http://x/y"):
        with attempt:
            tries += 1
            outcome = outcomes.pop(0)
            if isinstance(outcome, BaseException):
                raise outcome
            result = outcome
    return result, tries


async def test_a_call_that_succeeds_at_once_never_builds_a_controller(monkeypatch):
    def no_controller(*_a, **_k):
        raise AssertionError("a tenacity controller was made for a call that succeeded")

    monkeypatch.setattr(retry.RetryPolicy, "controller", no_controller)
    slept: list[float] = []
    assert await _call(RetryPolicy(name="t"), ["ok"], slept) == ("ok", 1)
    assert slept == []


async def test_a_failed_first_attempt_is_retried_with_the_policys_wait_and_log_line(caplog):
    slept: list[float] = []
    policy = RetryPolicy(name="t", attempts=5, initial_wait=0.5, jitter=0.0)
    with caplog.at_level(logging.WARNING, logger="migrator.retry"):
        assert await _call(policy, [_reset(), _reset(), "ok"], slept) == ("ok", 3)
    assert slept == [0.5, 1.0]  # exponential from the first failure on
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("t: GET http://x/y failed (ReadError: connection reset); "
                            "attempt 1 of 5, again in 0.5 s")
    assert "attempt 2 of 5" in lines[1] and len(lines) == 2


async def test_a_refusal_that_no_retry_mends_is_raised_at_once():
    slept: list[float] = []
    refused = ValueError("not retryable")
    with pytest.raises(ValueError) as caught:
        await _call(RetryPolicy(name="t"), [refused, "never"], slept)
    assert caught.value is refused and slept == []


async def test_the_last_failure_is_raised_once_the_attempts_are_used_up():
    slept: list[float] = []
    last = _reset()
    with pytest.raises(httpx.ReadError) as caught:
        await _call(RetryPolicy(name="t", attempts=3, jitter=0.0),
                    [_reset(), _reset(), last, "never"], slept)
    assert caught.value is last and len(slept) == 2


async def test_the_servers_retry_after_is_waited_for_after_the_first_attempt_too():
    slept: list[float] = []
    response = httpx.Response(429, headers={"Retry-After": "7"},
                              request=httpx.Request("GET", "http://x/y"))
    throttled = retry.RetryableResponse(response)
    assert await _call(RetryPolicy(name="t", max_wait=30.0), [throttled, "ok"], slept) == \
        ("ok", 2)
    assert slept == [7.0]


async def test_a_refused_connection_counts_the_first_attempt_against_connect_attempts():
    slept: list[float] = []
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    with pytest.raises(httpx.ConnectError):
        await _call(RetryPolicy(name="t", attempts=10, connect_attempts=2, jitter=0.0),
                    [refused, refused, "never"], slept)
    assert len(slept) == 1  # two tries in all
