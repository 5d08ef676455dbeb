"""Quotas (429 + Retry-After), seeded faults, eventual consistency and the request log."""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import math
import time

import httpx
import pytest
from botocore.exceptions import ClientError

from migrator_sandbox.codeartifact import FaultConfig, QuotaConfig
from migrator_sandbox.codeartifact.quotas import Quotas

from .conftest import DOMAIN, FakeClock, make_client


def basic(token: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"aws:{token}".encode()).decode()}


def test_write_quota_window_is_exact_with_an_injected_clock():
    clock = FakeClock(100.0)
    quotas = Quotas(QuotaConfig(), clock=clock)
    keys = quotas.keys_for(None, True, "tok", "127.0.0.1", native=True)
    results = [quotas.admit(keys) for _ in range(300)]
    assert sum(ok for ok, _, _ in results) == 100
    assert {quota for ok, _, quota in results if not ok} == {"write"}
    assert all(0 < retry <= 1.0 for ok, retry, _ in results if not ok)
    clock.now += 1.0
    assert quotas.admit(keys)[0]  # the window moved on
    off = Quotas(QuotaConfig(overrides={"write": 0}), clock=clock)
    assert all(off.admit(keys)[0] for _ in range(300))  # one quota switched off


def test_300_native_puts_at_full_speed_about_100_per_second_accepted(sandbox_factory):
    sb = sandbox_factory(quotas=QuotaConfig())
    sb.emulator.ensure_repository(DOMAIN, "mvn")
    base = sb.emulator.endpoint(sb.base_url, "maven", DOMAIN, "mvn")
    http = httpx.Client(headers=basic(sb.emulator.token()))

    def put(i: int) -> httpx.Response:
        return http.put(f"{base}com/acme/q/1.{i}/q-1.{i}.jar", content=b"%d" % i)

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(put, range(300)))
    elapsed = time.monotonic() - started
    http.close()
    accepted = [r for r in responses if r.status_code in (200, 201)]
    throttled = [r for r in responses if r.status_code == 429]
    assert len(accepted) + len(throttled) == 300
    assert 100 <= len(accepted) <= 100 * (math.ceil(elapsed) + 1)
    assert throttled and all(int(r.headers["Retry-After"]) >= 1 for r in throttled)
    log = httpx.get(f"{sb.base_url}/_sandbox/requests?entries=0").json()
    assert log["by_status"]["429"] == len(throttled)


def test_publish_package_version_quota_gives_throttling_exception(sandbox_factory):
    frozen = FakeClock(50.0)
    sb = sandbox_factory(quotas=QuotaConfig(), monotonic=frozen)
    sb.emulator.ensure_repository(DOMAIN, "gen")
    client = make_client(sb.base_url)
    data = b"x"
    outcomes = []
    for i in range(12):
        try:
            client.publish_package_version(
                domain=DOMAIN, repository="gen", format="generic", namespace="n", package="p",
                packageVersion=str(i), assetContent=data, assetName="a",
                assetSHA256=hashlib.sha256(data).hexdigest())
            outcomes.append("ok")
        except client.exceptions.ThrottlingException as exc:
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 429
            assert exc.response["retryAfterSeconds"] == 1
            outcomes.append("throttled")
    assert outcomes == ["ok"] * 10 + ["throttled"] * 2
    frozen.now += 1.0
    client.publish_package_version(
        domain=DOMAIN, repository="gen", format="generic", namespace="n", package="p",
        packageVersion="late", assetContent=data, assetName="a",
        assetSHA256=hashlib.sha256(data).hexdigest())


def test_scaled_quota(sandbox_factory):
    sb = sandbox_factory(quotas=QuotaConfig(scale=0.05), monotonic=FakeClock())  # 2 tokens/s
    client = make_client(sb.base_url)
    client.get_authorization_token(domain=DOMAIN)
    client.get_authorization_token(domain=DOMAIN)
    with pytest.raises(client.exceptions.ThrottlingException):
        client.get_authorization_token(domain=DOMAIN)


def statuses(sb, n: int) -> list[int]:
    with httpx.Client(headers={"Authorization": "x"}) as http:
        return [http.post(f"{sb.base_url}/v1/domains", json={}).status_code for _ in range(n)]


def test_seeded_faults_replay_identically(sandbox_factory):
    first = statuses(sandbox_factory(faults=FaultConfig(seed=7, error_rate=0.5)), 30)
    again = statuses(sandbox_factory(faults=FaultConfig(seed=7, error_rate=0.5)), 30)
    other = statuses(sandbox_factory(faults=FaultConfig(seed=8, error_rate=0.5)), 30)
    assert first == again and first != other
    assert set(first) == {200, 500}


def test_error_reset_truncate_and_latency_knobs_at_run_time(sandbox):
    client = make_client(sandbox.base_url)
    knobs = f"{sandbox.base_url}/_sandbox/faults"
    assert httpx.post(knobs, json={"error_rate": 1.0}).json()["error_rate"] == 1.0
    with pytest.raises(ClientError) as info:
        client.list_domains()
    assert info.value.response["Error"]["Code"] == "InternalServerException"
    httpx.post(knobs, json={"error_rate": 0.0, "reset_rate": 1.0})
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{sandbox.base_url}/v1/domains", headers={"Authorization": "x"}, json={})
    sandbox.emulator.ensure_repository(DOMAIN, "gen")
    data = b"0123456789" * 1000
    httpx.post(knobs, json={"reset_rate": 0.0})
    client.publish_package_version(
        domain=DOMAIN, repository="gen", format="generic", namespace="n", package="p",
        packageVersion="1", assetContent=data, assetName="a",
        assetSHA256=hashlib.sha256(data).hexdigest())
    httpx.post(knobs, json={"truncate_rate": 1.0})
    url = (f"{sandbox.base_url}/v1/package/version/asset?domain={DOMAIN}&repository=gen"
           "&format=generic&namespace=n&package=p&version=1&asset=a")
    with pytest.raises(httpx.TransportError):
        httpx.get(url, headers={"Authorization": "x"})
    httpx.post(knobs, json={"truncate_rate": 0.0, "latency": 0.3})
    started = time.monotonic()
    assert httpx.get(url, headers={"Authorization": "x"}).content == data
    assert time.monotonic() - started >= 0.3
    assert httpx.post(knobs, json={"nonsense": 1}).status_code == 400


