"""Upstream search, retention, origin controls, and an external connection backed by a real
Verdaccio on loopback (installed by scripts/deps/codeartifact.sh into .cache/verdaccio)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import socket
import subprocess
import tarfile
import time
from pathlib import Path

import httpx
import pytest

from .conftest import DOMAIN, endpoint

ROOT = Path(__file__).resolve().parents[2]
VERDACCIO = ROOT / ".cache/verdaccio/node_modules/verdaccio/bin/verdaccio"


def tarball(name: str, version: str, text: str) -> bytes:
    manifest = json.dumps({"name": name, "version": version, "main": "index.js"}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for path, data in (("package/package.json", manifest),
                           ("package/index.js", f"module.exports = () => {text!r};\n".encode())):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0)  # same inputs, same bytes


def publish_doc(name: str, version: str, tgz: bytes) -> dict:
    sri = "sha512-" + base64.b64encode(hashlib.sha512(tgz).digest()).decode()
    bare = name.split("/")[-1]
    return {"_id": name, "name": name, "dist-tags": {"latest": version},
            "versions": {version: {"name": name, "version": version, "main": "index.js",
                                   "_id": f"{name}@{version}",
                                   "dist": {"integrity": sri,
                                            "shasum": hashlib.sha1(tgz).hexdigest(),
                                            "tarball": f"http://x/{name}/-/{bare}-{version}.tgz"}}},
            "_attachments": {f"{name}-{version}.tgz": {
                "content_type": "application/octet-stream",
                "data": base64.b64encode(tgz).decode(), "length": len(tgz)}}}


def npm_put(base: str, token: str, name: str, version: str, text: str) -> httpx.Response:
    doc = publish_doc(name, version, tarball(name, version, text))
    return httpx.put(base + name.replace("/", "%2f"), json=doc,
                     headers={"Authorization": f"Bearer {token}"})


def versions(client, repo: str, name: str) -> list[str]:
    out = client.list_package_versions(domain=DOMAIN, repository=repo, format="npm",
                                       package=name)
    return [v["version"] for v in out["versions"]]


def test_depth_first_search_retention_and_not_found_in_intermediate(client, token):
    for name, ups in (("deep", []), ("ra", ["deep"]), ("rb", []), ("app", ["ra", "rb"])):
        client.create_repository(domain=DOMAIN, repository=name,
                                 upstreams=[{"repositoryName": u} for u in ups])
    assert npm_put(endpoint(client, "deep", "npm"), token, "lib", "1.0.0", "deep").status_code \
        == 200
    assert npm_put(endpoint(client, "rb", "npm"), token, "lib", "1.0.0", "b").status_code == 200
    app = endpoint(client, "app", "npm")
    auth = {"Authorization": f"Bearer {token}"}
    doc = httpx.get(app + "lib", headers=auth).json()
    got = httpx.get(doc["versions"]["1.0.0"]["dist"]["tarball"], headers=auth).content
    assert got == tarball("lib", "1.0.0", "deep")  # ra → deep is searched before rb
    assert versions(client, "app", "lib") == ["1.0.0"]  # retained in the requesting repo
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        versions(client, "ra", "lib")  # not in the intermediate repository
    desc = client.describe_package_version(domain=DOMAIN, repository="app", format="npm",
                                           package="lib", packageVersion="1.0.0")
    assert desc["packageVersion"]["origin"] == {
        "domainEntryPoint": {"repositoryName": "deep"}, "originType": "INTERNAL"}


def test_at_most_25_repositories_are_searched(client, token):
    names = [f"chain{i}" for i in range(26)]
    for i in reversed(range(26)):
        ups = [{"repositoryName": names[i + 1]}] if i < 25 else []
        client.create_repository(domain=DOMAIN, repository=names[i], upstreams=ups)
    npm_put(endpoint(client, names[25], "npm"), token, "far", "1.0.0", "far")  # 26th repo
    npm_put(endpoint(client, names[24], "npm"), token, "near", "1.0.0", "near")  # 25th
    auth = {"Authorization": f"Bearer {token}"}
    top = endpoint(client, names[0], "npm")
    assert httpx.get(top + "near", headers=auth).status_code == 200
    assert httpx.get(top + "far", headers=auth).status_code == 404


def test_origin_controls_conflict_and_blocked_upstream(client, token):
    client.create_repository(domain=DOMAIN, repository="up")
    client.create_repository(domain=DOMAIN, repository="down",
                             upstreams=[{"repositoryName": "up"}])
    up, down = endpoint(client, "up", "npm"), endpoint(client, "down", "npm")
    npm_put(up, token, "shared", "1.0.0", "upstream copy")
    # the version is reachable upstream and upstream=ALLOW (no configuration yet): 409
    assert npm_put(down, token, "shared", "1.0.0", "internal copy").status_code == 409
    client.put_package_origin_configuration(
        domain=DOMAIN, repository="down", format="npm", package="shared",
        restrictions={"publish": "ALLOW", "upstream": "BLOCK"})
    auth = {"Authorization": f"Bearer {token}"}
    blocked = httpx.get(down + "shared/-/shared-1.0.0.tgz", headers=auth)
    assert blocked.status_code == 404  # upstream=BLOCK: no upstream fetch
    assert npm_put(down, token, "shared", "1.0.0", "internal copy").status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def verdaccio(tmp_path):
    assert VERDACCIO.exists(), "run scripts/deps/codeartifact.sh first (installs Verdaccio)"
    port = _free_port()
    config = tmp_path / "config.yaml"
    config.write_text(f"""storage: {tmp_path / 'storage'}
