"""One contract suite over the four publishers, against the in-process CodeArtifact sandbox."""

from __future__ import annotations

import io
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import pytest

from migrator.models import AssetOutcome, Format
from migrator.target import make_publisher
from migrator.target.errors import PublishError
from migrator.verification import asset_name, verify_version

from .conftest import Recorder, claim, make_client

pytestmark = pytest.mark.usefixtures("aws_env")


@dataclass(frozen=True)
class Case:
    fmt: Format
    source_repo: str
    paths: tuple[str, ...]
    changed: str  # the path whose bytes differ in the conflict run


CASES = {
    "maven": Case(Format.MAVEN, "maven-releases", (
        "com/acme/greeter/1.0.0/greeter-1.0.0.pom",
        "com/acme/greeter/1.0.0/greeter-1.0.0.jar",
        "com/acme/greeter/1.0.0/greeter-1.0.0-sources.jar"),
        "com/acme/greeter/1.0.0/greeter-1.0.0.jar"),
    "npm": Case(Format.NPM, "npm-internal", ("@types/ms/-/ms-0.7.34.tgz",),
                "@types/ms/-/ms-0.7.34.tgz"),
    "pypi": Case(Format.PYPI, "pypi-internal", (
        "packages/jaraco-classes/3.4.0/jaraco.classes-3.4.0-py3-none-any.whl",
        "packages/jaraco-classes/3.4.0/jaraco.classes-3.4.0.tar.gz"),
        "packages/jaraco-classes/3.4.0/jaraco.classes-3.4.0-py3-none-any.whl"),
    "generic": Case(Format.GENERIC, "raw-files", ("releases/1.1.0/greeter-1.1.0-dist.zip",
                                                  "releases/1.1.0/NOTES.txt"),
                    "releases/1.1.0/greeter-1.1.0-dist.zip"),
}


@pytest.fixture
def seed_root(tmp_path: Path) -> Path:
    """The demo seed plus one more raw file, so the generic version has two assets."""
    root = tmp_path / "seed"
    for name in ("maven-releases", "maven-snapshots", "npm-internal", "pypi-internal",
                 "raw-files"):
        shutil.copytree(Path(__file__).resolve().parents[2] / "migrator_sandbox" / "demo_seed" /
                        name, root / name)
    (root / "raw-files/releases/1.1.0/NOTES.txt").write_text("greeter 1.1.0 notes\n")
    return root


def changed_copy(case: Case, root: Path, tmp_path: Path) -> Path:
    """Other bytes under the same file name (still a valid file of its kind)."""
    original = root / case.source_repo / case.changed
    out = tmp_path / "changed" / original.name
    out.parent.mkdir(parents=True, exist_ok=True)
    if case.fmt is Format.PYPI:
        buffer = io.BytesIO()
        with zipfile.ZipFile(original) as src, zipfile.ZipFile(buffer, "w") as dst:
            for item in src.infolist():
                dst.writestr(item, src.read(item.filename))
            dst.writestr("jaraco/extra.txt", "changed at the source\n")
        out.write_bytes(buffer.getvalue())
    elif case.fmt is Format.NPM:
        out.write_bytes((root / case.source_repo / "@types/ms/-/ms-2.1.0.tgz").read_bytes())
    else:
        out.write_bytes(original.read_bytes() + b"\nchanged")
    return out


def run(coro_fn):
    return anyio.run(coro_fn)


def asset_keys(version) -> list[str]:
    names = [asset_name(version, a) for a in version.assets]
    folder = version.version
    return [f"demo/{version.target_repository}/{version.format}/{version.namespace}/"
            f"{version.package}/{folder}/{n}" for n in names]


# The write request each publisher sends for one asset, as the sandbox logs it.
WRITE_OPERATION = {Format.MAVEN: "maven:PutAsset", Format.NPM: "npm:Publish",
                   Format.PYPI: "pypi:Upload", Format.GENERIC: "PublishPackageVersion"}


def request_log(sandbox, since: int = 0) -> dict:
    return httpx.get(f"{sandbox.base_url}/_sandbox/requests", params={"since": since}).json()