def test_publish_delay_hides_new_versions_from_list_apis(sandbox_factory):
    from migrator_sandbox.codeartifact import Behaviour

    clock = FakeClock()
    sb = sandbox_factory(clock=clock, behaviour=Behaviour(publish_delay=2.0))
    sb.emulator.ensure_repository(DOMAIN, "gen")
    client = make_client(sb.base_url)
    data = b"a"
    client.publish_package_version(
        domain=DOMAIN, repository="gen", format="generic", namespace="n", package="p",
        packageVersion="1", assetContent=data, assetName="a",
        assetSHA256=hashlib.sha256(data).hexdigest())
    coords = {"domain": DOMAIN, "repository": "gen", "format": "generic", "namespace": "n",
              "package": "p"}
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_package_version(**coords, packageVersion="1")
    assert client.list_packages(domain=DOMAIN, repository="gen")["packages"] == []
    clock.now += 2.0
    assert client.describe_package_version(**coords, packageVersion="1")["packageVersion"][
        "status"] == "Published"


def test_request_log_counts_per_operation_and_asset_over_http(sandbox, client, token):
    client.create_repository(domain=DOMAIN, repository="mvn")
    base = sandbox.emulator.endpoint(sandbox.base_url, "maven", DOMAIN, "mvn")
    httpx.delete(f"{sandbox.base_url}/_sandbox/requests")
    for _ in range(2):
        httpx.put(f"{base}com/acme/x/1.0/x-1.0.jar", content=b"jar", headers=basic(token))
    httpx.put(f"{base}com/acme/x/1.0/x-1.0.jar", content=b"other", headers=basic(token))
    log = httpx.get(f"{sandbox.base_url}/_sandbox/requests").json()
    key = f"{DOMAIN}/mvn/maven/com.acme/x/1.0/x-1.0.jar"
    assert log["by_asset"][key] == {"writes": 3, "writes_ok": 2, "reads": 0}
    assert log["by_operation"]["maven:PutAsset"] == 3
    assert [e["status"] for e in log["entries"]][-1] == 409
    later = httpx.get(f"{sandbox.base_url}/_sandbox/requests?since={log['next']}").json()
    assert later["total"] == 0
    assert sandbox.emulator.log.asset_writes()[key] == 2
    data = b"generic"
    client.create_repository(domain=DOMAIN, repository="gen")
    client.publish_package_version(
        domain=DOMAIN, repository="gen", format="generic", namespace="n", package="p",
        packageVersion="1", assetContent=data, assetName="a.bin",
        assetSHA256=hashlib.sha256(data).hexdigest())
    generic_key = f"{DOMAIN}/gen/generic/n/p/1/a.bin"
    assert sandbox.emulator.log.asset_writes()[generic_key] == 1


def test_injected_throttling_is_drawn_from_the_seeded_rng():
    from migrator_sandbox.codeartifact.faults import FaultConfig, Faults

    faults = Faults(FaultConfig(seed=3, throttle_rate=0.5))
    draws = [faults.draw("/v1/package")["throttle"] for _ in range(400)]
    assert 150 < sum(draws) < 250  # about half, reproducibly for one seed
    again = Faults(FaultConfig(seed=3, throttle_rate=0.5))
    assert [again.draw("/v1/package")["throttle"] for _ in range(400)] == draws


@pytest.mark.parametrize(("operation", "limit"), [
    ("list_package_version_assets", 200), ("list_package_versions", 200),
    ("list_packages", 200), ("get_package_version_asset", 50)])
def test_each_read_api_has_its_own_quota(sandbox_factory, operation, limit):
    """ListPackageVersionAssets, ListPackageVersions, ListPackages 200/s and
    GetPackageVersionAsset 50/s (reference §9), each below the 800 reads/s of the account:
    one frozen second answers `limit` calls, then ThrottlingException with Retry-After. At a
    tenth of AWS's rates (`scale`), so the proportions are the ones checked, quickly."""
    frozen = FakeClock(10.0)
    sb = sandbox_factory(quotas=QuotaConfig(scale=0.1), monotonic=frozen)
    sb.emulator.ensure_repository(DOMAIN, "gen")
    client = make_client(sb.base_url)
    data = b"quota"
    coords = {"domain": DOMAIN, "repository": "gen", "format": "generic", "namespace": "n",
              "package": "p"}
    client.publish_package_version(**coords, packageVersion="1", assetContent=data,
                                   assetName="a", assetSHA256=hashlib.sha256(data).hexdigest())
    params = {
        "list_package_version_assets": {**coords, "packageVersion": "1"},
        "list_package_versions": coords,
        "list_packages": {"domain": DOMAIN, "repository": "gen"},
        "get_package_version_asset": {**coords, "packageVersion": "1", "asset": "a"},
    }[operation]
    call = getattr(client, operation)
    for _ in range(limit // 10):
        call(**params)
    with pytest.raises(client.exceptions.ThrottlingException) as info:
        call(**params)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert info.value.response["retryAfterSeconds"] >= 1
    # another read API still has room: the quota is the operation's, not the account's
    client.describe_package_version(**coords, packageVersion="1")
    frozen.now += 1.0
    call(**params)