auth:
  htpasswd:
    file: {tmp_path / 'htpasswd'}
    max_users: -1
uplinks: {{}}
packages:
  '@*/*': {{access: $all, publish: $all, unpublish: $all}}
  '**': {{access: $all, publish: $all, unpublish: $all}}
listen: 127.0.0.1:{port}
max_body_size: 100mb
log: {{type: stdout, format: pretty, level: warn}}
web: {{enable: false}}
""")
    log = open(tmp_path / "verdaccio.log", "w")  # noqa: SIM115 (closed at teardown)
    proc = subprocess.Popen(["node", str(VERDACCIO), "--config", str(config)], stdout=log,
                            stderr=subprocess.STDOUT, env={**os.environ})
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "-/ping").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, (tmp_path / "verdaccio.log").read_text()
            time.sleep(0.05)
        else:
            raise AssertionError("Verdaccio did not answer /-/ping")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.realserver
def test_npm_install_through_external_connection_to_verdaccio(sandbox_factory, verdaccio,
                                                              tmp_path):
    from .conftest import make_client

    tgz = tarball("@public/left", "2.0.0", "from the public registry")
    doc = publish_doc("@public/left", "2.0.0", tgz)
    resp = httpx.put(verdaccio + "@public%2fleft", json=doc,
                     headers={"Authorization": "Bearer dummy"})
    assert resp.status_code in (200, 201), resp.text
    sb = sandbox_factory(external_connections={"public:npmjs": verdaccio})
    sb.emulator.ensure_domain(DOMAIN)
    client = make_client(sb.base_url)
    client.create_repository(domain=DOMAIN, repository="npm-store")
    client.associate_external_connection(domain=DOMAIN, repository="npm-store",
                                         externalConnection="public:npmjs")
    client.create_repository(domain=DOMAIN, repository="app",
                             upstreams=[{"repositoryName": "npm-store"}])
    token = client.get_authorization_token(domain=DOMAIN)["authorizationToken"]
    registry = endpoint(client, "app", "npm")
    npmrc = tmp_path / "npmrc"
    npmrc.write_text(f"//{registry.split('://', 1)[1]}:_authToken={token}\n")
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / "package.json").write_text('{"name": "c", "version": "1.0.0", "private": true}')
    proc = subprocess.run(
        ["npm", "install", "--registry", registry, "--userconfig", str(npmrc), "--cache",
         str(tmp_path / "cache"), "--no-audit", "--no-fund", "@public/left@2.0.0"],
        cwd=consumer, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    installed = consumer / "node_modules/@public/left/index.js"
    assert "from the public registry" in installed.read_text()
    for repo in ("app", "npm-store"):
        desc = client.describe_package_version(domain=DOMAIN, repository=repo, format="npm",
                                               namespace="public", package="left",
                                               packageVersion="2.0.0")["packageVersion"]
        assert desc["origin"] == {
            "domainEntryPoint": {"externalConnectionName": "public:npmjs"},
            "originType": "EXTERNAL"}
    assets = client.list_package_version_assets(
        domain=DOMAIN, repository="app", format="npm", namespace="public", package="left",
        packageVersion="2.0.0")["assets"]
    assert assets[0]["hashes"]["SHA-512"] == hashlib.sha512(tgz).hexdigest()
    # publishing the same version internally now conflicts (it exists upstream, upstream=ALLOW)
    assert npm_put(registry, token, "@public/left", "2.0.0", "internal").status_code == 409


def test_ingest_delay_hides_retained_versions_from_list_apis(sandbox_factory):
    from migrator_sandbox.codeartifact import Behaviour

    from .conftest import FakeClock, make_client

    clock = FakeClock()
    sb = sandbox_factory(clock=clock, behaviour=Behaviour(ingest_delay=180.0))
    sb.emulator.ensure_repository(DOMAIN, "store")
    sb.emulator.ensure_repository(DOMAIN, "app", upstreams=["store"])
    client = make_client(sb.base_url)
    token = client.get_authorization_token(domain=DOMAIN)["authorizationToken"]
    npm_put(endpoint(client, "store", "npm"), token, "slow", "1.0.0", "x")
    auth = {"Authorization": f"Bearer {token}"}
    app = endpoint(client, "app", "npm")
    assert httpx.get(app + "slow/-/slow-1.0.0.tgz", headers=auth).status_code == 200
    assert client.list_packages(domain=DOMAIN, repository="app")["packages"] == []
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_package_version(domain=DOMAIN, repository="app", format="npm",
                                        package="slow", packageVersion="1.0.0")
    clock.now += 180
    assert versions(client, "app", "slow") == ["1.0.0"]


def test_package_group_blocks_internal_upstream(client, token):
    client.create_repository(domain=DOMAIN, repository="store")
    client.create_repository(domain=DOMAIN, repository="app",
                             upstreams=[{"repositoryName": "store"}])
    npm_put(endpoint(client, "store", "npm"), token, "walled", "1.0.0", "x")
    client.create_package_group(domain=DOMAIN, packageGroup="/npm//walled$")
    client.update_package_group_origin_configuration(
        domain=DOMAIN, packageGroup="/npm//walled$",
        restrictions={"INTERNAL_UPSTREAM": "ALLOW_SPECIFIC_REPOSITORIES"},
        addAllowedRepositories=[{"originRestrictionType": "INTERNAL_UPSTREAM",
                                 "repositoryName": "other"}])
    auth = {"Authorization": f"Bearer {token}"}
    app = endpoint(client, "app", "npm")
    assert httpx.get(app + "walled/-/walled-1.0.0.tgz", headers=auth).status_code == 404
    client.update_package_group_origin_configuration(
        domain=DOMAIN, packageGroup="/npm//walled$",
        addAllowedRepositories=[{"originRestrictionType": "INTERNAL_UPSTREAM",
                                 "repositoryName": "store"}])
    assert httpx.get(app + "walled/-/walled-1.0.0.tgz", headers=auth).status_code == 200
    allowed = client.list_allowed_repositories_for_group(
        domain=DOMAIN, packageGroup="/npm//walled$", originRestrictionType="INTERNAL_UPSTREAM")
    assert allowed["allowedRepositories"] == ["other", "store"]


def test_npm_deprecate_and_dependencies(client, token):
    client.create_repository(domain=DOMAIN, repository="npmrepo")
    base = endpoint(client, "npmrepo", "npm")
    tgz = tarball("dep", "1.0.0", "x")
    doc = publish_doc("dep", "1.0.0", tgz)
    doc["versions"]["1.0.0"]["dependencies"] = {"@types/node": "^20", "ms": "2"}
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.put(base + "dep", json=doc, headers=auth).status_code == 200
    packument = httpx.get(base + "dep", headers=auth).json()
    packument["versions"]["1.0.0"]["deprecated"] = "use something else"
    assert httpx.put(base + "dep", json=packument, headers=auth).status_code == 200
    again = httpx.get(base + "dep", headers=auth).json()
    assert again["versions"]["1.0.0"]["deprecated"] == "use something else"
    deps = client.list_package_version_dependencies(
        domain=DOMAIN, repository="npmrepo", format="npm", package="dep",
        packageVersion="1.0.0")["dependencies"]
    assert {"namespace": "types", "package": "node", "versionRequirement": "^20",
            "dependencyType": "regular"} in deps