@pytest.mark.parametrize("name", list(CASES))
def test_publish_verify_and_republish_identical(name, sandbox, seed_root):
    case = CASES[name]

    async def scenario():
        async with make_client(sandbox) as client:
            publisher = make_publisher(case.fmt, client)
            version, files = claim(case.fmt, case.source_repo, case.paths,
                                   target_repo=case.source_repo, root=seed_root)
            first = Recorder()
            await publisher.publish(version, files, first)
            check = await client.check_claimed(version)
            problems = verify_version(version, check, version.assets, files=files).messages()

            again = Recorder()
            version2, files2 = claim(case.fmt, case.source_repo, case.paths,
                                     target_repo=case.source_repo, root=seed_root)
            await publisher.publish(version2, files2, again)
            return version, files, first, check, problems, again

    version, files, first, check, problems, again = run(scenario)
    assert first.outcomes() == ["published"] * len(files)
    assert {r.asset_id for r in first.results} == {f.asset.id for f in files}
    assert check.status == "Published" and check.origin == "INTERNAL"
    for f in files:
        theirs = check.assets[asset_name(version, f.asset)]
        assert {a: theirs[a] for a in f.hashes} == dict(f.hashes)
        assert theirs["size"] == f.size
    assert problems == []
    assert again.outcomes() == ["skipped_identical"] * len(files)
    log = request_log(sandbox)["by_asset"]
    for key in asset_keys(version):
        assert log[key]["writes_ok"] == 1, (key, log[key])


def publish_then_change(case: Case, sandbox, seed_root: Path, tmp_path: Path,
                        check_first: bool):
    """Publish the case's version, then the same version with other bytes under
    `case.changed`. Returns the conflicting run's results, its version and files, the
    original files, and the request-log position where the conflicting run began."""

    async def scenario():
        async with make_client(sandbox) as client:
            publisher = make_publisher(case.fmt, client, check_first=check_first)
            version, files = claim(case.fmt, case.source_repo, case.paths,
                                   target_repo=case.source_repo, root=seed_root)
            first = Recorder()
            await publisher.publish(version, files, first)
            assert first.outcomes() == ["published"] * len(files)
            since = request_log(sandbox)["next"]
            changed = changed_copy(case, seed_root, tmp_path)
            conflict = Recorder()
            v3, f3 = claim(case.fmt, case.source_repo, (case.changed,),
                           target_repo=case.source_repo, root=seed_root,
                           files_from={case.changed: changed})
            await publisher.publish(v3, f3, conflict)
            return conflict, v3, f3, files, since

    return run(scenario)


def assert_conflict_names_both_hashes(conflict: Recorder, f3, files, case: Case) -> None:
    [result] = conflict.results
    assert result.outcome is AssetOutcome.CONFLICT
    ours = f3[0].hashes["sha256"]
    original = next(f for f in files if f.asset.path == case.changed)
    theirs = original.hashes["sha256"]
    assert ours != theirs
    assert f"ours sha256={ours}" in result.reason, result.reason
    assert f"target sha256={theirs}" in result.reason, result.reason
    assert result.target_hashes["sha256"] == theirs


@pytest.mark.parametrize("name", list(CASES))
def test_conflict_answered_409_by_the_target(name, sandbox, seed_root, tmp_path):
    """Without the look-up before writing, the write itself is sent; the target answers 409
    and the publisher settles it by hashes: CONFLICT, both hashes named, nothing replaced."""
    case = CASES[name]
    conflict, v3, f3, files, since = publish_then_change(case, sandbox, seed_root, tmp_path,
                                                         check_first=False)
    [key] = asset_keys(v3)
    writes = [e for e in request_log(sandbox, since)["entries"]
              if e["write"] and e.get("asset") == key]
    # exactly one write of the changed file, and the target refused it with a 409
    assert [(e["operation"], e["status"]) for e in writes] == [
        (WRITE_OPERATION[case.fmt], 409)], writes
    assert_conflict_names_both_hashes(conflict, f3, files, case)
    # the target still holds the first bytes: one stored write of that key, ever
    assert request_log(sandbox)["by_asset"][key]["writes_ok"] == 1


@pytest.mark.parametrize("name", list(CASES))
def test_conflict_found_before_upload_sends_no_write(name, sandbox, seed_root, tmp_path):
    """With the look-up first (ListPackageVersionAssets), a different file already in the
    target is a CONFLICT found before any write of it is sent."""
    case = CASES[name]
    conflict, v3, f3, files, since = publish_then_change(case, sandbox, seed_root, tmp_path,
                                                         check_first=True)
    [key] = asset_keys(v3)
    entries = request_log(sandbox, since)["entries"]
    assert [e for e in entries if e.get("asset") == key and e["write"]] == []
    assert [e for e in entries if e["status"] == 409] == []
    assert "ListPackageVersionAssets" in {e["operation"] for e in entries}
    assert_conflict_names_both_hashes(conflict, f3, files, case)


