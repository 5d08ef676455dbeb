"""Client behaviour (retries, error translation, Retry-After) and format details on the sandbox:
npm source packument + dist-tags + deprecations, the 2 GB npm cap, PyPI metadata fields,
the verification rule's mismatches."""

from __future__ import annotations

import anyio
import httpx
import pytest
from botocore.exceptions import ClientError

from migrator.models import Format, SpooledFile, VersionCheck
from migrator.target import make_publisher
from migrator.target.errors import PublishError, Throttled
from migrator.target.npm import MAX_PUBLISH_BYTES
from migrator.target.pypi import upload_fields
from migrator.verification import verify_version
from migrator_sandbox.codeartifact import FaultConfig, QuotaConfig

from .conftest import SEED, Recorder, claim, make_client
from .test_real_registries import Packuments

pytestmark = pytest.mark.usefixtures("aws_env")


def run(fn):
    import anyio

    return anyio.run(fn)


async def _publish_types_ms(client, source):
    """The seed's three versions of @types/ms published; the npm publisher, for their tags."""
    publisher = make_publisher(Format.NPM, client, source_metadata=source)
    for name in ("ms-0.7.31.tgz", "ms-0.7.34.tgz", "ms-2.1.0.tgz"):
        v, f = claim(Format.NPM, "npm-internal", [f"@types/ms/-/{name}"],
                     target_repo="npm-internal")
        await publisher.publish(v, f, Recorder())
    return publisher


def test_npm_source_packument_then_dist_tags_and_deprecations_on_codeartifact(sandbox):
    source = Packuments({"latest": "0.7.34", "next": "2.1.0"}, {"0.7.31": "old"})

    async def go():
        async with make_client(sandbox) as client:
            publisher = await _publish_types_ms(client, source)
            report = await publisher.restore_dist_tags("npm-internal", "npm-internal",
                                                       "@types/ms")
            endpoint = await client.endpoint("npm-internal", "npm")
            doc = (await client.http.request("GET", endpoint + "@types%2fms",
                                             scheme="bearer")).json()
            described = await client.describe_version("npm-internal", "npm", "types", "ms",
                                                      "0.7.34")
            return report, doc, described

    report, doc, described = run(go)
    assert report.set == {"next": "2.1.0", "latest": "0.7.34"} and not report.skipped
    assert doc["dist-tags"]["latest"] == "0.7.34"
    assert doc["versions"]["0.7.31"]["deprecated"] == "old"
    assert described["status"] == "Published"


def test_npm_dist_tags_go_side_by_side_and_latest_last(sandbox):
    """Every tag but `latest` at once (one round trip, not one per tag), `latest` after them:
    the package's default version moves only once the others are in place."""
    source = Packuments({"latest": "0.7.34", "next": "2.1.0", "beta": "0.7.31",
                         "old": "0.7.31"})

    async def go():
        async with make_client(sandbox) as client:
            publisher = await _publish_types_ms(client, source)
            return await publisher.restore_dist_tags("npm-internal", "npm-internal",
                                                     "@types/ms")

    report = run(go)
    assert list(report.set) == ["next", "beta", "old", "latest"]  # the source's order
    assert report.moved == {"next": "2.1.0", "beta": "0.7.31", "old": "0.7.31",
                            "latest": "0.7.34"}
    log = httpx.get(f"{sandbox.base_url}/_sandbox/requests?entries=1").json()["entries"]
    puts = [e["path"].rsplit("/", 1)[1] for e in sorted(log, key=lambda e: e["seq"])
            if e["operation"] == "npm:DistTagsPut"]
    assert sorted(puts) == ["beta", "latest", "next", "old"] and puts[-1] == "latest"


