"""Retry policies as named data: what is retried, how long we wait, when we give up.

Retried: transport errors (connect/read/write/pool timeouts, resets), HTTP 408, 429 and 5xx, and
responses whose JSON body is cut off (Artifactory streams AQL; a mid-stream failure leaves
truncated JSON). Not retried: every other 4xx (401/403/404/406/422 are answers, not accidents).
`Retry-After` (seconds or an HTTP date) is honoured, capped by the policy's `max_wait`.

`sleep` is injectable so tests never really sleep:

    policy.retrying(sleep=fake_sleep)
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import httpx
import tenacity

__all__ = [
    "RETRYABLE_STATUSES",
    "SOURCE_LISTING",
    "TARGET_READ",
    "TARGET_TOKEN",
    "TARGET_WRITE",
    "RetryPolicy",
    "RetryableResponse",
    "TargetRetryPolicy",
    "TruncatedBody",
    "retry_after_seconds",
]

logger = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

Sleep = Callable[[float], Awaitable[None]]


class RetryableResponse(Exception):
    """A response whose status says 'try again later' (408, 429, 5xx)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class TruncatedBody(Exception):
    """A 2xx response whose body did not parse: treated as a transient failure."""


def retry_after_seconds(response: httpx.Response, *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait, from `Retry-After`, or None."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, httpx.TransportError | RetryableResponse | TruncatedBody)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A named retry policy; `retrying()` turns it into a tenacity `AsyncRetrying`."""

    name: str
    attempts: int = 6
    initial_wait: float = 0.5
    max_wait: float = 30.0
    jitter: float = 0.5
    give_up_after: float = 300.0  # seconds spent on one call, waits included

    def wait_seconds(self, retry_state: tenacity.RetryCallState) -> float:
        """Exponential back-off with jitter, or the server's Retry-After when it gave one."""
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, RetryableResponse):
            asked = retry_after_seconds(exc.response)
            if asked is not None:
                return min(asked, self.max_wait)
        backoff = tenacity.wait_exponential_jitter(
            multiplier=self.initial_wait, max=self.max_wait, jitter=self.jitter
        )
        return backoff(retry_state)

    def should_retry(self, exc: BaseException) -> bool:
        """Whether `exc` is worth another attempt under this policy."""
        return _is_retryable(exc)

    def retrying(self, *, sleep: Sleep | None = None) -> tenacity.AsyncRetrying:
        """A fresh tenacity controller; the last exception is re-raised when we give up."""
        return tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.attempts)
            | tenacity.stop_after_delay(self.give_up_after),
            wait=self.wait_seconds,
            retry=tenacity.retry_if_exception(self.should_retry),
            sleep=sleep or anyio.sleep,
            reraise=True,
            before_sleep=tenacity.before_sleep_log(logger, logging.WARNING),
        )


# Listing pages from Nexus/Artifactory: cheap to repeat, worth a few minutes of patience.
SOURCE_LISTING = RetryPolicy(name="source-listing")


# -- the target side (CodeArtifact and the registries publishers write to) ----------------------


def _target_retryable(exc: BaseException) -> bool:
    """Transport errors, 408/429/5xx, and any error that says `retryable = True`."""
    return _is_retryable(exc) or bool(getattr(exc, "retryable", False))


@dataclass(frozen=True, slots=True)
class TargetRetryPolicy(RetryPolicy):
    """A `RetryPolicy` that also honours `exc.retry_after` (CodeArtifact's `retryAfterSeconds`,
    which botocore parses but does not wait for) and retries errors marked `retryable`."""

    after_jitter: float = 0.25  # spread of the wake-ups of workers throttled together

    def wait_seconds(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        asked = getattr(exc, "retry_after", None)
        if asked is not None:
            return min(float(asked), self.max_wait) + random.uniform(0, self.after_jitter)
        return RetryPolicy.wait_seconds(self, retry_state)

    def should_retry(self, exc: BaseException) -> bool:
        return _target_retryable(exc)


# Writes into the target (native PUT/POST, PublishPackageVersion, status/origin updates): a
# throttled write is normal at the quota ceiling, so be patient; 409 is never retried.
TARGET_WRITE = TargetRetryPolicy(name="target-write", attempts=10, max_wait=20.0,
                                 give_up_after=600.0)
# Reads for verification and 409 resolution, endpoints.
TARGET_READ = TargetRetryPolicy(name="target-read", attempts=8, max_wait=20.0)
# GetAuthorizationToken: 40/s per account; a refused credential is not retried.
TARGET_TOKEN = TargetRetryPolicy(name="target-token", attempts=6, max_wait=10.0)