def test_resumed_maven_version_with_no_files_left_is_published(sandbox):
    """All PUTs happened in an earlier run that died before maven-metadata.xml."""
    case = CASES["maven"]

    async def scenario():
        async with make_client(sandbox) as client:
            version, files = claim(case.fmt, case.source_repo, case.paths,
                                   target_repo=case.source_repo)
            endpoint = await client.endpoint(case.source_repo, "maven")
            for f in files:
                await client.http.request("PUT", endpoint + f.asset.path,
                                          content=f.path.read_bytes())
            before = await client.check_claimed(version)
            await make_publisher(Format.MAVEN, client).publish(version, [], Recorder())
            after = await client.check_claimed(version)
            verdict = verify_version(version, after, version.assets, files=files)
            return before, after, verdict.messages()

    before, after, problems = run(scenario)
    assert before.status == "Unfinished"
    assert after.status == "Published" and problems == []


def test_resumed_maven_version_falls_back_to_update_status(sandbox):
    """If the metadata PUT does not publish (it names other versions), UpdatePackageVersionsStatus
    does."""
    case = CASES["maven"]

    async def scenario():
        async with make_client(sandbox) as client:
            version, files = claim(case.fmt, case.source_repo, case.paths,
                                   target_repo=case.source_repo)
            publisher = make_publisher(Format.MAVEN, client)
            original = publisher._put

            async def put_elsewhere(url, body):
                if url.endswith("greeter/maven-metadata.xml"):
                    body = body.replace(b"<version>1.0.0</version>", b"<version>9</version>")
                await original(url, body)

            publisher._put = put_elsewhere
            await publisher.publish(version, files, Recorder())
            return await client.check_claimed(version)

    check = run(scenario)
    assert check.status == "Published"
    log = httpx.get(f"{sandbox.base_url}/_sandbox/requests?entries=0").json()
    assert log["by_operation"]["UpdatePackageVersionsStatus"] == 1


SNAPSHOT_BUILDS = [
    ("1.2.0-SNAPSHOT/greeter-1.2.0-20261125.185252-1.pom",
     "1.2.0-SNAPSHOT/greeter-1.2.0-20261125.185252-1.jar",
     "1.2.0-SNAPSHOT/greeter-1.2.0-20261125.185252-1-sources.jar"),
    ("1.2.0-SNAPSHOT/greeter-1.2.0-20261125.185253-2.pom",
     "1.2.0-SNAPSHOT/greeter-1.2.0-20261125.185253-2.jar",
     "1.2.0-SNAPSHOT/greeter-1.2.0-20261125.185253-2-sources.jar"),
]


def snapshot_build(i: int):
    return claim(Format.MAVEN, "maven-snapshots",
                 [f"com/acme/greeter/{p}" for p in SNAPSHOT_BUILDS[i]],
                 target_repo="maven-snapshots")


async def snapshot_statuses(client) -> dict[str, str]:
    versions = await client._call("ListPackageVersions", buckets=(client.limits.reads,),
                                  policy=client.read_policy, **client._coords(
                                      "maven-snapshots", "maven", "com.acme", "greeter"))
    return {v["version"]: v["status"] for v in versions["versions"]}


@pytest.mark.parametrize("model", ["builds", "rolling"])
def test_maven_snapshot_builds_in_order(model, sandbox_factory):
    """Both SNAPSHOT models: builds published oldest first, then the older one re-run."""
    from migrator_sandbox.codeartifact import Behaviour

    sandbox = sandbox_factory(behaviour=Behaviour(maven_snapshot_model=model))

    async def scenario():
        async with make_client(sandbox) as client:
            publisher = make_publisher(Format.MAVEN, client)
            claimed = []
            for i in range(2):
                version, files = snapshot_build(i)
                rec = Recorder()
                await publisher.publish(version, files, rec)
                claimed.append((version, files, rec))
            checks = [await client.check_claimed(v) for v, _, _ in claimed]
            # A re-run of the older build must not make it the newest again.
            v1, f1 = snapshot_build(0)
            rerun = Recorder()
            await publisher.publish(v1, f1, rerun)
            endpoint = await client.endpoint("maven-snapshots", "maven")
            meta = await client.http.request(
                "GET", endpoint + "com/acme/greeter/1.2.0-SNAPSHOT/maven-metadata.xml")
            head = await client.list_assets("maven-snapshots", "maven", "com.acme", "greeter",
                                            "1.2.0-SNAPSHOT")
            return claimed, checks, rerun, await snapshot_statuses(client), meta.text, head

    claimed, checks, rerun, statuses, meta, head = run(scenario)
    assert all(rec.outcomes() == ["published"] * 3 for _, _, rec in claimed)
    build1, build2 = "1.2.0-20261125.185252-1", "1.2.0-20261125.185253-2"
    if model == "builds":  # UG maven-snapshots: every build Unlisted, X-SNAPSHOT Published
        assert [c.status for c in checks] == ["Unlisted", "Unlisted"]
        assert statuses == {build1: "Unlisted", build2: "Unlisted",
                            "1.2.0-SNAPSHOT": "Published"}
    else:
        assert [c.status for c in checks] == ["Unlisted", "Published"]
        assert statuses == {build1: "Unlisted", "1.2.0-SNAPSHOT": "Published"}
    for (version, files, _), check in zip(claimed, checks, strict=True):
        assert verify_version(version, check, version.assets, files=files).messages() == []
    assert rerun.outcomes() == ["skipped_identical"] * 3
    assert "<buildNumber>2</buildNumber>" in meta
    assert sorted(head) == sorted(a.filename for a in claimed[1][0].assets)


