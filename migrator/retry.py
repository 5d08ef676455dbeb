"""Retry policies as named data: what is retried, how long we wait, when we give up.

One decision, `is_retryable(exc)`, serves every layer: a request is repeated at once (with
back-off) and a package version goes back to the queue (failed_retryable, with
`VERSION_RETRY`'s back-off) for the same reasons:

- transport errors (connect/read/write/pool timeouts, resets), responses with 408, 429 or 5xx
  (`RetryableResponse`) and bodies cut off or unparseable (`TruncatedBody`): accidents --
  except a host name that does not resolve and a TLS certificate that does not verify, which
  no retry can mend (`is_configuration_failure`);
- a `MigratorError` whose `retryable` says so (the exception tree in `migrator.errors`:
  a source or target that failed yes, refused credentials, 404s and checksum mismatches no);
- nothing else: an unexpected exception is a bug or a local problem (a file name the disk
  refuses), and repeating it would only hide it.

Waits: the server's `Retry-After` (seconds or an HTTP date, from `RetryableResponse`) or
CodeArtifact's `retryAfterSeconds` (`exc.retry_after`, which botocore parses but does not wait
for), capped by the policy's `max_wait`; otherwise exponential back-off with jitter. A connection
that is refused (or times out) gets only `connect_attempts` tries: an endpoint that is down is
said to be down within seconds, and the engine decides whether the whole run must stop.

`sleep` is injectable so tests never really sleep:

    policy.retrying(sleep=fake_sleep)
"""

from __future__ import annotations

import email.utils
import logging
import random
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

import anyio
import httpx
import tenacity

from migrator.errors import MigratorError, root_cause

