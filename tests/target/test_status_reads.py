"""Status reads batched per package (migrator/target/statuses.py): one listing for several
versions asked about together, never an answer older than the question, one describe for a
version asked about alone, errors and cancellation reach every caller."""

from __future__ import annotations

import anyio
import pytest

from migrator.target.statuses import StatusReads

KEY = ("repo", "npm", "", "left-pad")


class Server:
    """Versions appear when published; reads record when they were sent."""

    def __init__(self) -> None:
        self.versions: dict[str, dict] = {}
        self.calls: list[tuple[str, object]] = []
        self.fail: Exception | None = None

    async def describe(self, version: str) -> dict | None:
        self.calls.append(("describe", version))
        await anyio.sleep(0)
        if self.fail:
            raise self.fail
        return self.versions.get(version)

    async def listing(self) -> dict[str, dict]:
        self.calls.append(("list", sorted(self.versions)))
        await anyio.sleep(0)
        if self.fail:
            raise self.fail
        return dict(self.versions)


def published(origin: str = "INTERNAL") -> dict:
    return {"status": "Published", "origin": {"originType": origin}}


def ask_all(reads: StatusReads, server: Server, versions: list[str]) -> dict:
    found: dict = {}

    async def one(v: str) -> None:
        found[v] = await reads.status(KEY, v, describe=server.describe,
                                      listing=server.listing)

    async def go() -> None:
        async with anyio.create_task_group() as tg:
            for v in versions:
                tg.start_soon(one, v)

    anyio.run(go)
    return found


def test_versions_asked_about_together_share_one_listing():
    server = Server()
    server.versions = {"1.0.0": published(), "1.1.0": published(), "2.0.0": published()}
    reads = StatusReads()
    found = ask_all(reads, server, ["1.0.0", "1.1.0", "3.0.0"])
    assert [c[0] for c in server.calls] == ["list"]
    assert found["1.0.0"]["status"] == "Published" and found["1.1.0"] == published()
    assert found["3.0.0"] is None  # absent, as DescribePackageVersion's 404 would say
    assert (reads.listings, reads.describes) == (1, 0)


def test_a_version_asked_about_alone_is_described():
    server = Server()
    server.versions = {"1.0.0": published()}
    reads = StatusReads()
    assert ask_all(reads, server, ["1.0.0"]) == {"1.0.0": published()}
    assert server.calls == [("describe", "1.0.0")]


def test_an_answer_is_never_older_than_the_question():
    """A caller arriving while a batch's request is out starts a new batch: the listing in
    flight may have left before its version was published."""
    server = Server()
    reads = StatusReads(window=0.0)
    server.versions = {"1.0.0": published()}
    order: list[str] = []

    async def go() -> dict:
        out: dict = {}

        async def first() -> None:
            out["1.0.0"] = await reads.status(KEY, "1.0.0", describe=server.describe,
                                              listing=server.listing)
            order.append("first answered")

        async def later() -> None:
            while not server.calls:  # the first batch's request has left
                await anyio.sleep(0)
            server.versions["1.1.0"] = published()  # published after it left
            out["1.1.0"] = await reads.status(KEY, "1.1.0", describe=server.describe,
                                              listing=server.listing)

        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            tg.start_soon(later)
        return out

    out = anyio.run(go)
    assert out == {"1.0.0": published(), "1.1.0": published()}
    assert server.calls == [("describe", "1.0.0"), ("describe", "1.1.0")]


def test_the_error_of_a_batch_reaches_every_caller():
    server = Server()
    server.fail = RuntimeError("throttled for good")
    reads = StatusReads()
    with pytest.raises(BaseExceptionGroup) as caught:
        ask_all(reads, server, ["1.0.0", "1.1.0"])
    errors = caught.value.exceptions
    assert len(errors) == 2 and all(isinstance(e, RuntimeError) for e in errors)
    assert [c[0] for c in server.calls] == ["list"]


def test_a_cancelled_sender_leaves_the_others_to_read_for_themselves():
    server = Server()
    server.versions = {"1.0.0": published(), "1.1.0": published()}
    reads = StatusReads(window=0.05)
    out: dict = {}

    scopes: list[anyio.CancelScope] = []

    async def owner() -> None:
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            await reads.status(KEY, "1.0.0", describe=server.describe,
                               listing=server.listing)

    async def joiner() -> None:
        out["1.1.0"] = await reads.status(KEY, "1.1.0", describe=server.describe,
                                          listing=server.listing)

    async def go() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(owner)
            await anyio.sleep(0)
            tg.start_soon(joiner)
            await anyio.sleep(0)
            scopes[0].cancel()  # within the window: the batch's request never left

    anyio.run(go)
    assert out == {"1.1.0": published()}
    assert server.calls == [("describe", "1.1.0")]


@pytest.mark.parametrize(("mode", "reads"), [
    ("copy", {"ListPackageVersions": 1}),
    # ingested versions show in the list APIs about 3 minutes late (reference §6): a
    # pre-warm confirmation asks DescribePackageVersion, version by version
    ("prewarm", {"DescribePackageVersion": 2}),
])
def test_the_client_batches_what_it_published_and_describes_what_it_pre_warms(mode, reads):
    from migrator.models import ClaimedVersion, Format
    from migrator.target.codeartifact import CodeArtifactClient

    from .conftest import DOMAIN, OWNER, REGION
    from .test_read_quotas import FakeBoto

    boto = FakeBoto()
    client = CodeArtifactClient(domain=DOMAIN, domain_owner=OWNER, region=REGION,
                                boto_client=boto)

    def claimed(version: str) -> ClaimedVersion:
        return ClaimedVersion(1, 1, "npm-src", "npm-team", mode, Format.NPM, "", "left-pad",
                              version, "published", 1, {})

    async def go() -> None:
        try:
            async with anyio.create_task_group() as tg:
                for v in ("1.0.0", "1.1.0"):
                    tg.start_soon(client.check_claimed, claimed(v))
        finally:
            await client.aclose()

    anyio.run(go)
    status_reads = {op: n for op, n in boto.calls.items()
                    if op in ("list_package_versions", "describe_package_version")}
    assert status_reads == {{"ListPackageVersions": "list_package_versions",
                             "DescribePackageVersion": "describe_package_version"}[op]: n
                            for op, n in reads.items()}
