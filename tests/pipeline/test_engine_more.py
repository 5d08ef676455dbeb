"""Pre-warm, npm finalize, read-only verify, summaries, progress and download edge cases."""

from __future__ import annotations

import httpx
import pytest

from migrator.errors import SourceAuthError, SourceError
from migrator.models import AssetKind, Coordinates, DiscoveredAsset, Format, RepoType
from migrator.pipeline.finalize import finalize_npm
from migrator.pipeline.progress import Progress
from migrator.pipeline.stats import Stats, summarise
from migrator.pipeline.verify import verify_state
from migrator.sources.download import ChecksumMismatch, check_against_source, download_to
from migrator.state import status as st

from .conftest import digests

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


JAR = b"jar" * 100


def add_npm(world, name: str, version: str, data: bytes, *, repo: str = "npm-internal",
            mode: str = "copy") -> None:
    if repo not in world.repo_ids:
        world.repo_ids[repo] = world.queue.upsert_repository(
            source=repo, target=repo, format=Format.NPM,
            repo_type=RepoType.HOSTED if mode == "copy" else RepoType.PROXY, mode=mode)
    scope, _, pkg = name[1:].partition("/") if name.startswith("@") else ("", "", name)
    c = Coordinates(Format.NPM, scope, pkg, version)
    path = f"{name}/-/{pkg}-{version}.tgz"
    world.source.files[path] = data
    world.queue.record_page(world.repo_ids[repo], [(DiscoveredAsset(
        path=path, size=len(data), checksums={"sha1": digests(data)["sha1"]}, coordinates=c,
        kind=AssetKind.ARTIFACT), None)], cursor=None, done=True)


async def test_prewarm_requests_then_confirms_ingested(world):
    add_npm(world, "ms", "2.1.3", b"tgz", repo="npm-proxy", mode="prewarm")
    await world.engine().run()
    assert world.statuses() == {st.INGESTED: 1}
    assert world.target.requested == ["ms/-/ms-2.1.3.tgz"]
    assert world.target.publish_calls == []


async def test_prewarm_shadowed_by_an_internal_version_is_blocked(world):
    add_npm(world, "ms", "2.1.3", b"tgz", repo="npm-proxy", mode="prewarm")
    from .conftest import Stored

    world.target.versions[("npm-proxy", "", "ms", "2.1.3")] = Stored(origin="INTERNAL")
    await world.engine().run()
    assert world.statuses() == {st.BLOCKED_BY_ORIGIN_CONTROL: 1}
    reason = world.queue.conn.execute("SELECT reason FROM assets").fetchone()[0]
    assert "origin is INTERNAL" in reason


async def test_npm_dist_tags_restored_once_per_finished_package(world):
    add_npm(world, "@types/ms", "0.7.34", b"a")
    add_npm(world, "@types/ms", "2.1.0", b"b")
    engine = world.engine()
    await engine.run()
    done = await finalize_npm(world.queue, world.target, engine.repository_ids)
    assert list(done) == ["npm-internal/@types/ms"]
    assert world.target.restored == [("npm-internal", "npm-internal", "@types/ms")]
    again = await finalize_npm(world.queue, world.target, engine.repository_ids)
    assert again == {} and len(world.target.restored) == 1
    # a new version of the package: restored again once it is done
    add_npm(world, "@types/ms", "2.2.0", b"c")
    await world.engine().run()
    await finalize_npm(world.queue, world.target, engine.repository_ids)
    assert len(world.target.restored) == 2


async def test_packages_are_finalized_side_by_side_and_a_failure_stays_their_own(world):
    """Each package's restore is a few round trips one after the other: packages go at
    once (so a distant target costs one package's round trips, not all of them in a row),
    and one that fails is reported without stopping the others or being recorded."""
    import anyio

    for name in ("a", "b", "c", "broken"):
        add_npm(world, name, "1.0.0", name.encode())
    engine = world.engine()
    await engine.run()
    both_in = anyio.Event()
    inside = 0

    async def restore(target, source, name):
        nonlocal inside
        inside += 1
        if inside >= 2:
            both_in.set()
        with anyio.fail_after(5):  # a guard against a hang, not a speed claim
            await both_in.wait()
        inside -= 1
        if name == "broken":
            raise RuntimeError("HTTP 500")
        return {"set": {"latest": "1.0.0"}}

    world.target.restore_npm = restore
    done = await finalize_npm(world.queue, world.target, engine.repository_ids)
    assert list(done) == [f"npm-internal/{n}" for n in ("a", "b", "broken", "c")]
    assert done["npm-internal/broken"] == {"error": "HTTP 500"}
    assert done["npm-internal/a"] == {"set": {"latest": "1.0.0"}}
    again = await finalize_npm(world.queue, world.target, engine.repository_ids)
    assert list(again) == ["npm-internal/broken"]  # the failed one only