def untouched(claimed):
    """A claim as the queue hands out a version no attempt touched (its assets discovered),
    which is what lets the client take its first look from the package listing."""
    import dataclasses

    version, files = claimed
    assets = [dataclasses.replace(a, status="discovered") for a in version.assets]
    by_id = {a.id: a for a in assets}
    return (dataclasses.replace(version, assets=assets),
            [dataclasses.replace(f, asset=by_id[f.asset.id]) for f in files])


@pytest.mark.parametrize("first_look", [False, True], ids=["retry", "claimed-together"])
@pytest.mark.parametrize("model", ["builds", "rolling"])
def test_older_snapshot_build_published_after_a_newer_one(model, first_look, sandbox_factory):
    """Builds finishing out of order: the older never becomes the newest; where builds are
    their own versions it ends Unlisted, else it is refused with the reason.

    "retry": the older one comes back later. "claimed-together": both claimed at once, no
    attempt had touched either, and the newer won the snapshot's lock; the package listing
    the client keeps for first looks was read before the newer build existed, so the older
    one must look the newer build up afresh, never conclude from that listing that builds
    are not versions of their own."""
    from migrator.target.errors import PublishError
    from migrator_sandbox.codeartifact import Behaviour

    sandbox = sandbox_factory(behaviour=Behaviour(maven_snapshot_model=model))
    fresh = untouched if first_look else (lambda claimed: claimed)

    async def scenario():
        async with make_client(sandbox, first_look_from_listing=first_look) as client:
            publisher = make_publisher(Format.MAVEN, client)
            v1, f1 = fresh(snapshot_build(0))
            v2, f2 = fresh(snapshot_build(1))
            if first_look:  # the listing is read (and kept) before either publish
                assert not await client.package_exists("maven-snapshots", "maven",
                                                       "com.acme", "greeter")
            await publisher.publish(v2, f2, Recorder())
            rec = Recorder()
            error = None
            try:
                await publisher.publish(v1, f1, rec)
            except PublishError as exc:
                error = exc
            check = await client.check_claimed(v1)
            endpoint = await client.endpoint("maven-snapshots", "maven")
            meta = await client.http.request(
                "GET", endpoint + "com/acme/greeter/1.2.0-SNAPSHOT/maven-metadata.xml")
            return v1, f1, rec, error, check, await snapshot_statuses(client), meta.text

    v1, f1, rec, error, check, statuses, meta = run(scenario)
    assert "<buildNumber>2</buildNumber>" in meta  # X-SNAPSHOT still points at build 2
    if model == "builds":
        assert error is None and rec.outcomes() == ["published"] * 3
        assert statuses["1.2.0-20261125.185252-1"] == "Unlisted"
        assert verify_version(v1, check, v1.assets, files=f1).messages() == []
    else:
        assert error is not None and error.retryable is False
        assert "would replace the newest" in error.message
        assert rec.outcomes() == []