def test_npm_request_above_2_gb_is_refused_permanently(sandbox):
    v, [f] = claim(Format.NPM, "npm-internal", ["is-number/-/is-number-7.0.0.tgz"],
                   target_repo="npm-internal")
    big = SpooledFile(f.asset, f.path, MAX_PUBLISH_BYTES * 3 // 4, f.hashes)

    async def go():
        async with make_client(sandbox) as client:
            await make_publisher(Format.NPM, client).publish(v, [big], Recorder())

    with pytest.raises(PublishError) as info:
        run(go)
    assert info.value.retryable is False and "2 GB" in str(info.value)
    log = httpx.get(f"{sandbox.base_url}/_sandbox/requests?entries=0").json()
    assert "npm:Publish" not in log["by_operation"]


def test_pypi_upload_carries_twines_fields_read_from_the_file():
    rel = "packages/jaraco-classes/3.4.0/jaraco.classes-3.4.0-py3-none-any.whl"
    path = SEED / "pypi-internal" / rel
    fields = dict(upload_fields(path, path.name, {}))
    assert fields[":action"] == "file_upload" and fields["protocol_version"] == "1"
    assert fields["name"] == "jaraco.classes" and fields["version"] == "3.4.0"
    assert fields["filetype"] == "bdist_wheel" and fields["pyversion"] == "py3"
    assert fields["metadata_version"] and fields["summary"]
    assert len(fields["sha256_digest"]) == 64 and len(fields["blake2_256_digest"]) == 64
    sdist = dict(upload_fields(path.with_name("jaraco.classes-3.4.0.tar.gz"),
                               "jaraco.classes-3.4.0.tar.gz", {}))
    assert sdist["filetype"] == "sdist" and sdist["pyversion"] == "source"


def test_native_5xx_and_resets_are_retried_until_published(sandbox_factory):
    sb = sandbox_factory(faults=FaultConfig(seed=7, error_rate=0.3, reset_rate=0.1,
                                            path_prefix="/maven/"))
    paths = ["com/acme/greeter/1.0.0/greeter-1.0.0.pom",
             "com/acme/greeter/1.0.0/greeter-1.0.0.jar"]

    async def go():
        async with make_client(sb) as client:
            rec = Recorder()
            v, f = claim(Format.MAVEN, "maven-releases", paths, target_repo="maven-releases")
            await make_publisher(Format.MAVEN, client).publish(v, f, rec)
            return rec, await client.check_claimed(v)

    rec, check = run(go)
    assert rec.outcomes() == ["published", "published"] and check.status == "Published"
    log = httpx.get(f"{sb.base_url}/_sandbox/requests?entries=0").json()
    assert sum(int(n) for s, n in log["by_status"].items() if s in ("500", "503", "-1")) > 0


def test_other_4xx_are_not_retried(sandbox):
    async def go():
        async with make_client(sandbox) as client:
            endpoint = await client.endpoint("npm-internal", "npm")
            await client.http.request("PUT", endpoint + "left-pad", scheme="bearer",
                                      content=b"not json")

    with pytest.raises(PublishError) as info:
        run(go)
    assert info.value.status == 400 and info.value.retryable is False
    log = httpx.get(f"{sandbox.base_url}/_sandbox/requests?entries=0").json()
    assert log["by_operation"]["npm:Publish"] == 1


def test_throttling_exception_retry_after_is_honoured(sandbox_factory):
    sb = sandbox_factory(quotas=QuotaConfig(overrides={"ListPackageVersionAssets": 2}))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        import anyio

        slept.append(seconds)
        await anyio.sleep(seconds)

    async def go():
        async with make_client(sb, sleep=sleep) as client:
            v, f = claim(Format.GENERIC, "raw-files", ["releases/1.1.0/greeter-1.1.0-dist.zip"],
                         target_repo="raw-files")
            await make_publisher(Format.GENERIC, client, check_first=False).publish(
                v, f, Recorder())
            return [await client.check_claimed(v) for _ in range(6)]

    checks = run(go)
    assert all(c.status == "Published" for c in checks)
    log = httpx.get(f"{sb.base_url}/_sandbox/requests").json()
    throttled = [e for e in log["entries"] if e["status"] == 429]
    assert throttled, log["by_operation"]
    # Every 429 was waited out for the server's Retry-After (>= 1 s) by our policy, none by
    # botocore's own retries (which ignore Retry-After).
    assert len([s for s in slept if s >= 1.0]) == len(throttled), (slept, throttled)


def test_botocore_errors_are_translated_with_codeartifact_in_the_message(sandbox):
    client = make_client(sandbox)
    throttled = client._translate(ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
         "retryAfterSeconds": "3", "ResponseMetadata": {"HTTPStatusCode": 429}},
        "PublishPackageVersion"), "PublishPackageVersion")
    assert isinstance(throttled, Throttled) and throttled.retry_after == 3.0
    assert "CodeArtifact PublishPackageVersion" in str(throttled)
    denied = client._translate(ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "no"},
         "ResponseMetadata": {"HTTPStatusCode": 403}}, "X"), "GetAuthorizationToken")
    assert type(denied).__name__ == "CredentialsRefused" and denied.retryable is False
    quota = client._translate(ClientError(
        {"Error": {"Code": "ServiceQuotaExceededException", "Message": "150 assets"},
         "ResponseMetadata": {"HTTPStatusCode": 402}}, "X"), "PublishPackageVersion")
    assert isinstance(quota, PublishError) and quota.retryable is False
    internal = client._translate(ClientError(
        {"Error": {"Code": "InternalServerException", "Message": "oops"},
         "ResponseMetadata": {"HTTPStatusCode": 500}}, "X"), "DescribePackageVersion")
    assert internal.retryable is True
    run(client.aclose)


