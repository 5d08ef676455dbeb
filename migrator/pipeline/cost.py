"""What a migration costs in CodeArtifact: requests, bytes stored, time, dollars.

Pure arithmetic over the plan's per-repository breakdown (files, versions, packages, bytes,
mode), so a test can check it against a hand computation. The request model is the tool's own
protocol, counted at its minimum (no retries, no read-lag polls, no 409 settlements):

copy, per repository
  writes  the publish protocol's (`plan._writes`: Maven one PUT per file + one
          maven-metadata.xml per version; npm one PUT per version + one dist-tag per package;
          PyPI one upload per file; generic one PublishPackageVersion per asset), plus one
          PutPackageOriginConfiguration per package when `origin_control = "block-upstream"`
  reads   DescribePackageVersion + ListPackageVersionAssets per version (verification), Maven
          one GET of the artifact-level maven-metadata.xml per version (the publisher merges
          what the target lists), one GetRepositoryEndpoint per repository
prewarm, per repository
  reads   one GET per cached file (PyPI: the simple page too) and one DescribePackageVersion per
          version (the EXTERNAL confirmation), one GetRepositoryEndpoint
lockfiles (`[prewarm] lockfiles`), per format
  reads   what `LockfileItems.requests` counts (one GET per file, PyPI: the simple page too;
          DescribePackageVersion + ListPackageVersionAssets per version), one
          GetRepositoryEndpoint per format's target repository; bytes unknown (lockfiles
          give no sizes)
once      one GetAuthorizationToken per started 12 hours of run time

Not counted: the dependency-confusion check `plan` itself makes (one metadata read per
internal name whose repository reaches an external connection; its report counts them).

Bytes added to CodeArtifact: the copied files, and the pre-warmed ones (public packages
ingested through an external connection are stored in the domain, and billed, too).
Storage is priced per GB-month with GB = 2^30 bytes (AWS's billing unit); requests per 10,000
(every request to the service: control plane and package-manager endpoints alike).
Time: writes at `rate_budget` per second and reads at the read budget the rate limiter derives
from it (`READS_PER_WRITE`), whichever takes longer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from migrator.manifest import Prices
from migrator.models import human_bytes
from migrator.target.ratelimit import READS_PER_WRITE

__all__ = ["GIB", "Cost", "RepositoryRequests", "estimate", "lockfile_requests",
           "repository_requests"]

GIB = 1 << 30
TOKEN_HOURS = 12  # an authorization token lasts at most 12 h


@dataclass(frozen=True, slots=True)
class RepositoryRequests:
    """The requests one repository of the plan makes."""

    writes: int
    reads: int
    bytes_added: int


def repository_requests(*, fmt: str, mode: str, files: int, versions: int, packages: int,
                        size: int, protocol_writes: int, origin_control: str
                        ) -> RepositoryRequests:
    """The request model of the module doc, for one repository's plan row."""
    if mode == "copy":
        writes = protocol_writes + (packages if origin_control == "block-upstream" else 0)
        reads = 2 * versions + (versions if fmt == "maven" else 0) + (1 if files else 0)
        return RepositoryRequests(writes, reads, size)
    if mode == "prewarm":
        gets = files * (2 if fmt == "pypi" else 1)
        return RepositoryRequests(0, gets + versions + (1 if files else 0), size)
    return RepositoryRequests(0, 0, 0)


def lockfile_requests(requests: dict[str, Any], endpoints: int) -> RepositoryRequests:
    """The pre-warm of the lockfiles' items (`LockfileItems.requests()`, and one
    GetRepositoryEndpoint per format's target repository): reads only, bytes unknown."""
    total = int(requests.get("total") or 0)
    return RepositoryRequests(0, total + (endpoints if total else 0), 0)


@dataclass(frozen=True, slots=True)
class Cost:
    """The plan's cost figures (USD at `prices`)."""

    write_requests: int
    read_requests: int
    bytes_added: int
    bytes_in_source: int
    seconds: float
    request_cost: float
    storage_cost_per_month: float
    storage_gb_month: float
    requests_per_10k: float

    @property
    def requests(self) -> int:
        return self.write_requests + self.read_requests

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(requests=self.requests, seconds=round(self.seconds, 1),
                   request_cost=round(self.request_cost, 6),
                   storage_cost_per_month=round(self.storage_cost_per_month, 6))
        return out

    def render(self) -> str:
        minutes = self.seconds / 60
        took = f"{minutes:.1f} min" if minutes >= 1 else f"{self.seconds:.0f} s"
        return (f"cost: {self.write_requests} write + {self.read_requests} read requests "
                f"(≈ {took} at the rate budget) = ${self.request_cost:.4f} once (at "
                f"${self.requests_per_10k:g} per 10,000); "
                f"{_size(self.bytes_added)} added to CodeArtifact = "
                f"${self.storage_cost_per_month:.6f} per month (at ${self.storage_gb_month:g} "
                f"per GB-month); {_size(self.bytes_in_source)} crawled stays in the source "
                f"(nothing there is deleted)")


def _size(n: int) -> str:
    return f"{n / GIB:.3f} GB" if n >= GIB // 1000 else human_bytes(n)


def estimate(rows: Iterable[RepositoryRequests], *, bytes_in_source: int, rate_budget: float,
             prices: Prices) -> Cost:
    """The totals, the time the rate budget implies and the price of both."""
    rows = list(rows)
    writes = sum(r.writes for r in rows)
    reads = sum(r.reads for r in rows)
    size = sum(r.bytes_added for r in rows)
    seconds = max(writes / rate_budget, reads / (rate_budget * READS_PER_WRITE)) \
        if rate_budget else 0.0
    if writes or reads:
        reads += max(1, math.ceil(seconds / (TOKEN_HOURS * 3600)))  # GetAuthorizationToken
    return Cost(
        write_requests=writes, read_requests=reads, bytes_added=size,
        bytes_in_source=bytes_in_source, seconds=seconds,
        request_cost=(writes + reads) / 10_000 * prices.requests_per_10k,
        storage_cost_per_month=size / GIB * prices.storage_gb_month,
        storage_gb_month=prices.storage_gb_month, requests_per_10k=prices.requests_per_10k)


def plan_cost(repositories: Iterable[Any], *, rate_budget: float, origin_control: str,
              prices: Prices, extra: Iterable[RepositoryRequests] = ()) -> Cost:
    """The cost of a plan from its `RepositoryPlan` rows (format, mode, assets, versions,
    packages, bytes, writes), and `extra` requests (the lockfiles' pre-warm)."""
    rows = list(repositories)
    return estimate(
        [*(repository_requests(fmt=r.format, mode=r.mode, files=r.assets, versions=r.versions,
                               packages=r.packages, size=r.bytes, protocol_writes=r.writes,
                               origin_control=origin_control) for r in rows), *extra],
        bytes_in_source=sum(r.bytes for r in rows), rate_budget=rate_budget, prices=prices)