def test_non_unique_snapshot_is_a_permanent_failure(sandbox, tmp_path):
    from migrator.models import ClaimedAsset, ClaimedVersion
    from migrator.target.errors import PublishError

    jar = tmp_path / "greeter-1.3.0-SNAPSHOT.jar"
    jar.write_bytes(b"jar")
    asset = ClaimedAsset(1, "com/acme/greeter/1.3.0-SNAPSHOT/greeter-1.3.0-SNAPSHOT.jar",
                         jar.name, "artifact", 3, "claimed", {}, {}, {},
                         {"base_version": "1.3.0-SNAPSHOT", "non_unique_snapshot": True,
                          "classifier": "", "extension": "jar"})
    version = ClaimedVersion(1, 1, "maven-snapshots", "maven-snapshots", "copy", Format.MAVEN,
                             "com.acme", "greeter", "1.3.0-SNAPSHOT", "discovered", 0, {},
                             [asset])

    async def scenario():
        async with make_client(sandbox) as client:
            from migrator.models import SpooledFile

            await make_publisher(Format.MAVEN, client).publish(
                version, [SpooledFile(asset, jar, 3, {})], Recorder())

    with pytest.raises(PublishError) as info:
        run(scenario)
    assert info.value.retryable is False
    assert "non-unique SNAPSHOT" in str(info.value)


def greeter_releases(root: Path) -> list:
    """Three releases of one artifact (the demo's 1.0.0 and 1.1.0, and a 1.2.0 made from
    1.1.0's bytes)."""
    src = root / "maven-releases/com/acme/greeter"
    shutil.copytree(src / "1.1.0", src / "1.2.0")
    for f in list((src / "1.2.0").iterdir()):
        f.rename(f.with_name(f.name.replace("1.1.0", "1.2.0")))
    return [claim(Format.MAVEN, "maven-releases",
                  [f"com/acme/greeter/{v}/greeter-{v}{s}" for s in (".pom", ".jar")],
                  target_repo="maven-releases", root=root)
            for v in ("1.0.0", "1.1.0", "1.2.0")]


def hold_first_metadata_write(publisher, fail_second: bool = False
                              ) -> tuple[list[bytes], anyio.Event]:
    """The first artifact-level metadata write waits until all three versions have asked for
    theirs; with `fail_second`, the second one fails. Returns the bodies written and an
    event set once the first write is waiting."""
    original_put, original_meta = publisher._put, publisher._put_artifact_metadata
    writes: list[bytes] = []
    asked = {"n": 0}
    all_asked, holding = anyio.Event(), anyio.Event()

    async def ask(*args):
        asked["n"] += 1
        if asked["n"] == 3:
            all_asked.set()
        await original_meta(*args)  # joins its batch before its first wait

    async def put(url, body):
        if url.endswith("greeter/maven-metadata.xml"):
            writes.append(body)
            if len(writes) == 1:
                holding.set()
                await all_asked.wait()
            elif len(writes) == 2 and fail_second:
                raise PublishError("HTTP 500 from the target", retryable=True)
        await original_put(url, body)

    publisher._put, publisher._put_artifact_metadata = put, ask
    return writes, holding


def listed_in(body: bytes) -> set[str]:
    return {v for v in ("1.0.0", "1.1.0", "1.2.0") if f"<version>{v}</version>".encode() in body}


@pytest.mark.parametrize("publishes", ["listed", "all"])
def test_versions_of_one_artifact_waiting_together_share_one_metadata_write(
        publishes, sandbox_factory, seed_root):
    """While one version holds the artifact's metadata turn, the others finish their files:
    one read and one write of maven-metadata.xml publish them together (whichever versions a
    metadata PUT publishes on AWS), and every version verifies."""
    from migrator_sandbox.codeartifact import Behaviour

    sandbox = sandbox_factory(behaviour=Behaviour(maven_metadata_publishes=publishes))
    releases = greeter_releases(seed_root)

    async def scenario():
        async with make_client(sandbox) as client:
            publisher = make_publisher(Format.MAVEN, client)
            writes, holding = hold_first_metadata_write(publisher)
            recorders = [Recorder() for _ in releases]
            async with anyio.create_task_group() as tg:
                for n, ((version, files), rec) in enumerate(zip(releases, recorders,
                                                                strict=True)):
                    tg.start_soon(publisher.publish, version, files, rec)
                    if n == 0:  # 1.0.0 takes the first turn alone
                        await holding.wait()
            checks = [await client.check_claimed(v) for v, _ in releases]
            return writes, recorders, checks

    writes, recorders, checks = run(scenario)
    assert len(writes) == 2  # three versions, two writes: the first turn, then the rest
    assert listed_in(writes[0]) == {"1.0.0"}
    assert listed_in(writes[1]) == {"1.0.0", "1.1.0", "1.2.0"}  # read back, merged
    assert all(rec.outcomes() == ["published"] * 2 for rec in recorders)
    assert [c.status for c in checks] == ["Published"] * 3
    for (version, files), check in zip(releases, checks, strict=True):
        assert verify_version(version, check, version.assets, files=files).messages() == []


