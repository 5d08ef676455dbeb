"""Read lag against the UpdatePackageVersionsStatus fallback (fidelity rows 2 and 30).

A Maven version left Unfinished by its metadata PUT (the sandbox's metadata names another
version), with a publish delay shorter, then longer, than the client's completion wait
(`visibility_waits`, 3.75 s): the fallback runs either way, in the second case during the
verification's polling, and the version ends Published. The sandbox's clock is moved by the
client's sleeps, so nothing really waits."""

from __future__ import annotations

import anyio
import httpx
import pytest

from migrator.models import Format
from migrator.target import make_publisher
from migrator.verification import verify_version
from migrator_sandbox.codeartifact import Behaviour

from .conftest import Recorder, claim, make_client
from .test_lost_answers import sandbox_time

pytestmark = pytest.mark.usefixtures("aws_env")

GREETER = ["com/acme/greeter/1.0.0/greeter-1.0.0.pom",
           "com/acme/greeter/1.0.0/greeter-1.0.0.jar"]
WAIT = 0.25 + 0.5 + 1.0 + 2.0  # CodeArtifactClient's default visibility_waits


def log(sb) -> list[dict]:
    return httpx.get(f"{sb.base_url}/_sandbox/requests").json()["entries"]


def metadata_that_publishes_nothing(publisher) -> None:
    """The artifact-level maven-metadata.xml names another version, so the PUT leaves ours
    Unfinished (what AWS publishes with it is undocumented, fidelity row 3)."""
    original = publisher._put

    async def put(url, body):
        if url.endswith("greeter/maven-metadata.xml"):
            body = body.replace(b"<version>1.0.0</version>", b"<version>9</version>")
        await original(url, body)

    publisher._put = put


@pytest.mark.parametrize("delay", [1.0, WAIT + 1.25], ids=["within-the-wait", "beyond-it"])
def test_unfinished_after_metadata_is_completed_whatever_the_lag(sandbox_factory, delay):
    sb = sandbox_factory(behaviour=Behaviour(publish_delay=delay))

    async def go():
        async with make_client(sb, sleep=sandbox_time(sb)) as client:
            publisher = make_publisher(Format.MAVEN, client)
            metadata_that_publishes_nothing(publisher)
            version, files = claim(Format.MAVEN, "maven-releases", GREETER,
                                   target_repo="maven-releases")
            await publisher.publish(version, files, Recorder())
            after_publish = [e["operation"] for e in log(sb)]
            # the engine's verification: poll with back-off until it can be judged
            checks = []
            for _ in range(10):
                check = await client.check_claimed(version)
                checks.append(check.status)
                if check.status == "Published":
                    break
                await sandbox_time(sb)(0.5)
            return version, files, after_publish, checks, check

    version, files, after_publish, checks, check = anyio.run(go)
    updates = [e for e in log(sb) if e["operation"] == "UpdatePackageVersionsStatus"]
    assert [e["status"] for e in updates] == [200]
    if delay < WAIT:
        assert "UpdatePackageVersionsStatus" in after_publish  # the publisher's own fallback
    else:
        # the completion wait ran out before the version showed: the fallback came later,
        # when verification first saw it Unfinished
        assert "UpdatePackageVersionsStatus" not in after_publish
        assert checks[0] is None and checks[-1] == "Published"
    assert check.status == "Published"
    assert verify_version(version, check, version.assets, files=files).messages() == []


def test_a_fresh_client_never_completes_what_it_did_not_publish(sandbox):
    """`migrator verify` is read-only: an Unfinished version it finds is reported, not
    published."""

    async def go():
        async with make_client(sandbox) as client:
            version, files = claim(Format.MAVEN, "maven-releases", GREETER,
                                   target_repo="maven-releases")
            endpoint = await client.endpoint("maven-releases", "maven")
            for f in files:  # an earlier run's PUTs, without the metadata
                await client.http.request("PUT", endpoint + f.asset.path,
                                          content=f.path.read_bytes())
        async with make_client(sandbox) as fresh:
            return await fresh.check_claimed(version)

    check = anyio.run(go)
    assert check.status == "Unfinished"
    assert not [e for e in log(sandbox) if e["operation"] == "UpdatePackageVersionsStatus"]