async def test_an_npm_package_is_restored_as_it_settles_while_the_run_goes_on(world):
    """Its dist-tags need not wait for the rest of the run: here a Maven version is still
    being published when the npm package's tags are restored; the closing pass then skips
    the package (its fingerprint)."""
    import anyio

    from migrator.pipeline.finalize import FinalizeAsSettled

    add_npm(world, "a", "1.0.0", b"a")
    world.add_maven("com.acme", "slow", "1.0", {"slow-1.0.jar": JAR})
    release, restored = anyio.Event(), anyio.Event()

    async def before_publish(v, files):
        if v.package == "slow":
            await release.wait()

    async def restore(target, source, name):
        world.target.restored.append((target, source, name))
        restored.set()
        return {"set": {"latest": "1.0.0"}}

    world.target.before_publish = before_publish
    world.target.restore_npm = restore
    engine = world.engine()
    eager = FinalizeAsSettled(world.queue, world.target, engine.repository_ids)
    engine.on_settled = eager.settled

    async def run_then_stop():
        try:
            await engine.run()
        finally:
            eager.stop()

    async with anyio.create_task_group() as tg:
        tg.start_soon(eager.run)
        tg.start_soon(run_then_stop)
        with anyio.fail_after(10):  # a guard against a hang, not a speed claim
            await restored.wait()
        held = world.queue.conn.execute(
            "SELECT status FROM versions WHERE package = 'slow'").fetchone()[0]
        assert held == st.CLAIMED  # the run is still publishing it
        release.set()
    assert world.statuses("versions") == {st.VERIFIED: 2}
    assert eager.results == {"npm-internal/a": {"set": {"latest": "1.0.0"}}}
    assert await finalize_npm(world.queue, world.target, engine.repository_ids) == {}
    assert world.target.restored == [("npm-internal", "npm-internal", "a")]


async def test_once_nothing_is_left_to_publish_the_last_versions_are_verified_at_once(world):
    """`verify_after` lets the target's reads catch up while other work goes on; at the end
    of a run there is none, and waiting would only lengthen it."""
    import anyio

    world.add_maven("com.acme", "lib", "1.0", {"lib-1.0.jar": JAR})
    add_npm(world, "b", "1.0.0", b"b")
    with anyio.fail_after(10):  # without it: 60 s before the first verification
        await world.engine(verify_after=60.0).run()
    assert world.statuses("versions") == {st.VERIFIED: 2}


async def test_unfinished_package_is_not_finalized(world):
    add_npm(world, "left-pad", "1.2.0", b"a")
    done = await finalize_npm(world.queue, world.target, list(world.repo_ids.values()))
    assert done == {} and world.target.restored == []


async def test_verify_reports_drift_and_changes_nothing(world):
    world.add_maven("com.acme", "a", "1.0", {"a-1.0.jar": JAR, "a-1.0.pom": b"<p/>"})
    await world.engine().run()
    clean = await verify_state(world.queue, world.target)
    assert clean.exit_code == 0 and clean.versions == 1 and clean.assets == 2
    stored = world.target.versions[("maven-releases", "com.acme", "a", "1.0")]
    stored.assets["a-1.0.jar"]["sha256"] = "e" * 64
    before = world.queue.conn.execute("SELECT status, updated_at FROM assets").fetchall()
    report = await verify_state(world.queue, world.target)
    assert report.exit_code == 1
    assert [d["asset"] for d in report.drift] == ["a-1.0.jar"]
    assert "e" * 64 in report.drift[0]["problem"]
    assert world.queue.conn.execute("SELECT status, updated_at FROM assets").fetchall() == before
    del world.target.versions[("maven-releases", "com.acme", "a", "1.0")]
    gone = await verify_state(world.queue, world.target)
    assert [d["problem"] for d in gone.drift] == ["a 1.0 is not in CodeArtifact"]


async def test_summary_adds_up_and_exit_codes(world):
    world.add_maven("com.acme", "a", "1.0", {"a-1.0.jar": JAR})
    world.add_maven("com.acme", "b", "1.0", {"b-1.0.jar": JAR + b"x"},
                    checksums={"b-1.0.jar": {"md5": "0" * 32}})
    world.queue.record_page(world.repo_ids["maven-releases"], [(DiscoveredAsset(
        path="com/acme/a/maven-metadata.xml", size=3, checksums={}, coordinates=None,
        kind=AssetKind.METADATA), "regenerated")], cursor=None, done=True)
    engine = world.engine()
    await engine.run()
    s = summarise(world.queue, engine.repository_ids, engine.stats)
    assert s.assets == {"verified": 1, "failed_permanent": 1, "excluded": 1}
    assert s.planned == 3 and s.exit_code == 1
    text = s.render()
    assert "TOTAL" in text and "b-1.0.jar" in text
    assert s.as_dict()["this_run"]["published"] == 1


def test_stats_add_up():
    assert (Stats(published=2, bytes_downloaded=5) + Stats(published=1, verified=3)
            == Stats(published=3, verified=3, bytes_downloaded=5))


async def test_progress_silent_when_disabled(world, capsys):
    world.add_maven("com.acme", "a", "1.0", {"a-1.0.jar": JAR})
    quiet = Progress(1, enabled=False)
    await world.engine(progress=quiet).run()
    quiet.close()
    assert quiet.bar is None and world.statuses() == {st.VERIFIED: 1}
    assert capsys.readouterr() == ("", "")