def test_the_verification_rule_reports_every_mismatch_and_ignores_extra_target_assets():
    v, files = claim(Format.MAVEN, "maven-releases",
                     ["com/acme/greeter/1.0.0/greeter-1.0.0.pom",
                      "com/acme/greeter/1.0.0/greeter-1.0.0.jar"], target_repo="r")
    pom, jar = files
    good = {f.asset.filename: {**f.hashes, "size": f.size} for f in files}
    good["maven-metadata.xml"] = {"sha256": "0" * 64, "size": 1}  # the target's own file
    verdict = verify_version(v, VersionCheck("Published", "INTERNAL", good), v.assets,
                             files=files)
    assert verdict.ok and verdict.messages() == []
    bad = dict(good)
    bad[jar.asset.filename] = {**good[jar.asset.filename], "sha256": "f" * 64}
    del bad[pom.asset.filename]
    verdict = verify_version(v, VersionCheck("Unfinished", "EXTERNAL", bad), v.assets,
                             files=files)
    assert not verdict.ok and not verdict.complete
    assert verdict.messages() == [
        "status is Unfinished, expected Published or Unlisted",
        "origin is EXTERNAL, not INTERNAL: the version came from an upstream, not from this "
        "migration",
        "greeter-1.0.0.pom: missing in CodeArtifact",
        f"greeter-1.0.0.jar: sha256: downloaded {jar.hashes['sha256']}, CodeArtifact "
        + "f" * 64,
    ]
    absent = verify_version(v, VersionCheck(None, None), v.assets, files=files)
    assert absent.messages() == ["greeter 1.0.0 is not in CodeArtifact"]


def test_callers_asking_for_one_endpoint_at_once_share_one_request(sandbox):
    async def scenario():
        async with make_client(sandbox) as client:
            urls = []

            async def one():
                urls.append(await client.endpoint("npm-internal", "npm"))

            async with anyio.create_task_group() as tg:
                for _ in range(8):
                    tg.start_soon(one)
            return urls

    urls = run(scenario)
    assert len(set(urls)) == 1 and urls[0].endswith("/")
    assert sandbox.emulator.log.count("GetRepositoryEndpoint") == 1


def test_warm_up_fetches_the_token_and_endpoints_and_leaves_failures_to_the_real_call(
        sandbox):
    from migrator.target.errors import TargetError

    async def scenario():
        async with make_client(sandbox) as client:
            await client.warm_up([("npm-internal", "npm"), ("pypi-internal", "pypi"),
                                  ("npm-internal", "npm"), ("no-such-repo", "npm")])
            before = (sandbox.emulator.log.count("GetAuthorizationToken"),
                      sandbox.emulator.log.count("GetRepositoryEndpoint"))
            await client.endpoint("npm-internal", "npm")
            await client.token()
            after = sandbox.emulator.log.count("GetRepositoryEndpoint")
            with pytest.raises(TargetError, match="no-such-repo"):
                await client.endpoint("no-such-repo", "npm")
            return before, after

    (tokens, endpoints), after = run(scenario)
    assert tokens == 1 and endpoints == 3  # the missing repository was asked once
    assert after == 3  # the warmed answers are used
