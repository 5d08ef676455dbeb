"""A write that landed but whose answer was lost (fidelity row 10 and the audit's risk 3).

The sandbox stores the first successful write and resets the connection instead of answering
(`lost_answers`), with a read lag (`publish_delay`): the publisher's retry meets the answer to
identical bytes (200, or 409 where the switch says so) while the listing does not show the
asset yet. Every publisher must end PUBLISHED or skipped_identical, never CONFLICT and never
a failure, and the version must then verify. Time is the sandbox's own clock, moved by the
client's sleeps, so the read lag passes without waiting."""

from __future__ import annotations

import anyio
import httpx
import pytest

from migrator.models import Format
from migrator.target import make_publisher
from migrator.verification import verify_version
from migrator_sandbox.codeartifact import Behaviour

from .conftest import Recorder, claim, make_client

pytestmark = pytest.mark.usefixtures("aws_env")

PUBLISH_DELAY = 1.0  # seconds of read lag after each publish (the UG's "about a second")

CASES = {
    Format.NPM: ("npm-internal", ["@types/ms/-/ms-0.7.34.tgz"]),
    Format.PYPI: ("pypi-internal", [
        "packages/jaraco-classes/3.4.0/jaraco.classes-3.4.0-py3-none-any.whl",
        "packages/jaraco-classes/3.4.0/jaraco.classes-3.4.0.tar.gz"]),
    Format.GENERIC: ("raw-files", ["releases/1.1.0/greeter-1.1.0-dist.zip"]),
    # Maven's publisher is not changed here; the same sandbox fault covers it.
    Format.MAVEN: ("maven-releases", ["com/acme/greeter/1.0.0/greeter-1.0.0.pom",
                                      "com/acme/greeter/1.0.0/greeter-1.0.0.jar"]),
}

# (format, behaviour switches): what the retry of the same bytes is answered.
MATRIX = [
    (Format.NPM, {"npm_republish_status": 409}),
    (Format.NPM, {"npm_republish_status": 200}),
    (Format.NPM, {"npm_republish_status": 403}),
    (Format.NPM, {"npm_republish_status": 400}),
    (Format.PYPI, {"pypi_republish_status": 200}),
    (Format.PYPI, {"pypi_republish_status": 409}),
    (Format.GENERIC, {"generic_republish_status": 200}),
    (Format.GENERIC, {"generic_republish_status": 409}),
    (Format.MAVEN, {}),
]


def sandbox_time(sb):
    """A `sleep` that moves the sandbox's clock instead of waiting."""

    async def sleep(seconds: float) -> None:
        sb.emulator.clock_offset += seconds
        await anyio.sleep(0)

    return sleep


@pytest.mark.parametrize(("fmt", "switches"), MATRIX,
                         ids=[f"{f}-{'-'.join(f'{v}' for v in s.values()) or 'default'}"
                              for f, s in MATRIX])
def test_a_lost_answer_ends_published_or_identical(sandbox_factory, fmt, switches):
    repo, paths = CASES[fmt]
    sb = sandbox_factory(behaviour=Behaviour(publish_delay=PUBLISH_DELAY, **switches))
    httpx.post(f"{sb.base_url}/_sandbox/faults", json={"lost_answers": 1})

    async def go():
        async with make_client(sb, sleep=sandbox_time(sb)) as client:
            version, files = claim(fmt, repo, paths, target_repo=repo)
            rec = Recorder()
            await make_publisher(fmt, client).publish(version, files, rec)
            sb.emulator.clock_offset += PUBLISH_DELAY  # the lag passes
            check = await client.check_claimed(version)
            return version, files, rec, check

    version, files, rec, check = anyio.run(go)
    assert len(rec.results) == len(files)
    assert set(rec.outcomes()) <= {"published", "skipped_identical"}, [
        (r.outcome, r.reason) for r in rec.results]
    assert check.status == "Published"
    assert verify_version(version, check, version.assets, files=files).messages() == []
    entries = httpx.get(f"{sb.base_url}/_sandbox/requests").json()["entries"]
    lost = [e for e in entries if e.get("fault") == "lost-answer"]
    assert len(lost) == 1, lost  # the fault really happened, once
    retried = [e for e in entries if e["write"] and e.get("asset") == lost[0]["asset"]]
    assert len(retried) >= 2  # the lost write and its retry


def test_npm_lost_answer_under_409_is_settled_by_hashes_after_the_lag(sandbox_factory):
    """The retry's 409 arrives while ListPackageVersionAssets still says 404: the publisher
    looks again over the lag instead of concluding, and reports the version as identical.
    The lag is twice the usual: the retry's back-off (0.5-1 s, jittered) moves the sandbox's
    clock, and real time passes too, so with a lag of 1 s a back-off near 1 s let the lag
    run out before the first look after the 409."""
    sb = sandbox_factory(behaviour=Behaviour(publish_delay=2 * PUBLISH_DELAY))
    httpx.post(f"{sb.base_url}/_sandbox/faults", json={"lost_answers": 1})

    async def go():
        async with make_client(sb, sleep=sandbox_time(sb)) as client:
            version, files = claim(Format.NPM, *CASES[Format.NPM], target_repo="npm-internal")
            rec = Recorder()
            await make_publisher(Format.NPM, client).publish(version, files, rec)
            return rec

    rec = anyio.run(go)
    assert rec.outcomes() == ["skipped_identical"]
    entries = httpx.get(f"{sb.base_url}/_sandbox/requests").json()["entries"]
    publishes = [e["status"] for e in entries if e["operation"] == "npm:Publish"]
    assert publishes == [200, 409]  # stored (answer lost), then the retry's 409
    listings = [e["status"] for e in entries if e["operation"] == "ListPackageVersionAssets"]
    assert listings[:2] == [404, 404] and listings[-1] == 200  # polled over the lag