def test_a_failed_shared_metadata_write_fails_every_version_it_was_for(sandbox, seed_root):
    releases = greeter_releases(seed_root)

    async def scenario():
        async with make_client(sandbox) as client:
            publisher = make_publisher(Format.MAVEN, client)
            writes, holding = hold_first_metadata_write(publisher, fail_second=True)
            errors: dict[str, str] = {}

            async def publish(version, files):
                try:
                    await publisher.publish(version, files, Recorder())
                except PublishError as exc:
                    errors[version.version] = f"{exc.retryable}: {exc}"

            async with anyio.create_task_group() as tg:
                for n, (version, files) in enumerate(releases):
                    tg.start_soon(publish, version, files)
                    if n == 0:
                        await holding.wait()
            return writes, errors

    writes, errors = run(scenario)
    assert [listed_in(w) for w in writes] == [{"1.0.0"}, {"1.0.0", "1.1.0", "1.2.0"}]
    assert sorted(errors) == ["1.1.0", "1.2.0"]  # the two the failed write was for
    assert all(e.startswith("True: ") for e in errors.values())  # retryable, both
    # the one whose turn it was has the target's error; the other names that write
    late = max(errors, key=lambda v: len(errors[v]))
    assert errors == {late: f"True: com.acme:greeter: the maven-metadata.xml write that was "
                            f"to list {late} failed (PublishError: HTTP 500 from the target)",
                      ({"1.1.0", "1.2.0"} - {late}).pop(): "True: HTTP 500 from the target"}


def publish_with_the_last_held(sandbox, seed_root: Path, release_on: str) -> tuple:
    """Publish 1.0.0, 1.1.0 and 1.2.0 together, 1.2.0's file PUTs held until `release_on`
    happens: "turn waits" (a metadata turn starts waiting while 1.2.0 still uploads) or
    "first write" (the first maven-metadata.xml PUT is sent). Returns the metadata bodies
    written and the three versions' checks."""
    import migrator.target.maven as maven

    releases = greeter_releases(seed_root)
    release = anyio.Event()

    async def scenario():
        async with make_client(sandbox) as client:
            publisher = make_publisher(Format.MAVEN, client)
            put_file, put, writes = publisher._put_file, publisher._put, []

            async def held_put_file(claimed, folder, spooled, target_version):
                if claimed.version == "1.2.0":
                    await release.wait()
                return await put_file(claimed, folder, spooled, target_version)

            async def counted_put(url, body):
                if url.endswith("greeter/maven-metadata.xml"):
                    writes.append(body)
                    if release_on == "first write":
                        release.set()
                await put(url, body)

            publisher._put_file, publisher._put = held_put_file, counted_put
            async with anyio.create_task_group() as tg:
                for version, files in releases:
                    tg.start_soon(publisher.publish, version, files, Recorder())
            return writes, [await client.check_claimed(v) for v, _ in releases]

    quiet = maven._ArtifactMetadata.quiet

    async def noticed_quiet(state, at_most):
        if release_on == "turn waits" and state.uploading:
            release.set()  # the turn has begun, 1.2.0 still uploading
        await quiet(state, at_most)

    maven._ArtifactMetadata.quiet = noticed_quiet
    try:
        return run(scenario)
    finally:
        maven._ArtifactMetadata.quiet = quiet


def test_the_metadata_turn_waits_for_the_artifacts_versions_still_putting_files(
        sandbox, seed_root):
    """1.2.0's files are still going when another version's metadata turn comes: the turn
    waits for them, and one write lists all three versions."""
    writes, checks = publish_with_the_last_held(sandbox, seed_root, "turn waits")
    assert [listed_in(w) for w in writes] == [{"1.0.0", "1.1.0", "1.2.0"}]
    assert [c.status for c in checks] == ["Published"] * 3


def test_the_metadata_turn_waits_only_so_long(sandbox, seed_root, monkeypatch):
    import migrator.target.maven as maven

    monkeypatch.setattr(maven, "LINGER_SECONDS", 0.05)
    writes, checks = publish_with_the_last_held(sandbox, seed_root, "first write")
    assert "1.2.0" not in listed_in(writes[0])  # that turn did not wait for it
    assert listed_in(writes[-1]) == {"1.0.0", "1.1.0", "1.2.0"}
    assert [c.status for c in checks] == ["Published"] * 3