__all__ = [
    "PREFLIGHT",
    "RETRYABLE_STATUSES",
    "SOURCE_DOWNLOAD",
    "SOURCE_LISTING",
    "TARGET_READ",
    "TARGET_TOKEN",
    "TARGET_WRITE",
    "VERSION_RETRY",
    "Attempts",
    "RetryPolicy",
    "RetryableResponse",
    "TruncatedBody",
    "VersionBackoff",
    "is_configuration_failure",
    "is_connect_failure",
    "is_retryable",
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
    """A 2xx response whose body was cut off or did not parse: a transient failure."""


_ACCIDENTS = (httpx.TransportError, RetryableResponse, TruncatedBody)
# What a resolver or TLS says when the name or the certificate is wrong (as text too: httpx
# and botocore wrap the OSError, sometimes as a string).
_CONFIG_TEXT = ("Name or service not known", "nodename nor servname provided",
                "No address associated with hostname", "CERTIFICATE_VERIFY_FAILED",
                "certificate verify failed", "hostname mismatch")


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        out.append(e)
        todo += [e.__cause__, e.__context__]
    return out


def is_configuration_failure(exc: BaseException) -> bool:
    """A host name that does not resolve or a TLS certificate that does not verify: the
    configuration is wrong, and no retry can help."""
    for e in _chain(exc):
        if isinstance(e, ssl.SSLCertVerificationError):
            return True
        if isinstance(e, socket.gaierror) and e.errno in (
                socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
            return True
        if any(t in str(e) for t in _CONFIG_TEXT):
            return True
    return False


def is_connect_failure(exc: BaseException) -> bool:
    """The connection itself failed (refused, timed out, not resolved): the endpoint, not
    the request, is the problem."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout) or bool(
        getattr(exc, "systemic", None))


def is_retryable(exc: BaseException) -> bool:
    """Whether trying `exc`'s operation again can succeed: the one retry decision."""
    if isinstance(exc, _ACCIDENTS):
        return not (isinstance(exc, httpx.TransportError) and is_configuration_failure(exc))
    if isinstance(exc, MigratorError):
        return bool(exc.retryable)
    return False


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


def _asked_wait(exc: BaseException | None) -> float | None:
    if isinstance(exc, RetryableResponse):
        return retry_after_seconds(exc.response)
    asked = getattr(exc, "retry_after", None)
    return None if asked is None else float(asked)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A named policy for repeating one request; `retrying()` makes a tenacity controller."""

    name: str
    attempts: int = 6
    initial_wait: float = 0.5
    max_wait: float = 30.0
    jitter: float = 0.5
    give_up_after: float = 300.0  # seconds spent on one call, waits included
    connect_attempts: int = 3  # tries when the connection itself fails (refused, timeout)
    # Spread of the wake-ups of workers the server throttled together with one Retry-After.
    after_jitter: float = 0.0

    def wait_seconds(self, retry_state: tenacity.RetryCallState) -> float:
        """The server's requested wait when it gave one, else exponential back-off."""
        outcome = retry_state.outcome
        asked = _asked_wait(outcome.exception() if outcome is not None else None)
        if asked is not None:
            return min(asked, self.max_wait) + (
                random.uniform(0, self.after_jitter) if self.after_jitter else 0.0)
        backoff = tenacity.wait_exponential_jitter(
            multiplier=self.initial_wait, max=self.max_wait, jitter=self.jitter
        )
        return backoff(retry_state)

    def should_retry(self, exc: BaseException) -> bool:
        """Whether `exc` is worth another attempt (`is_retryable`)."""
        return is_retryable(exc)

    def should_stop(self, retry_state: tenacity.RetryCallState) -> bool:
        """Attempts or time used up; or, for a connection that fails, `connect_attempts`."""
        if retry_state.attempt_number >= self.attempts:
            return True
        if (retry_state.seconds_since_start or 0.0) >= self.give_up_after:
            return True
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        return (exc is not None and is_connect_failure(exc)
                and retry_state.attempt_number >= self.connect_attempts)

    def retrying(self, *, sleep: Sleep | None = None, what: str = "a request") -> Attempts:
        """The attempts of one call, for `async for attempt in ...: with attempt: ...`; the
        last exception is re-raised when we give up. `what` names the operation in the log
        line of each retry (never a secret)."""
        return Attempts(self, sleep or anyio.sleep, what)

    def controller(self, sleep: Sleep, what: str) -> tenacity.AsyncRetrying:
        """The tenacity controller that decides after a failed attempt."""

        def log_retry(retry_state: tenacity.RetryCallState) -> None:
            outcome = retry_state.outcome
            exc = outcome.exception() if outcome is not None else None
            wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
            logger.warning("%s: %s failed (%s); attempt %d of %d, again in %.1f s", self.name,
                           what, root_cause(exc) if exc else "?", retry_state.attempt_number,
                           self.attempts, wait)

        return tenacity.AsyncRetrying(
            stop=self.should_stop,
            wait=self.wait_seconds,
            retry=tenacity.retry_if_exception(self.should_retry),
            sleep=sleep,
            reraise=True,
            before_sleep=log_retry,
        )


class _FirstAttempt:
    """The first attempt's context: like tenacity's, it keeps what the block raised."""

    __slots__ = ("exc_info",)

    def __init__(self) -> None:
        self.exc_info: tuple[type[BaseException], BaseException, TracebackType | None] | None
        self.exc_info = None

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if exc_type is not None and exc is not None:
            self.exc_info = (exc_type, exc, tb)
            return True  # decided on at the next step, as tenacity does
        return False


class Attempts:
    """The attempts of one call under a `RetryPolicy`.

    Nearly every call succeeds at once, so the first attempt is made without tenacity: a
    tenacity controller per request (its state, statistics, locks and futures, each a
    reference cycle) was a twentieth of the event loop's time at the write quota and most
    of what the garbage collector had to find. When the first attempt fails, tenacity takes
    over from that outcome, with the attempt counted and the clock started when it began:
    the decision, the waits, the log line and the exception re-raised at the end are the
    ones the controller alone would have made.
    """

    __slots__ = ("_controller", "_first", "_policy", "_sleep", "_started", "_state", "_what")

    def __init__(self, policy: RetryPolicy, sleep: Sleep, what: str) -> None:
        self._policy, self._sleep, self._what = policy, sleep, what
        self._first: _FirstAttempt | None = None
        self._controller: tenacity.AsyncRetrying | None = None
        self._state: tenacity.RetryCallState | None = None
        self._started = 0.0

    def __aiter__(self) -> Attempts:
        return self

    async def __anext__(self) -> _FirstAttempt | tenacity.AttemptManager:
        if self._first is None:
            self._started = time.monotonic()
            self._first = _FirstAttempt()
            return self._first
        if self._controller is None:
            if self._first.exc_info is None:
                raise StopAsyncIteration  # done at the first attempt
            self._controller = self._policy.controller(self._sleep, self._what)
            self._controller.begin()
            self._state = tenacity.RetryCallState(self._controller, fn=None, args=(),
                                                  kwargs={})
            self._state.start_time = self._started
            self._state.set_exception(self._first.exc_info)
            self._first.exc_info = None  # the state holds it now
        assert self._state is not None
        # What tenacity's own AsyncRetrying.__anext__ does, on the state seeded above.
        while True:
            do = await self._controller.iter(retry_state=self._state)
            if isinstance(do, tenacity.DoAttempt):
                return tenacity.AttemptManager(retry_state=self._state)
            if isinstance(do, tenacity.DoSleep):
                self._state.prepare_for_next_attempt()
                await self._sleep(do)
                continue
            raise StopAsyncIteration


@dataclass(frozen=True, slots=True)
class VersionBackoff:
    """When a failed package version may be claimed again: `base` seconds after the first
    failure, doubling per attempt up to `cap`, spread by ±`spread`/2 so that versions that
    failed together do not come back together."""

    base: float = 2.0
    cap: float = 300.0
    spread: float = 0.5

    def delay(self, attempt: int, rng: random.Random) -> float:
        d = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        return d * (1 - self.spread / 2 + rng.random() * self.spread)


# Listing pages from Nexus/Artifactory: cheap to repeat, worth a few minutes of patience.
SOURCE_LISTING = RetryPolicy(name="source-listing")
# Downloads: a cut-off body is worth several tries (resumed with Range), a long outage is not.
SOURCE_DOWNLOAD = RetryPolicy(name="source-download", attempts=6, initial_wait=0.5,
                              max_wait=30.0, give_up_after=900.0)
# Writes into the target (native PUT/POST, PublishPackageVersion, status/origin updates): a
# throttled write is normal at the quota ceiling, so be patient; 409 is never retried.
TARGET_WRITE = RetryPolicy(name="target-write", attempts=10, max_wait=20.0,
                           give_up_after=600.0, after_jitter=0.25)
# Reads for verification and 409 resolution, endpoints.
TARGET_READ = RetryPolicy(name="target-read", attempts=8, max_wait=20.0, after_jitter=0.25)
# GetAuthorizationToken: 40/s per account; a refused credential is not retried.
TARGET_TOKEN = RetryPolicy(name="target-token", attempts=6, max_wait=10.0, after_jitter=0.25)
# Preflight probes: a refused connection, an unknown host or a 401 is the answer the check
# wants, at once (one connection attempt; answers are never retried); a 5xx or a 429 on the
# way is an accident, tried again a few times within seconds, so it does not fail a check.
PREFLIGHT = RetryPolicy(name="preflight", attempts=4, initial_wait=0.2, max_wait=2.0,
                        jitter=0.1, give_up_after=10.0, connect_attempts=1)
# A package version that failed as a whole (after its requests' own retries).
VERSION_RETRY = VersionBackoff()
