"""`python -m migrator_sandbox.serve serve` as a separate process: the JSON line, the
manifest, pre-created repositories, prewarm through the built-in public registry, state kept
across a restart in --data-dir, and a clean stop on SIGTERM.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import select
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest

from .conftest import make_client

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "migrator_sandbox" / "demo_seed"


class Served:
    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "migrator_sandbox.serve", "serve", "--seed", str(SEED), *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.info = self._ready_line(timeout=30)

    def _ready_line(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                if line:
                    return json.loads(line)
            if self.proc.poll() is not None:
                break
        self.stop()
        raise AssertionError(f"no JSON line from serve: {self.proc.stderr.read()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode


@pytest.fixture
def served():
    started: list[Served] = []

    def start(*args: str) -> Served:
        s = Served(*args)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def test_json_line_manifest_precreated_repositories_and_sigterm(served, tmp_path):
    manifest = tmp_path / "manifest.toml"
    s = served("--write-manifest", str(manifest))
    ca = s.info["codeartifact"]
    assert ca["domain"] == "demo" and ca["domain_owner"] == "111122223333"
    assert ca["region"] == "us-east-1" and ca["endpoint_url"].startswith("http://127.0.0.1:")
    env = s.info["env"]
    nexus, art = s.info["nexus"]["url"], s.info["artifactory"]["url"]
    assert httpx.get(f"{nexus}/service/rest/v1/status").status_code == 200
    art_auth = (env["ARTIFACTORY_USERNAME"], env["ARTIFACTORY_PASSWORD"])
    assert httpx.get(f"{art}/api/system/version", auth=art_auth).status_code == 200
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"} <= set(env)
    doc = tomllib.loads(manifest.read_text())
    assert doc["source"]["kind"] == "nexus" and doc["source"]["url"] == s.info["nexus"]["url"]
    assert doc["source"]["username_env"] in env and doc["source"]["password_env"] in env
    assert doc["target"]["endpoint_url"] == ca["endpoint_url"]
    modes = {r["source"]: r["mode"] for r in doc["repositories"]}
    assert modes["maven-releases"] == "copy" and modes["npm-proxy"] == "prewarm"
    assert "npm-all" not in modes and "maven-public" not in modes  # groups are left out
    assert all(r["source"] == r["target"] for r in doc["repositories"])
    client = make_client(ca["endpoint_url"])
    for repo in doc["repositories"]:
        client.describe_repository(domain="demo", repository=repo["target"])
    proxy = client.describe_repository(domain="demo", repository="npm-proxy")["repository"]
    assert proxy["upstreams"] == [{"repositoryName": "npm-store"}]
    store = client.describe_repository(domain="demo", repository="npm-store")["repository"]
    assert store["externalConnections"][0]["externalConnectionName"] == "public:npmjs"
    assert s.stop() == 0


def test_manifest_for_artifactory_source(served, tmp_path):
    manifest = tmp_path / "art.toml"
    s = served("--write-manifest", str(manifest), "--manifest-source", "artifactory",
               "--domain", "other", "--region", "eu-west-1", "--quota-scale", "0.5",
               "--quota", "write=20", "--behaviour", "publish_blocked_status=409",
               "--error-rate", "0.25", "--fault-seed", "3", "--ingest-delay", "180")
    url = s.info["codeartifact"]["endpoint_url"]
    quotas = httpx.get(f"{url}/_sandbox/quotas").json()
    assert quotas == {"enabled": True, "scale": 0.5, "overrides": {"write": 20.0}}
    behaviour = httpx.get(f"{url}/_sandbox/behaviour").json()
    assert behaviour["publish_blocked_status"] == 409 and behaviour["ingest_delay"] == 180
    faults = httpx.get(f"{url}/_sandbox/faults").json()
    assert faults["error_rate"] == 0.25 and faults["seed"] == 3
    httpx.post(f"{url}/_sandbox/faults", json={"error_rate": 0})
    doc = tomllib.loads(manifest.read_text())
    assert doc["source"]["kind"] == "artifactory"
    assert doc["source"]["url"] == s.info["artifactory"]["url"]
    assert doc["source"]["url"].endswith("/artifactory")
    assert doc["target"]["domain"] == "other" and doc["target"]["region"] == "eu-west-1"
    assert s.info["env"]["AWS_DEFAULT_REGION"] == "eu-west-1"
    client = make_client(s.info["codeartifact"]["endpoint_url"])
    client.describe_repository(domain="other", repository="maven-releases")


def test_prewarm_through_public_registry_and_state_survives_restart(served, tmp_path):
    data = tmp_path / "state"
    s = served("--data-dir", str(data))
    url = s.info["codeartifact"]["endpoint_url"]
    client = make_client(url)
    token = client.get_authorization_token(domain="demo")["authorizationToken"]
    auth = {"Authorization": f"Bearer {token}"}
    npm = client.get_repository_endpoint(domain="demo", repository="npm-proxy",
                                         format="npm")["repositoryEndpoint"]
    packument = httpx.get(f"{npm}ms", headers=auth).json()
    tarball = packument["versions"]["2.1.3"]["dist"]["tarball"]
    assert tarball.startswith(npm)  # rewritten to the CodeArtifact repository
    body = httpx.get(tarball, headers=auth).content
    seed_file = SEED / "npm-proxy/ms/-/ms-2.1.3.tgz"
    assert body == seed_file.read_bytes()
    coords = {"domain": "demo", "format": "npm", "package": "ms", "packageVersion": "2.1.3"}
    for repo in ("npm-proxy", "npm-store"):  # retained downstream and at the connection
        desc = client.describe_package_version(repository=repo, **coords)["packageVersion"]
        assert desc["origin"] == {"domainEntryPoint": {"externalConnectionName": "public:npmjs"},
                                  "originType": "EXTERNAL"}
    pkg = client.describe_package(domain="demo", repository="npm-proxy", format="npm",
                                  package="ms")["package"]
    assert pkg["originConfiguration"]["restrictions"] == {"publish": "BLOCK",
                                                          "upstream": "ALLOW"}
    pypi = client.get_repository_endpoint(domain="demo", repository="pypi-proxy",
                                          format="pypi")["repositoryEndpoint"]
    basic = {"Authorization": "Basic " + base64.b64encode(f"aws:{token}".encode()).decode()}
    page = httpx.get(f"{pypi}simple/six/", headers=basic)
    assert page.status_code == 200 and "six-1.16.0-py2.py3-none-any.whl" in page.text
    maven = client.get_repository_endpoint(domain="demo", repository="maven-central",
                                           format="maven")["repositoryEndpoint"]
    jar = httpx.get(f"{maven}commons-cli/commons-cli/1.5.0/commons-cli-1.5.0.jar", headers=basic)
    assert jar.content == (SEED / "maven-central/commons-cli/commons-cli/1.5.0/"
                                  "commons-cli-1.5.0.jar").read_bytes()
    payload = b"kept across restarts"
    client.publish_package_version(
        domain="demo", repository="raw-files", format="generic", namespace="n", package="p",
        packageVersion="1", assetContent=payload, assetName="a",
        assetSHA256=hashlib.sha256(payload).hexdigest())
    log = httpx.get(f"{url}/_sandbox/requests?entries=0").json()
    assert log["by_operation"]["PublishPackageVersion"] == 1
    assert s.stop() == 0

    again = served("--data-dir", str(data))
    client = make_client(again.info["codeartifact"]["endpoint_url"])
    got = client.get_package_version_asset(domain="demo", repository="raw-files",
                                           format="generic", namespace="n", package="p",
                                           packageVersion="1", asset="a")
    assert got["asset"].read() == payload
    desc = client.describe_package_version(repository="npm-proxy", **coords)["packageVersion"]
    assert desc["origin"]["originType"] == "EXTERNAL"


def test_running_async_context_manager():
    import asyncio

    from migrator_sandbox.codeartifact import QuotaConfig
    from migrator_sandbox.serve import ServeOptions, running

    async def scenario() -> int:
        options = ServeOptions(seed=None, sources=False, quotas=QuotaConfig(enabled=False))
        async with running(options) as sb, httpx.AsyncClient() as http:
            resp = await http.get(f"{sb.base_url}/_sandbox/health")
            return resp.status_code

    assert asyncio.run(scenario()) == 200
