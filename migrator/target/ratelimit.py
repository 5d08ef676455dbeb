"""Token buckets per CodeArtifact quota class, with CUBIC: shrink on 429, grow back fast.

CodeArtifact enforces per account and region (reference §9): 100 write requests/s, 800 reads/s,
10 PublishPackageVersion/s and 40 GetAuthorizationToken/s, and per read API: 200/s each for
ListPackageVersionAssets, ListPackageVersions and ListPackages, 50/s for GetPackageVersionAsset.
`RateLimits.from_budget(90)` sizes the buckets from the manifest's `options.rate_budget` (writes
per second; the others keep the quotas' proportions, so a shard with half the budget also gets
half the reads):

    writes 90/s, reads 720/s, PublishPackageVersion 9/s, GetAuthorizationToken 36/s,
    ListPackageVersionAssets / ListPackageVersions / ListPackages 180/s each,
    GetPackageVersionAsset 45/s

A call takes a token from every bucket of its quota classes (`RateLimits.buckets(operation)`):
the account-wide read or write bucket, plus the operation's own one when it has a quota of
its own, so verification (one ListPackageVersionAssets per version) is paced at 180/s even
though reads as a whole may go at 720/s.

Bursts are a twentieth of the rate, so no one-second window of sending ever holds more than
rate * 1.05 (94.5 at the default budget): requests reach the server with some jitter, and the
margin under the 100/s quota absorbs it. On a 429 the bucket follows CUBIC, the congestion
control the AWS SDKs use for their `adaptive` retry mode (botocore's own `CubicCalculator`):
the throttled request waits the server's Retry-After (the retry policy sees to that), the
others go on at the lower rate, as the SDKs' adaptive mode does. Only a 429 for a request
sent after that decrease, evidence that even the lower rate is refused, pauses every waiter
for the Retry-After: a single 429 from a burst of jitter then costs a dip of the rate, not
a second of every write (bench/README.md, round seven). The rate drops to 0.7 of what it was
(at most once per `cooldown`, so a volley of 429s from one window counts once), then grows
back along a cubic curve that is steep at first and flat near the rate that was throttled
(about 4 s to get back there at 90/s), up to 0.95 of the pace that met the 429; from there
the limit creeps up by 0.1 % of the budget per second (so a quota that others stopped
sharing is found again within a minute or two), never above the configured budget.
Halving, then adding a little per success, cost about a third of a run's writes after a
single 429 caused by jitter; probing the quota every few seconds cost a Retry-After pause
of every write each time (bench/README.md).

Clock and sleep are injectable so tests never really wait.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
from botocore.retries.throttling import CubicCalculator

from migrator.manifest import Options

__all__ = ["OPERATION_PER_WRITE", "AdaptiveBucket", "RateLimits", "is_read_operation"]

logger = logging.getLogger(__name__)

# After a 429 at some pace: grow back to FOUND_MARGIN of it, then probe upwards by
# PROBE_PER_SECOND of the budget per second (0.1 %: 100/s takes 50 s to go from 95 to 100).
FOUND_MARGIN = 0.95
PROBE_PER_SECOND = 0.001
# A 429 for a request granted after a decrease this recent is the same congestion, still
# refused at the lower rate: every waiter then pauses for the Retry-After. (CUBIC is back
# near the throttled rate about 4 s after a decrease.)
STORM_SECONDS = 5.0

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# CodeArtifact's default quotas relative to the write quota (reference §9).
READS_PER_WRITE = 800 / 100
PUBLISH_PER_WRITE = 10 / 100
TOKENS_PER_WRITE = 40 / 100
# Read APIs with a quota of their own, relative to the write quota.
OPERATION_PER_WRITE = {
    "ListPackageVersionAssets": 200 / 100,
    "ListPackageVersions": 200 / 100,
    "ListPackages": 200 / 100,
    "GetPackageVersionAsset": 50 / 100,
}


class AdaptiveBucket:
    """A token bucket whose rate follows CUBIC between `floor` and `ceiling`."""

    def __init__(self, name: str, rate: float, *, burst: float | None = None,
                 floor: float | None = None, cooldown: float = 1.0,
                 clock: Clock = time.monotonic, sleep: Sleep = anyio.sleep) -> None:
        if rate <= 0:
            raise ValueError(f"rate of {name} must be above 0, got {rate}")
        self.name = name
        self.ceiling = float(rate)
        self.rate = float(rate)
        self._burst = burst
        self.floor = floor if floor is not None else max(self.ceiling * 0.05, 0.5)
        self.cooldown = cooldown
        self.clock = clock
        self.sleep = sleep
        self.tokens = self.burst
        self.updated = clock()
        self.paused_until = 0.0
        self.last_decrease = -1e18
        self.throttled = 0  # 429s seen
        self.decreases = 0
        self.acquired = 0
        self._cubic: CubicCalculator | None = None  # None until the first 429
        # The pace a 429 showed to be too much, less a margin: growth stops there, and the
        # limit creeps up by PROBE_PER_SECOND of the ceiling, so a quota others stopped
        # sharing is found again within minutes, not probed (and paused for) every few
        # seconds.
        self._limit_found: float | None = None
        self._found_at = 0.0
        self._lock = anyio.Lock()

    @property
    def burst(self) -> float:
        return self._burst if self._burst is not None else max(1.0, self.rate / 20)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.updated = now

    async def acquire(self, n: float = 1.0) -> float:
        """Wait until `n` tokens are available (FIFO: waiters queue on one lock); returns
        the clock's time of the grant, for `on_throttle(sent_at=...)`."""
        async with self._lock:
            while True:
                now = self.clock()
                if now < self.paused_until:
                    await self.sleep(self.paused_until - now)
                    continue
                self._refill(now)
                if self.tokens >= n - 1e-9:  # float dust must not cost another round
                    self.tokens = max(0.0, self.tokens - n)
                    self.acquired += 1
                    return now
                await self.sleep(max((n - self.tokens) / self.rate, 1e-4))

    def on_success(self) -> None:
        """Growth along the cubic curve since the last decrease, up to the ceiling."""
        if self._cubic is None or self.rate >= self.ceiling:
            return
        now = self.clock()
        self._refill(now)  # the tokens earned so far at the old rate
        grown = self._cubic.success_received(now)
        limit = self.ceiling
        if self._limit_found is not None:
            limit = min(limit, self._limit_found
                        + (now - self._found_at) * PROBE_PER_SECOND * self.ceiling)
        self.rate = max(self.rate, min(limit, max(self.floor, grown)))

    def on_throttle(self, retry_after: float | None = None, *,
                    sent_at: float | None = None) -> None:
        """Multiplicative decrease (CUBIC's 0.7); a pause of every waiter for the server's
        Retry-After only when the request was granted (`sent_at`, what `acquire` returned)
        after a decrease of the last STORM_SECONDS: the lower rate is refused too. Requests
        already on their way when a 429 arrives are its volley; without `sent_at` every 429
        pauses."""
        now = self.clock()
        self.throttled += 1
        if retry_after and (sent_at is None or (
                sent_at > self.last_decrease and now - self.last_decrease < STORM_SECONDS)):
            self.paused_until = max(self.paused_until, now + retry_after)
        if now - self.last_decrease >= self.cooldown:
            self.last_decrease = now
            self.decreases += 1
            old = self.rate
            if self._cubic is None:
                self._cubic = CubicCalculator(starting_max_rate=old, start_time=now)
            self._refill(now)
            self.rate = max(self.floor, self._cubic.error_received(old, now))
            self._limit_found, self._found_at = max(self.floor, old * FOUND_MARGIN), now
            # The window the 429 saw is full: nothing more goes out before the lower rate
            # earns it (so every grant after a decrease is later than it).
            self.tokens = 0.0
            logger.info("%s rate %.1f/s -> %.1f/s after a 429", self.name, old, self.rate)

    def stats(self) -> dict[str, float]:
        return {"rate": self.rate, "ceiling": self.ceiling, "throttled": self.throttled,
                "decreases": self.decreases, "acquired": self.acquired}


