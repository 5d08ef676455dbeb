"""The Artifactory emulator answers as reference/sources-nexus-artifactory.md §2 says."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import anyio
import httpx
import pytest

from migrator_sandbox import artifactory
from migrator_sandbox.seed_runtime import HOSTILE_PATHS

from .conftest import ART_AUTH, ART_TOKEN, SEED, client

pytestmark = pytest.mark.anyio
A = "/artifactory"
BEARER = {"Authorization": f"Bearer {ART_TOKEN}"}


async def aql(c: httpx.AsyncClient, query: str) -> httpx.Response:
    return await c.post(f"{A}/api/search/aql", content=query,
                        headers={"Content-Type": "text/plain"})


async def test_repository_list_types_package_types_and_remote_urls() -> None:
    app = artifactory.build_app(SEED)
    async with client(app, headers=BEARER) as c:
        repos = {r["key"]: r for r in (await c.get(f"{A}/api/repositories")).json()}
        assert repos["maven-releases"]["type"] == "LOCAL"
        assert repos["maven-releases"]["packageType"] == "Maven"
        assert repos["raw-files"]["packageType"] == "Generic"
        assert repos["npm-proxy"] == {"key": "npm-proxy", "type": "REMOTE", "description": "",
                                      "url": "https://registry.npmjs.org", "packageType": "Npm"}
        assert repos["pypi-all"]["type"] == "VIRTUAL"
        assert "npm-proxy-cache" not in repos
        assert repos["npm-internal"]["url"] == "http://emulator.test/artifactory/npm-internal"
        remotes = (await c.get(f"{A}/api/repositories", params={"type": "remote"})).json()
        assert {r["key"] for r in remotes} == {"maven-central", "npm-proxy", "pypi-proxy"}
        npm = (await c.get(f"{A}/api/repositories", params={"packageType": "npm"})).json()
        assert {r["key"] for r in npm} == {"npm-internal", "npm-proxy", "npm-all"}
        assert (await c.get(f"{A}/api/repositories", params={"type": "weird"})).json() == []
        conf = (await c.get(f"{A}/api/repositories/npm-all")).json()
        assert conf["rclass"] == "virtual" and conf["packageType"] == "npm"
        assert conf["repositories"] == ["npm-internal", "npm-proxy"]
        version = (await c.get(f"{A}/api/system/version")).json()
        assert version["version"] and version["addons"]


async def test_file_list_pro_streams_the_tree_and_oss_answers_400() -> None:
    app = artifactory.build_app(SEED, edition="pro")
    async with client(app, headers=BEARER) as c:
        r = await c.get(f"{A}/api/storage/maven-releases?list&deep=1&listFolders=0")
        assert r.status_code == 200
        files = r.json()["files"]
        uris = {f["uri"] for f in files}
        assert "/com/acme/greeter/1.0.0/greeter-1.0.0-sources.jar" in uris
        assert not any(u.endswith((".sha1", ".md5")) for u in uris)  # sidecars are virtual
        jar = next(f for f in files if f["uri"] == "/com/acme/greeter/1.0.0/greeter-1.0.0.jar")
        data = (SEED / "maven-releases/com/acme/greeter/1.0.0/greeter-1.0.0.jar").read_bytes()
        assert jar["size"] == len(data) and isinstance(jar["size"], int)
        assert jar["sha2"] == hashlib.sha256(data).hexdigest() and jar["folder"] is False
        sub = (await c.get(f"{A}/api/storage/maven-releases/com/acme/greeter?list&deep=1"
                           "&listFolders=1")).json()["files"]
        assert {"uri": "/1.0.0", "size": -1} .items() <= next(
            f for f in sub if f["uri"] == "/1.0.0").items()
        bad = await c.get(f"{A}/api/storage/maven-releases?list&deep=true")
        assert bad.status_code == 400
        not_folder = await c.get(f"{A}/api/storage/raw-files/tools/install.sh?list&deep=1")
        assert not_folder.status_code == 400
    oss = artifactory.build_app(SEED, edition="oss")
    async with client(oss, headers=BEARER) as c:
        r = await c.get(f"{A}/api/storage/maven-releases?list&deep=1&listFolders=0")
        assert r.status_code == 400 and r.headers["content-type"].startswith("text/plain")
        assert "only in Artifactory Pro" in r.text
        # AQL works on OSS.
        assert (await aql(c, 'items.find({"repo":"maven-releases"})')).status_code == 200


async def test_folder_info_and_file_info() -> None:
    app = artifactory.build_app(SEED)
    async with client(app, headers=BEARER) as c:
        folder = (await c.get(f"{A}/api/storage/raw-files")).json()
        assert {"uri": "/tools", "folder": True} in folder["children"]
        info = (await c.get(f"{A}/api/storage/npm-proxy-cache/ms/-/ms-2.1.3.tgz")).json()
        assert info["size"] == str((SEED / "npm-proxy/ms/-/ms-2.1.3.tgz").stat().st_size)
        assert info["remoteUrl"] == "https://registry.npmjs.org/ms/-/ms-2.1.3.tgz"
        assert set(info["checksums"]) == {"sha1", "md5", "sha256"}
        jar = (await c.get(f"{A}/api/storage/maven-releases/com/acme/greeter/1.0.0/"
                           "greeter-1.0.0.jar")).json()
        stored = (SEED / "maven-releases/com/acme/greeter/1.0.0/greeter-1.0.0.jar.sha1")
        assert jar["originalChecksums"]["sha1"] == stored.read_text().strip()


async def test_aql_subset_sort_offset_limit_match_gt_and_range(seed_copy: Path) -> None:
    app = artifactory.build_app(seed_copy)
    async with client(app, auth=ART_AUTH) as c:
        q = ('items.find({"repo":"npm-internal","name":{"$match":"*.tgz"}})'
             '.include("repo","path","name","actual_sha1","sha256")'
             '.sort({"$asc":["path","name"]})')
        full = (await aql(c, q)).json()["results"]
        assert len(full) == 7 and [r["name"] for r in full] == [
            r["name"] for r in sorted(full, key=lambda r: (r["path"], r["name"]))]
        assert all("actual_sha1" in r and "created" in r for r in full)  # include adds
        page = (await aql(c, q + ".offset(2).limit(3)")).json()
        assert [r["name"] for r in page["results"]] == [r["name"] for r in full[2:5]]
        assert page["range"] == {"start_pos": 2, "end_pos": 3, "total": 3, "limit": 3}
        desc = (await aql(c, q.replace("$asc", "$desc"))).json()["results"]
        assert [r["name"] for r in desc] == [r["name"] for r in reversed(full)]

        root = (await aql(c, 'items.find({"repo":"raw-files","path":"."})')).json()
        assert root["results"] == []
        folders = (await aql(c, 'items.find({"repo":"raw-files","type":"folder"})')).json()
        assert {r["name"] for r in folders["results"]} == {"docs", "tools", "releases", "1.1.0"}
        assert all(r["type"] == "file" for r in (await aql(
            c, 'items.find({"repo":"raw-files"})')).json()["results"])

        target = seed_copy / "raw-files/docs/RELEASE-NOTES.txt"
        os.utime(target, (2_000_000_000, 2_000_000_000))
        newer = (await aql(c, 'items.find({"repo":"raw-files",'
                              '"modified":{"$gt":"2030-01-01T00:00:00.000Z"}})')).json()
        assert [r["name"] for r in newer["results"]] == ["RELEASE-NOTES.txt"]
        either = (await aql(c, 'items.find({"$or":[{"repo":"raw-files"},'
                               '{"repo":"pypi-proxy-cache"}]})')).json()
        assert {r["repo"] for r in either["results"]} == {"raw-files", "pypi-proxy-cache"}

        assert (await aql(c, "items.find({broken")).status_code == 400
        assert (await aql(c, 'items.find({"repo":"x"})' + " " * 6001)).status_code == 400


async def test_aql_properties_and_include_disables_paging() -> None:
    app = artifactory.build_app(SEED)
    async with client(app, auth=ART_AUTH) as c:
        r = (await aql(c, 'items.find({"repo":"npm-internal","@npm.name":"@types/ms"})'
                          '.include("property.*")')).json()
        assert len(r["results"]) == 3
        props = {p["key"]: p["value"] for p in r["results"][0]["properties"]}
        assert props["npm.name"] == "@types/ms" and props["npm.version"] in (
            "0.7.31", "0.7.34", "2.1.0")
        r = (await aql(c, 'items.find({"repo":"pypi-internal",'
                          '"@pypi.name":{"$match":"jaraco*"}}).include("@pypi.version")')).json()
        assert {p["value"] for row in r["results"] for p in row["properties"]} == {
            "3.3.1", "3.4.0"}
        assert all(p["key"] == "pypi.version" for row in r["results"] for p in row["properties"])
        # With property includes, sort/offset/limit are ignored (they break paging for real).
        r = (await aql(c, 'items.find({"repo":"npm-internal"}).include("property.*")'
                          '.offset(1).limit(2)')).json()
        assert len(r["results"]) == 7
        extra = (await aql(c, 'items.find({"repo":"raw-files","@build.number":"42"})')).json()
        assert [x["name"] for x in extra["results"]] == ["greeter-1.1.0-dist.zip"]


async def test_remote_cache_naming() -> None:
    app = artifactory.build_app(SEED)
    async with client(app, headers=BEARER) as c:
        cache = (await aql(c, 'items.find({"repo":"npm-proxy-cache"})')).json()["results"]
        assert len(cache) == 3
        assert (await aql(c, 'items.find({"repo":"npm-proxy"})')).json()["results"] == []
        r = await c.get(f"{A}/npm-proxy-cache/ms/-/ms-2.1.3.tgz")
        assert r.content == (SEED / "npm-proxy/ms/-/ms-2.1.3.tgz").read_bytes()
        assert (await c.get(f"{A}/npm-proxy/ms/-/ms-2.1.3.tgz")).status_code == 200
    switch = artifactory.build_app(SEED, aql_remote_key_is_cache=True)
    async with client(switch, headers=BEARER) as c:
        assert len((await aql(c, 'items.find({"repo":"npm-proxy"})')).json()["results"]) == 3


async def test_bearer_basic_and_token_as_password() -> None:
    app = artifactory.build_app(SEED)
    url = f"{A}/api/repositories"
    async with client(app) as c:
        r = await c.get(url)
        assert r.status_code == 401 and r.json()["errors"][0]["status"] == 401
        assert (await c.get(url, headers=BEARER)).status_code == 200
        assert (await c.get(url, auth=ART_AUTH)).status_code == 200
        assert (await c.get(url, auth=("migrator", ART_TOKEN))).status_code == 200
        assert (await c.get(url, headers={"Authorization": "Bearer nope"})).status_code == 401
        assert (await c.get(url, auth=("migrator", "nope"))).status_code == 401
        limited = ("limited", "limited-secret")
        assert (await c.get(f"{A}/npm-internal/left-pad/-/left-pad-1.3.0.tgz",
                            auth=limited)).status_code == 403
    # Permission filtering runs after the limit: fewer rows than asked, while more exist.
    async with client(app, auth=limited) as c:
        r = (await aql(c, 'items.find({"type":"file"}).sort({"$asc":["repo"]}).limit(5)')).json()
        assert r["results"] == []
        r = (await aql(c, 'items.find({"type":"file"}).sort({"$desc":["repo"]}).limit(5)')).json()
        assert {x["repo"] for x in r["results"]} == {"raw-files"}
    anon = artifactory.build_app(SEED, anonymous=True)
    async with client(anon) as c:
        assert (await c.get(url)).status_code == 200
        assert (await aql(c, 'items.find({"repo":"raw-files"})')).status_code == 401
        assert (await c.get(f"{A}/api/storage/raw-files?list&deep=1")).status_code == 401


async def test_more_concurrent_aql_than_allowed_gets_429() -> None:
    app = artifactory.build_app(SEED, max_concurrent_aql=2)
    art = app.state.artifactory
    art.aql_hold = anyio.Event()
    statuses: list[int] = []
    async with client(app, headers=BEARER) as c:

        async def run() -> None:
            statuses.append((await aql(c, 'items.find({"repo":"raw-files"})')).status_code)

        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            tg.start_soon(run)
            for _ in range(100_000):  # both hold their slot (checkpoints, not a timed sleep)
                if art.aql_active == 2:
                    break
                await anyio.lowlevel.checkpoint()
            assert art.aql_active == 2
            third = await aql(c, 'items.find({"repo":"raw-files"})')
            assert third.status_code == 429
            art.aql_hold.set()
    assert statuses == [200, 200]
    assert art.aql_active == 0


async def test_content_headers_virtual_sidecars_and_listing() -> None:
    app = artifactory.build_app(SEED)
    path = "maven-releases/com/acme/greeter/1.1.0/greeter-1.1.0-sources.jar"
    data = (SEED / path).read_bytes()
    async with client(app, headers=BEARER) as c:
        r = await c.get(f"{A}/{path}")
        assert r.content == data
        assert r.headers["x-checksum-sha1"] == hashlib.sha1(data).hexdigest()
        assert r.headers["x-checksum-sha256"] == hashlib.sha256(data).hexdigest()
        assert r.headers["x-checksum-md5"] == hashlib.md5(data).hexdigest()
        for algo in ("sha1", "md5", "sha256"):
            side = await c.get(f"{A}/{path}.{algo}")
            assert side.text == hashlib.new(algo, data).hexdigest()
        assert (await c.get(f"{A}/{path}.sha512")).status_code == 404
        listing = await c.get(f"{A}/maven-releases/com/acme/greeter/1.1.0/")
        assert 'href="greeter-1.1.0-sources.jar"' in listing.text
        via_virtual = await c.get(f"{A}/maven-public/commons-cli/commons-cli/1.5.0/"
                                  "commons-cli-1.5.0.pom")
        assert via_virtual.status_code == 200
        meta = await c.get(f"{A}/maven-public/commons-cli/commons-cli/maven-metadata.xml")
        assert b"<version>1.5.0</version>" in meta.content


async def test_npm_and_pypi_client_apis() -> None:
    app = artifactory.build_app(SEED, base_url="https://art.public.example/artifactory")
    async with client(app, headers=BEARER) as c:
        doc = (await c.get(f"{A}/api/npm/npm-all/@types%2fms")).json()
        tarball = doc["versions"]["0.7.31"]["dist"]["tarball"]
        assert tarball.startswith("https://art.public.example/artifactory/api/npm/npm-all/")
        tgz = await c.get(tarball.replace("https://art.public.example", ""))
        assert hashlib.sha1(tgz.content).hexdigest() == doc["versions"]["0.7.31"]["dist"]["shasum"]
        page = (await c.get(f"{A}/api/pypi/pypi-internal/simple/typing_extensions/")).text
        assert page.count("#sha256=") == 2


async def test_corrupt_checksum_and_hostile_entries() -> None:
    target = "raw-files/tools/install.sh"
    app = artifactory.build_app(SEED, corrupt_checksum=[target], hostile_paths=True)
    data = (SEED / target).read_bytes()
    async with client(app, headers=BEARER) as c:
        r = await c.get(f"{A}/{target}")
        assert r.content == data and r.headers["x-checksum-sha1"] != hashlib.sha1(data).hexdigest()
        rows = (await aql(c, 'items.find({"repo":"raw-files"}).include("actual_sha1")')).json()
        names = {(x["path"], x["name"]) for x in rows["results"]}
        for p in HOSTILE_PATHS:
            folder, _, name = p.rpartition("/")
            assert (folder or ".", name) in names
        listed = (await c.get(f"{A}/api/storage/raw-files?list&deep=1")).json()["files"]
        assert any(f["uri"] == "/../../etc/passwd" for f in listed)
        sums = {x["name"]: x["actual_sha1"] for x in rows["results"]}
        assert sums["install.sh"] == r.headers["x-checksum-sha1"]


async def test_request_log_over_http_on_artifactory() -> None:
    app = artifactory.build_app(SEED)
    async with client(app, headers=BEARER) as c:
        await aql(c, 'items.find({"repo":"raw-files"})')
        log = (await c.get("/_sandbox/requests")).json()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("POST", "/artifactory/api/search/aql", 200)]


async def test_download_redirect_to_a_host_that_refuses_forwarded_credentials() -> None:
    app = artifactory.build_app(SEED, download_redirect=True)
    path = "raw-files/tools/install.sh"
    async with client(app, headers=BEARER) as c:
        r = await c.get(f"{A}/{path}")
        assert r.status_code == 302
        location = httpx.URL(r.headers["location"])
        assert location.host != "emulator.test" and "X-Amz-Signature" in str(location)
        # Forwarding the Artifactory credentials to the storage host is refused...
        assert (await c.get(location)).status_code == 400
        # ...without them the pre-signed URL serves the bytes.
        async with client(app) as bare:
            blob = await bare.get(location)
        assert blob.status_code == 200 and blob.content == (SEED / path).read_bytes()
        forged = str(location).replace("X-Amz-Signature=", "X-Amz-Signature=00")
        assert await bare_get(app, forged) == 403
        # httpx drops Authorization on a cross-host redirect, so following just works.
        followed = await c.get(f"{A}/{path}", follow_redirects=True)
        assert followed.content == (SEED / path).read_bytes()
        direct = await c.get(f"{A}/{path}", headers={"X-JFrog-Download-Redirect-To": "None"})
        assert direct.status_code == 200 and "x-checksum-sha1" in direct.headers


async def bare_get(app, url: str) -> int:
    async with client(app) as bare:
        return (await bare.get(url)).status_code


async def test_npm_scoped_layout_switch_moves_local_scoped_tarballs_only() -> None:
    app = artifactory.build_app(SEED, npm_scoped_layout="artifactory")
    async with client(app, headers=BEARER) as c:
        query = 'items.find({"repo":{"$match":"npm-*"},"name":{"$match":"*.tgz"}})'
        rows = (await aql(c, query)).json()["results"]
        paths = {(r["repo"], r["path"], r["name"]) for r in rows}
        assert ("npm-internal", "@types/ms/-/@types", "ms-2.1.0.tgz") in paths
        assert ("npm-proxy-cache", "@isaacs/string-locale-compare/-",
                "string-locale-compare-1.1.0.tgz") in paths
        doc = (await c.get(f"{A}/api/npm/npm-internal/@types%2fms")).json()
        tarball = doc["versions"]["2.1.0"]["dist"]["tarball"]
        assert tarball.endswith("/api/npm/npm-internal/@types/ms/-/@types/ms-2.1.0.tgz")
        body = (await c.get(tarball.replace("http://emulator.test", ""))).content
        assert hashlib.sha1(body).hexdigest() == doc["versions"]["2.1.0"]["dist"]["shasum"]


async def test_storageinfo_configurations_and_the_npm_metadata_folder_switch() -> None:
    app = artifactory.build_app(SEED, npm_metadata_folder=True)
    async with client(app, headers=BEARER) as c:
        summary = {s["repoKey"]: s for s in
                   (await c.get(f"{A}/api/storageinfo")).json()["repositoriesSummaryList"]}
        assert summary["npm-proxy-cache"]["filesCount"] == 3
        assert summary["npm-proxy-cache"]["repoType"] == "CACHE"
        assert summary["raw-files"]["usedSpaceInBytes"] == sum(
            p.stat().st_size for p in (SEED / "raw-files").rglob("*") if p.is_file())
        assert (await c.get(f"{A}/api/repositories/configurations")).status_code == 403
        rows = (await aql(c, 'items.find({"repo":"npm-internal","path":{"$match":".npm*"}})'
                          )).json()["results"]
        assert {f"{r['path']}/{r['name']}" for r in rows} == {
            ".npm/@types/ms/package.json", ".npm/is-number/package.json",
            ".npm/left-pad/package.json"}
    async with client(app, auth=("admin", "password")) as c:
        conf = (await c.get(f"{A}/api/repositories/configurations")).json()
    assert {r["key"] for r in conf["REMOTE"]} == {"maven-central", "npm-proxy", "pypi-proxy"}
    assert all(r["rclass"] == "virtual" for r in conf["VIRTUAL"])
