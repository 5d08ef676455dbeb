"""The engine's pre-warm outcomes with an injected target: ingested (hashes checked against
the pinned ones), not_found_upstream, blocked_by_origin_control; and the counts add up."""

from __future__ import annotations

import hashlib

import pytest

from migrator.models import AssetKind, Coordinates, DiscoveredAsset, Format, RepoType
from migrator.state import status as st

pytestmark = pytest.mark.anyio

DATA = b"public tarball bytes"
SHA512 = hashlib.sha512(DATA).hexdigest()


def add_locked(world, name: str, version: str, hashes: dict[str, str]) -> None:
    repo = "lockfiles:npm"
    if repo not in world.repo_ids:
        world.repo_ids[repo] = world.queue.upsert_repository(
            source=repo, target="npm-team", format=Format.NPM, repo_type=RepoType.PROXY,
            mode="prewarm")
    path = f"{name}/-/{name}-{version}.tgz"
    world.queue.record_page(world.repo_ids[repo], [(DiscoveredAsset(
        path=path, size=None, checksums=hashes,
        coordinates=Coordinates(Format.NPM, "", name, version), kind=AssetKind.ARTIFACT),
        None)], cursor=None, done=True)


def reasons(world) -> dict[str, str]:
    return dict(world.queue.conn.execute("SELECT path, reason FROM assets").fetchall())


async def test_ingested_when_codeartifact_has_the_pinned_bytes(world):
    world.target.ingested_assets = {"package.tgz": {"sha512": SHA512, "size": len(DATA)}}
    add_locked(world, "ms", "2.1.3", {"sha512": SHA512})
    await world.engine().run()
    assert world.statuses() == {st.INGESTED: 1}
    assert world.statuses("versions") == {st.INGESTED: 1}


async def test_other_bytes_than_the_lockfile_pins_are_a_failure_with_both_hashes(world):
    world.target.ingested_assets = {"package.tgz": {"sha512": "ab" * 64}}
    add_locked(world, "ms", "2.1.3", {"sha512": SHA512})
    await world.engine().run()
    assert world.statuses() == {st.FAILED_PERMANENT: 1}
    reason = reasons(world)["ms/-/ms-2.1.3.tgz"]
    assert "other bytes than the lockfile pins" in reason
    assert SHA512 in reason and "ab" * 64 in reason


async def test_not_found_upstream_is_final_and_named(world):
    world.target.not_upstream = {"left-pad"}
    add_locked(world, "left-pad", "9.9.9", {})
    await world.engine().run()
    assert world.statuses() == {st.NOT_FOUND_UPSTREAM: 1}
    assert world.statuses("versions") == {st.NOT_FOUND_UPSTREAM: 1}
    assert "not found upstream" in reasons(world)["left-pad/-/left-pad-9.9.9.tgz"]
    assert world.target.requested == ["left-pad/-/left-pad-9.9.9.tgz"]  # once, not retried


async def test_blocked_by_origin_control_when_the_target_refuses_the_upstream(world):
    world.target.upstream_blocked = {"acme-utils"}
    add_locked(world, "acme-utils", "1.0.0", {})
    await world.engine().run()
    assert world.statuses() == {st.BLOCKED_BY_ORIGIN_CONTROL: 1}
    assert reasons(world)["acme-utils/-/acme-utils-1.0.0.tgz"] == "upstream=BLOCK"


async def test_every_outcome_is_counted_once_and_retry_sends_refusals_back(world):
    world.target.not_upstream = {"gone"}
    world.target.upstream_blocked = {"blocked"}
    for name in ("gone", "blocked", "ms"):
        add_locked(world, name, "1.0.0", {})
    await world.engine().run()
    counts = world.queue.counts()["lockfiles:npm"]
    assert counts.assets == {st.INGESTED: 1, st.NOT_FOUND_UPSTREAM: 1,
                             st.BLOCKED_BY_ORIGIN_CONTROL: 1}
    failures, total = world.queue.failures()
    assert total == 2 and {f.status for f in failures} == set(st.PREWARM_REFUSALS)
    assert world.queue.requeue(list(st.PREWARM_REFUSALS)) == 2
    assert world.statuses() == {st.INGESTED: 1, st.DISCOVERED: 2}


def add_maven(world, files: dict[str, bool]) -> None:
    """commons-cli 1.5.0 from a lockfile: file name → optional (not proven to exist)."""
    rid = world.queue.upsert_repository(source="lockfiles:maven", target="team",
                                        format=Format.MAVEN, repo_type=RepoType.PROXY,
                                        mode="prewarm")
    world.queue.record_page(rid, [(DiscoveredAsset(
        path=f"commons-cli/commons-cli/1.5.0/{name}", size=None, checksums={},
        coordinates=Coordinates(Format.MAVEN, "commons-cli", "commons-cli", "1.5.0",
                                {"optional": True} if optional else {}),
        kind=AssetKind.ARTIFACT), None) for name, optional in files.items()],
        cursor=None, done=True)


async def test_a_missing_optional_jar_of_a_pom_only_module_is_no_problem(world):
    world.target.missing_paths = {"commons-cli/commons-cli/1.5.0/commons-cli-1.5.0.jar"}
    add_maven(world, {"commons-cli-1.5.0.pom": False, "commons-cli-1.5.0.jar": True})
    await world.engine().run()
    assert world.statuses() == {st.INGESTED: 1, st.EXCLUDED: 1}
    assert world.statuses("versions") == {st.INGESTED: 1}
    assert "POM-only" in reasons(world)["commons-cli/commons-cli/1.5.0/commons-cli-1.5.0.jar"]


async def test_one_file_missing_upstream_is_not_found_and_the_rest_ingested(world):
    world.target.missing_paths = {"commons-cli/commons-cli/1.5.0/commons-cli-1.5.0-tests.jar"}
    add_maven(world, {"commons-cli-1.5.0.pom": False, "commons-cli-1.5.0-tests.jar": False})
    await world.engine().run()
    assert world.statuses() == {st.INGESTED: 1, st.NOT_FOUND_UPSTREAM: 1}
    _, total = world.queue.failures()
    assert total == 1