async def test_progress_bars_show_final_assets_bytes_and_failures(world, capsys):
    """The bars (tqdm on stderr, captured) count assets published and verified, the bytes
    downloaded and the failed versions, as the engine commits them."""
    big = b"j" * 1_500_000
    world.add_maven("com.acme", "a", "1.0", {"a-1.0.jar": big, "a-1.0.pom": b"<project/>"})
    world.add_maven("com.acme", "b", "1.0", {"b-1.0.jar": JAR},
                    checksums={"b-1.0.jar": {"md5": "0" * 32}})  # refused: failed for good
    bar = Progress(3, 3, enabled=True)
    await world.engine(progress=bar).run()
    bar.close()
    assert world.statuses() == {st.VERIFIED: 2, st.FAILED_PERMANENT: 1}
    err = capsys.readouterr().err
    frames = err.replace("\n", "\r").split("\r")
    published = [f for f in frames if f.startswith("published:")][-1]
    verified = [f for f in frames if f.startswith("verified :")][-1]
    # a's 2 assets published and verified, b's jar refused (never published); 1.5 MB + 10
    # bytes downloaded (b's bytes were refused); 1 failed
    assert "2/3" in published and "2/3" in verified, (published, verified)
    assert "1.5 MB, 1 failed" in published, published
    assert bar.bytes == len(big) + len(b"<project/>") and bar.failures == 1


def test_checksum_check_names_both_values():
    from migrator.models import ClaimedAsset

    a = ClaimedAsset(id=1, path="x/y.jar", filename="y.jar", kind="artifact", size=3,
                     status="discovered", source_hashes={"sha256": "1" * 64},
                     downloaded_hashes={}, target_hashes={}, extra={})
    with pytest.raises(ChecksumMismatch) as err:
        check_against_source(a, 4, digests(b"abcd"))
    msg = str(err.value)
    assert "size: source says 3, downloaded 4" in msg and "1" * 64 in msg
    assert digests(b"abcd")["sha256"] in msg and err.value.retryable is False


async def test_download_refusals(tmp_path):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401 if "secret" in request.url.path else 404)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler),
                                 base_url="http://s") as client:
        with pytest.raises(SourceAuthError):
            await download_to(client, "http://s/secret", tmp_path / "f")
        with pytest.raises(SourceError) as err:
            await download_to(client, "http://s/gone", tmp_path / "f")
        assert err.value.retryable is False and "HTTP 404" in str(err.value)


def test_the_manifest_stored_in_the_state_round_trips(tmp_path):
    from migrator.errors import StateError
    from migrator.manifest import parse_manifest
    from migrator.pipeline.plan import remember_manifest, stored_manifest
    from migrator.state import WorkQueue

    text = (
        '[source]\nkind = "nexus"\nurl = "http://n"\n'
        '[target]\ndomain = "demo"\ndomain_owner = "111122223333"\nregion = "us-east-1"\n'
        '[[repositories]]\nsource = "aa"\ntarget = "aa"\n')
    with WorkQueue.open(tmp_path / "s.sqlite") as q:
        with pytest.raises(StateError, match="holds no manifest"):
            stored_manifest(q)
        assert remember_manifest(q, parse_manifest(text, tmp_path / "x.toml")) is True
        assert remember_manifest(q, parse_manifest(text, tmp_path / "x.toml")) is False
        m = stored_manifest(q)
    assert m.text == text and m.repositories[0].source == "aa"
    assert m.path == (tmp_path / "x.toml").resolve()


async def test_download_follows_a_redirect_without_credentials_to_another_host(tmp_path):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "source":
            return httpx.Response(302, headers={"Location": "http://storage/blob?sig=1"})
        return httpx.Response(200, content=JAR)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://source",
                                 auth=httpx.BasicAuth("u", "secret")) as client:
        size, got = await download_to(client, "http://source/repo/a.jar", tmp_path / "f")
    assert size == len(JAR) and got == digests(JAR)
    assert "authorization" in seen[0].headers
    assert "authorization" not in seen[1].headers


async def test_prewarm_not_ingested_yet_is_retried_then_confirmed(world):
    add_npm(world, "ms", "2.0.0", b"tgz", repo="npm-proxy", mode="prewarm")
    world.target.invisible_checks = 8  # ingestion is slow: several confirm claims see nothing
    await world.engine(confirm_timeout=0.03, max_attempts=10).run()
    assert world.statuses() == {st.INGESTED: 1}
    assert len(world.target.requested) >= 2  # the GET is repeated on a retry


async def test_prewarm_never_ingested_ends_failed_permanent(world):
    add_npm(world, "ms", "2.0.0", b"tgz", repo="npm-proxy", mode="prewarm")
    world.target.invisible_checks = 10**6
    await world.engine(confirm_timeout=0.02, max_attempts=3).run()
    assert world.statuses() == {st.FAILED_PERMANENT: 1}
    reason = world.queue.conn.execute("SELECT reason FROM assets").fetchone()[0]
    assert "not ingested" in reason and "gave up after 3 attempts" in reason
