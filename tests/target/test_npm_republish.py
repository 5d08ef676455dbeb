"""npm re-publish of identical bytes (fidelity rows 14 and 17).

What CodeArtifact answers to a version it already holds is undocumented: the sandbox switch
`npm_republish_status` answers 200, 409, 403 or 400 (EPUBLISHCONFLICT-style). Identical bytes
end skipped_identical after comparing hashes under each; `access` goes out as npm sends it;
a 409 for a version the target does not hold is retried once with the merged document, as
libnpmpublish does (GET `?write=true`, merge, PUT)."""

from __future__ import annotations

import json

import anyio
import httpx
import pytest

from migrator.models import Format
from migrator.target import make_publisher
from migrator.target.errors import PublishError
from migrator.verification import verify_version
from migrator_sandbox.codeartifact import Behaviour

from .conftest import Recorder, claim, make_client

pytestmark = pytest.mark.usefixtures("aws_env")

REPO = "npm-internal"
MS = ["@types/ms/-/ms-0.7.34.tgz"]


def log(sb) -> list[dict]:
    return httpx.get(f"{sb.base_url}/_sandbox/requests").json()["entries"]


def publishes(sb) -> list[int]:
    return [e["status"] for e in log(sb) if e["operation"] == "npm:Publish"]


@pytest.mark.parametrize("status", [200, 409, 403, 400])
def test_identical_republish_ends_skipped_identical_whatever_the_answer(sandbox_factory,
                                                                        status):
    sb = sandbox_factory(behaviour=Behaviour(npm_republish_status=status))

    async def go():
        async with make_client(sb) as client:
            first = Recorder()
            version, files = claim(Format.NPM, REPO, MS, target_repo=REPO)
            await make_publisher(Format.NPM, client).publish(version, files, first)
            # the default publisher looks first: nothing is sent for a version already there
            looked = Recorder()
            v2, f2 = claim(Format.NPM, REPO, MS, target_repo=REPO)
            await make_publisher(Format.NPM, client).publish(v2, f2, looked)
            after_look = list(publishes(sb))
            # without the look-up the PUT is sent, and the answer is the switch's
            sent = Recorder()
            v3, f3 = claim(Format.NPM, REPO, MS, target_repo=REPO)
            await make_publisher(Format.NPM, client, check_first=False).publish(v3, f3, sent)
            return first, looked, after_look, sent, await client.check_claimed(v3), v3, f3

    first, looked, after_look, sent, check, v3, f3 = anyio.run(go)
    assert first.outcomes() == ["published"]
    assert looked.outcomes() == ["skipped_identical"] and after_look == [200]
    assert publishes(sb) == [200, status]
    # a 200 says "stored" and nothing more: the publisher reports what it was told, and the
    # verification that follows finds the bytes identical
    assert sent.outcomes() == (["published"] if status == 200 else ["skipped_identical"])
    assert verify_version(v3, check, v3.assets, files=f3).messages() == []


@pytest.mark.parametrize("status", [403, 400])
def test_other_bytes_under_a_refusing_switch_are_still_a_conflict(sandbox_factory, tmp_path,
                                                                  status):
    """The switch changes the answer to identical bytes only; other bytes are 409, and the
    publisher names both hashes."""
    from .conftest import SEED

    sb = sandbox_factory(behaviour=Behaviour(npm_republish_status=status))
    changed = tmp_path / "ms-0.7.34.tgz"
    changed.write_bytes((SEED / REPO / "@types/ms/-/ms-2.1.0.tgz").read_bytes())

    async def go():
        async with make_client(sb) as client:
            version, files = claim(Format.NPM, REPO, MS, target_repo=REPO)
            await make_publisher(Format.NPM, client).publish(version, files, Recorder())
            rec = Recorder()
            v2, f2 = claim(Format.NPM, REPO, MS, target_repo=REPO,
                           files_from={MS[0]: changed})
            await make_publisher(Format.NPM, client, check_first=False).publish(v2, f2, rec)
            return rec

    rec = anyio.run(go)
    [result] = rec.results
    assert str(result.outcome) == "conflict" and "ours sha256=" in result.reason


def test_access_is_sent_public_as_npm_does(sandbox):
    bodies: list[dict] = []

    async def go():
        async with make_client(sandbox) as client:
            async def keep(request: httpx.Request) -> None:
                if request.method == "PUT":
                    bodies.append(json.loads(request.content))

            client.http.client.event_hooks["request"].append(keep)
            version, files = claim(Format.NPM, REPO, MS, target_repo=REPO)
            await make_publisher(Format.NPM, client).publish(version, files, Recorder())
            v2, f2 = claim(Format.NPM, REPO, ["left-pad/-/left-pad-1.3.0.tgz"],
                           target_repo=REPO)
            await make_publisher(Format.NPM, client, access="restricted").publish(
                v2, f2, Recorder())

    anyio.run(go)
    assert [b["access"] for b in bodies] == ["public", "restricted"]


def test_a_409_for_a_new_version_is_merged_and_put_once_more(sandbox):
    """libnpmpublish on E409: GET the packument with ?write=true, merge the new version in,
    PUT once more; the versions already there are carried over unchanged."""

    async def go():
        async with make_client(sandbox) as client:
            publisher = make_publisher(Format.NPM, client)
            old, old_files = claim(Format.NPM, REPO, ["@types/ms/-/ms-0.7.31.tgz"],
                                   target_repo=REPO)
            await publisher.publish(old, old_files, Recorder())
            httpx.post(f"{sandbox.base_url}/_sandbox/faults", json={"npm_publish_conflicts": 1})
            rec = Recorder()
            version, files = claim(Format.NPM, REPO, MS, target_repo=REPO)
            await publisher.publish(version, files, rec)
            return rec, await client.check_claimed(version), await client.check_claimed(old), \
                version, files

    rec, check, old_check, version, files = anyio.run(go)
    assert rec.outcomes() == ["published"]
    assert publishes(sandbox) == [200, 409, 200]
    packument_reads = [e for e in log(sandbox) if e["operation"] == "npm:GetPackument"]
    assert len(packument_reads) == 1
    assert verify_version(version, check, version.assets, files=files).messages() == []
    assert old_check.status == "Published"


def test_the_merge_retry_happens_once_only(sandbox):
    """A second 409 for a version the target still does not hold is the target's refusal:
    raised (that version fails) after exactly one retry, never reported as a conflict."""

    async def go():
        async with make_client(sandbox) as client:
            httpx.post(f"{sandbox.base_url}/_sandbox/faults", json={"npm_publish_conflicts": 5})
            version, files = claim(Format.NPM, REPO, MS, target_repo=REPO)
            with pytest.raises(PublishError) as info:
                await make_publisher(Format.NPM, client).publish(version, files, Recorder())
            return info.value

    error = anyio.run(go)
    assert error.retryable is False and "no conflict of bytes" in str(error)
    assert publishes(sandbox) == [409, 409]