@dataclass
class RateLimits:
    """The buckets one run (or one shard) shares."""

    writes: AdaptiveBucket
    reads: AdaptiveBucket
    publish: AdaptiveBucket  # PublishPackageVersion, on top of `writes`
    token: AdaptiveBucket  # GetAuthorizationToken, on top of `reads`
    # Read APIs with a quota of their own (OPERATION_PER_WRITE), each on top of `reads`.
    operations: dict[str, AdaptiveBucket] = field(default_factory=dict)

    @classmethod
    def from_budget(cls, rate_budget: float = Options.rate_budget, *, clock: Clock = time.monotonic,
                    sleep: Sleep = anyio.sleep) -> RateLimits:
        def bucket(name: str, rate: float) -> AdaptiveBucket:
            return AdaptiveBucket(name, rate, clock=clock, sleep=sleep)

        return cls(
            writes=bucket("writes", rate_budget),
            reads=bucket("reads", rate_budget * READS_PER_WRITE),
            publish=bucket("PublishPackageVersion", rate_budget * PUBLISH_PER_WRITE),
            token=bucket("GetAuthorizationToken", rate_budget * TOKENS_PER_WRITE),
            operations={op: bucket(op, rate_budget * share)
                        for op, share in OPERATION_PER_WRITE.items()},
        )

    def buckets(self, operation: str) -> tuple[AdaptiveBucket, ...]:
        """Every bucket a control-plane `operation` takes a token from: its own quota's
        (PublishPackageVersion, GetAuthorizationToken, the per-API read quotas), then the
        account-wide read or write bucket."""
        own = {"PublishPackageVersion": self.publish, "GetAuthorizationToken": self.token,
               **self.operations}.get(operation)
        shared = self.reads if is_read_operation(operation) else self.writes
        return (own, shared) if own is not None else (shared,)

    def all(self) -> list[AdaptiveBucket]:
        return [self.writes, self.reads, self.publish, self.token, *self.operations.values()]

    def stats(self) -> dict[str, dict[str, float]]:
        return {b.name: b.stats() for b in self.all()}


def is_read_operation(operation: str) -> bool:
    """CodeArtifact's read APIs are the Get/List/Describe ones (reference §9)."""
    return operation.startswith(("Get", "List", "Describe"))
