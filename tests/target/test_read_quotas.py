"""Per-API read quotas (reference §9, fidelity row 33): ListPackageVersionAssets,
ListPackageVersions and ListPackages 200/s each, GetPackageVersionAsset 50/s, beside the 800
reads/s of the account. The client takes a token from the operation's own bucket and from the
reads bucket, so each API is paced at its own rate; the clock is injected, nothing waits."""

from __future__ import annotations

import anyio
import pytest

from migrator.target.codeartifact import CodeArtifactClient
from migrator.target.ratelimit import RateLimits

from .conftest import DOMAIN, OWNER, REGION


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeBoto:
    """Answers every call at once, counting them."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str):
        def call(**params):
            self.calls[name] = self.calls.get(name, 0) + 1
            return {"assets": [], "packageVersion": {}, "versions": [], "packages": []}

        return call


def test_budget_10_gives_each_read_api_its_share():
    limits = RateLimits.from_budget(10)
    rates = {name: b.rate for name, b in limits.operations.items()}
    assert rates == pytest.approx({"ListPackageVersionAssets": 20, "ListPackageVersions": 20,
                                   "ListPackages": 20, "GetPackageVersionAsset": 5})
    assert [b.name for b in limits.buckets("ListPackageVersionAssets")] == [
        "ListPackageVersionAssets", "reads"]
    assert [b.name for b in limits.buckets("GetPackageVersionAsset")] == [
        "GetPackageVersionAsset", "reads"]
    assert [b.name for b in limits.buckets("DescribePackageVersion")] == ["reads"]
    assert [b.name for b in limits.buckets("PublishPackageVersion")] == [
        "PublishPackageVersion", "writes"]
    assert [b.name for b in limits.buckets("UpdatePackageVersionsStatus")] == ["writes"]
    assert set(limits.stats()) >= {"writes", "reads", "ListPackages", "GetPackageVersionAsset"}


# operation → calls that take exactly two seconds at budget 10: a burst of a twentieth of the
# rate (at least 1), then two seconds' worth.
TWO_SECONDS = {
    "ListPackageVersionAssets": 1 + 2 * 20,
    "ListPackageVersions": 1 + 2 * 20,
    "ListPackages": 1 + 2 * 20,
    "GetPackageVersionAsset": 1 + 2 * 5,
    "DescribePackageVersion": 4 + 2 * 80,  # no quota of its own: the reads bucket only
}


@pytest.mark.parametrize("operation", list(TWO_SECONDS))
def test_each_read_api_is_paced_at_its_own_rate(operation):
    t = FakeTime()
    boto = FakeBoto()
    client = CodeArtifactClient(
        domain=DOMAIN, domain_owner=OWNER, region=REGION, boto_client=boto,
        limits=RateLimits.from_budget(10, clock=t.clock, sleep=t.sleep))
    coords = dict(domain=DOMAIN, domainOwner=OWNER, repository="r", format="generic",
                  namespace="n", package="p")

    async def go():
        try:
            for _ in range(TWO_SECONDS[operation]):
                if operation == "ListPackageVersionAssets":
                    await client.list_assets("r", "generic", "n", "p", "1")
                elif operation == "DescribePackageVersion":
                    await client.describe_version("r", "generic", "n", "p", "1")
                else:  # the default buckets of `_call`, as any new read method gets them
                    await client._call(operation, policy=client.read_policy, **coords)
        finally:
            await client.aclose()

    anyio.run(go)
    assert sum(boto.calls.values()) == TWO_SECONDS[operation]
    assert t.now - 1000.0 == pytest.approx(2.0, abs=0.02), operation
