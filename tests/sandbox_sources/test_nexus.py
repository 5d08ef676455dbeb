"""The Nexus 3 emulator answers as reference/sources-nexus-artifactory.md §1 says."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from pathlib import Path

import httpx
import pytest

from migrator_sandbox import nexus
from migrator_sandbox.seed_runtime import HOSTILE_PATHS

from .conftest import NEXUS_ADMIN, NEXUS_AUTH, SEED, client, raw_seed

pytestmark = pytest.mark.anyio
API = "/service/rest/v1"
PUBLIC = "https://nexus.public.example"


async def _all(c: httpx.AsyncClient, kind: str, repo: str) -> tuple[list[dict], list[dict]]:
    """Every item of a listing, and the raw pages."""
    items: list[dict] = []
    pages: list[dict] = []
    token = None
    while True:
        params = {"repository": repo}
        if token:
            params["continuationToken"] = token
        r = await c.get(f"{API}/{kind}", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        pages.append(page)
        items += page["items"]
        token = page["continuationToken"]
        if token is None:
            return items, pages


async def test_sql_mode_pages_100_with_hex_tokens_and_a_token_only_on_full_pages(
    tmp_path: Path,
) -> None:
    app = nexus.build_app(raw_seed(tmp_path, 200), mode="sql")
    async with client(app, auth=NEXUS_AUTH) as c:
        items, pages = await _all(c, "assets", "raw-bulk")
    assert [len(p["items"]) for p in pages] == [100, 100, 0]  # exact multiple: empty last page
    assert len({i["path"] for i in items}) == 200
    token = pages[0]["continuationToken"]
    assert re.fullmatch(r"[0-9a-f]+", token)
    # The token is the external id of the page's last item: hex((id * 1327217885) mod 2**32).
    last_id = base64.urlsafe_b64decode(pages[0]["items"][-1]["id"] + "==").decode()
    assert last_id == f"raw-bulk:{token}"
    assert nexus.to_external(1) == "4f1bbcdd" and nexus.to_external(100) == "e6d5c654"
    assert nexus.to_internal("9e3779ba") == 2
    assert all(i["path"].startswith("/") for i in items)


async def test_sql_mode_partial_last_page_has_no_token(tmp_path: Path) -> None:
    app = nexus.build_app(raw_seed(tmp_path, 105), mode="sql")
    async with client(app, auth=NEXUS_AUTH) as c:
        _, pages = await _all(c, "components", "raw-bulk")
    assert [len(p["items"]) for p in pages] == [100, 5]
    assert pages[0]["items"][0]["name"].startswith("/")  # raw component name = full path


async def test_orient_mode_pages_10_opaque_tokens_no_leading_slash(tmp_path: Path) -> None:
    app = nexus.build_app(raw_seed(tmp_path, 20), mode="orient")
    async with client(app, auth=NEXUS_AUTH) as c:
        items, pages = await _all(c, "assets", "raw-bulk")
        # 20 = 2 full pages; Orient gives a token only while more remain: no empty third page.
        assert [len(p["items"]) for p in pages] == [10, 10]
        assert not any(i["path"].startswith("/") for i in items)
        r = await c.get(f"{API}/assets", params={"repository": "raw-bulk",
                                                 "continuationToken": "not-a-token"})
        assert r.status_code == 406


async def test_sql_mode_garbage_token_answers_the_configured_status(tmp_path: Path) -> None:
    for status in (500, 406):
        app = nexus.build_app(raw_seed(tmp_path, 3), mode="sql", sql_bad_token_status=status)
        async with client(app, auth=NEXUS_AUTH) as c:
            r = await c.get(f"{API}/assets", params={"repository": "raw-bulk",
                                                     "continuationToken": "zz-not-hex"})
        assert r.status_code == status


async def test_server_header_auth_and_permissions() -> None:
    app = nexus.build_app(SEED, version="3.60.0-02", edition="OSS")
    async with client(app) as anon:
        r = await anon.get(f"{API}/repositories")
        assert r.status_code == 401 and r.headers["server"] == "Nexus/3.60.0-02 (OSS)"
        r = await anon.get(f"{API}/assets", params={"repository": "raw-files"},
                           auth=("migrator", "wrong"))
        assert r.status_code == 401
        limited = ("limited", "limited-secret")
        r = await anon.get(f"{API}/repositories", auth=limited)
        assert [x["name"] for x in r.json()] == ["raw-files"]
        r = await anon.get(f"{API}/assets", params={"repository": "npm-internal"}, auth=limited)
        assert r.status_code == 403
        r = await anon.get("/repository/npm-internal/left-pad", auth=limited)
        assert r.status_code == 403
        r = await anon.get(f"{API}/assets", auth=limited)
        assert r.status_code == 422 and "repositoryId is required" in r.text
        r = await anon.get(f"{API}/assets", params={"repository": "nope"}, auth=limited)
        assert r.status_code == 404


async def test_anonymous_switch_lets_unauthenticated_reads_in() -> None:
    app = nexus.build_app(SEED, anonymous=True)
    async with client(app) as c:
        assert (await c.get(f"{API}/repositories")).status_code == 200
        r = await c.get(f"{API}/repositorySettings")
        assert r.status_code == 401  # settings always need a real login


async def test_repositories_and_admin_only_settings() -> None:
    app = nexus.build_app(SEED, base_url=PUBLIC)
    async with client(app, auth=NEXUS_AUTH) as c:
        repos = {r["name"]: r for r in (await c.get(f"{API}/repositories")).json()}
        assert repos["npm-proxy"]["attributes"] == {
            "proxy": {"remoteUrl": "https://registry.npmjs.org"}}
        assert repos["npm-all"]["type"] == "group" and "group" not in repos["npm-all"]
        assert repos["maven-releases"]["format"] == "maven2"
        assert repos["raw-files"]["url"] == f"{PUBLIC}/repository/raw-files"
        assert repos["raw-files"]["size"] is None  # the list never fills it
        one = (await c.get(f"{API}/repositories/raw-files")).json()
        assert one["size"] == sum(p.stat().st_size for p in (SEED / "raw-files").rglob("*")
                                  if p.is_file())
        assert (await c.get(f"{API}/repositorySettings")).json() == []  # read-only user
        text = (await c.get(f"{API}/repositories")).text
        assert text.startswith("[ {") or "\n" in text  # pretty-printed
    async with client(app, auth=NEXUS_ADMIN) as c:
        settings = {s["name"]: s for s in (await c.get(f"{API}/repositorySettings")).json()}
    assert settings["maven-public"]["group"]["memberNames"] == [
        "maven-releases", "maven-snapshots", "maven-central"]
    assert settings["maven-snapshots"]["maven"]["versionPolicy"] == "SNAPSHOT"
    assert settings["npm-proxy"]["proxy"]["remoteUrl"] == "https://registry.npmjs.org"


async def test_asset_fields_follow_the_version_and_format() -> None:
    app = nexus.build_app(SEED, mode="sql", base_url=PUBLIC, version="3.70.1-02")
    async with client(app, auth=NEXUS_AUTH) as c:
        assets, _ = await _all(c, "assets", "maven-releases")
        npm_assets, _ = await _all(c, "assets", "npm-internal")
    jar = next(a for a in assets if a["path"] == "/com/acme/greeter/1.0.0/greeter-1.0.0.jar")
    assert list(jar) == ["downloadUrl", "path", "id", "repository", "format", "checksum",
                         "contentType", "lastModified", "lastDownloaded", "uploader",
                         "uploaderIp", "fileSize", "blobCreated", "maven2"]
    assert jar["downloadUrl"] == f"{PUBLIC}/repository/maven-releases{jar['path']}"
    data = (SEED / "maven-releases" / jar["path"][1:]).read_bytes()
    assert jar["checksum"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert jar["fileSize"] == len(data) and jar["lastDownloaded"] is None
    assert jar["maven2"]["extension"] == "jar" and "classifier" not in jar["maven2"]
    # npm on SQL: sha1 + md5 only, so a crawler must hash sha256 itself.
    tgz = next(a for a in npm_assets if a["path"].endswith(".tgz"))
    assert set(tgz["checksum"]) == {"sha1", "md5"}
    # Component-less packuments appear in /assets only.
    assert any(a["path"] == "/@types/ms" for a in npm_assets)

    old = nexus.build_app(SEED, mode="orient", version="3.20.0-04")
    async with client(old, auth=NEXUS_AUTH) as c:
        assets, _ = await _all(c, "assets", "maven-releases")
    assert set(assets[0]) == {"downloadUrl", "path", "id", "repository", "format", "checksum"}
    assert set(assets[0]["checksum"]) == {"sha1", "md5"}


async def test_components_group_maven_snapshots_sidecars_and_classifiers() -> None:
    app = nexus.build_app(SEED, mode="orient")
    async with client(app, auth=NEXUS_AUTH) as c:
        comps, _ = await _all(c, "components", "maven-snapshots")
        assets, _ = await _all(c, "assets", "maven-snapshots")
    versions = sorted(c["version"] for c in comps)
    assert len(versions) == 2 and all(re.fullmatch(r"1\.2\.0-\d{8}\.\d{6}-\d", v)
                                      for v in versions)
    one = comps[0]
    exts = {(a["maven2"].get("classifier"), a["maven2"]["extension"]) for a in one["assets"]}
    assert {(None, "jar"), ("sources", "jar"), (None, "pom"), (None, "jar.sha1")} <= exts
    assert one["assets"][0]["maven2"]["baseVersion"] == "1.2.0-SNAPSHOT"
    metadata = [a for a in assets if a["path"].endswith("maven-metadata.xml")]
    assert len(metadata) == 2 and all("maven2" not in a for a in metadata)


async def test_group_repository_repeats_its_members() -> None:
    app = nexus.build_app(SEED, mode="sql")
    async with client(app, auth=NEXUS_AUTH) as c:
        group, _ = await _all(c, "components", "npm-all")
        internal, _ = await _all(c, "components", "npm-internal")
        proxy, _ = await _all(c, "components", "npm-proxy")
    assert sorted(x["id"] for x in group) == sorted(x["id"] for x in internal + proxy)
    assert {x["repository"] for x in group} == {"npm-internal", "npm-proxy"}


async def test_npm_content_packument_uses_the_base_url_not_the_called_host() -> None:
    app = nexus.build_app(SEED, base_url=PUBLIC)
    async with client(app, base="http://127.0.0.1:8081", auth=NEXUS_AUTH) as c:
        r = await c.get("/repository/npm-internal/@types%2fms")
        doc = r.json()
        assert doc["dist-tags"] == {"latest": "0.7.34", "next": "2.1.0"}
        assert set(doc["versions"]) == {"0.7.31", "0.7.34", "2.1.0"}
        dist = doc["versions"]["2.1.0"]["dist"]
        assert dist["tarball"] == f"{PUBLIC}/repository/npm-internal/@types/ms/-/ms-2.1.0.tgz"
        tgz = await c.get(dist["tarball"].replace(PUBLIC, ""))
        assert hashlib.sha1(tgz.content).hexdigest() == dist["shasum"]
        assert tgz.headers["etag"] == f'"{dist["shasum"]}"' and "last-modified" in tgz.headers
        assert (await c.get("/repository/npm-internal/@types/ms")).json() == doc
        left = (await c.get("/repository/npm-internal/left-pad")).json()
        assert left["versions"]["1.3.0"]["deprecated"] == "use String.prototype.padStart()"
        tags = (await c.get("/repository/npm-internal/-/package/is-number/dist-tags")).json()
        assert tags == {"latest": "7.0.0", "legacy": "6.0.0"}
        assert (await c.get("/repository/npm-internal/is-number/legacy")).json()[
            "version"] == "6.0.0"
        abbreviated = await c.get("/repository/npm-internal/is-number",
                                  headers={"Accept": "application/vnd.npm.install-v1+json"})
        assert "time" not in abbreviated.json()
        assert (await c.get("/repository/npm-internal/no-such-package")).status_code == 404


async def test_pypi_simple_pages_use_md5_for_hosted_and_sha256_for_proxy() -> None:
    app = nexus.build_app(SEED)
    async with client(app, auth=NEXUS_AUTH) as c:
        root = (await c.get("/repository/pypi-internal/simple/")).text
        assert 'href="jaraco-classes/"' in root and 'href="typing-extensions/"' in root
        page = (await c.get("/repository/pypi-internal/simple/jaraco.classes/")).text
        links = re.findall(r'href="([^"]+)"', page)
        assert len(links) == 4 and all("#md5=" in h for h in links)
        href, md5 = links[0].split("#md5=")
        assert href.startswith("../../packages/")
        url = httpx.URL("http://emulator.test/repository/pypi-internal/simple/jaraco-classes/")
        r = await c.get(url.join(href))
        assert r.status_code == 200 and hashlib.md5(r.content).hexdigest() == md5
        proxy = (await c.get("/repository/pypi-proxy/simple/six/")).text
        assert "#sha256=" in proxy and "#md5=" not in proxy
        group = (await c.get("/repository/pypi-all/simple/")).text
        assert "six/" in group and "jaraco-classes/" in group


async def test_maven_content_metadata_and_sidecars() -> None:
    app = nexus.build_app(SEED)
    async with client(app, auth=NEXUS_AUTH) as c:
        meta = await c.get("/repository/maven-central/commons-cli/commons-cli/maven-metadata.xml")
        assert meta.status_code == 200 and b"<version>1.5.0</version>" in meta.content
        jar_path = "/repository/maven-central/commons-cli/commons-cli/1.5.0/commons-cli-1.5.0.jar"
        jar = await c.get(jar_path)
        sha1 = await c.get(jar_path + ".sha1")  # not stored: synthesized (switch)
        assert sha1.text == hashlib.sha1(jar.content).hexdigest()
        head = await c.head(jar_path)
        assert head.status_code == 200 and head.headers["content-length"] == str(len(jar.content))
        assert (await c.get("/repository/maven-releases/com/acme/")).status_code == 404
        group = await c.get("/repository/maven-public/commons-cli/commons-cli/1.5.0/"
                            "commons-cli-1.5.0.pom")
        assert group.status_code == 200
    strict = nexus.build_app(SEED, synthesize_sidecars=False)
    async with client(strict, auth=NEXUS_AUTH) as c:
        assert (await c.get(jar_path + ".sha1")).status_code == 404


async def test_search_pages_50_tokens_bound_to_the_query_and_the_10000_window(
    tmp_path: Path,
) -> None:
    app = nexus.build_app(raw_seed(tmp_path, 120))
    async with client(app, auth=NEXUS_AUTH) as c:
        params = {"repository": "raw-bulk", "sort": "name"}
        r1 = (await c.get(f"{API}/search", params=params)).json()
        assert len(r1["items"]) == 50
        token = r1["continuationToken"]
        start, digest = bytes.fromhex(token).decode().split(":")
        assert start == "50" and re.fullmatch(r"[0-9a-f]{32}", digest)
        r2 = (await c.get(f"{API}/search", params={**params, "continuationToken": token})).json()
        r3 = (await c.get(f"{API}/search", params={**params,
                                                   "continuationToken": r2["continuationToken"]}))
        assert len(r2["items"]) == 50 and len(r3.json()["items"]) == 20
        assert r3.json()["continuationToken"] is None
        names = [i["name"] for i in r1["items"] + r2["items"] + r3.json()["items"]]
        assert names == sorted(names) and len(set(names)) == 120
        other = await c.get(f"{API}/search", params={"repository": "raw-bulk", "sort": "version",
                                                     "continuationToken": token})
        assert other.status_code == 406
        past = f"10000:{digest}".encode().hex()
        r = await c.get(f"{API}/search", params={**params, "continuationToken": past})
        assert r.status_code == 500 and "Result window is too large" in r.text
        assets = (await c.get(f"{API}/search/assets", params=params)).json()
        assert len(assets["items"]) == 50 and "downloadUrl" in assets["items"][0]


async def test_search_filters_on_maven_and_npm_fields() -> None:
    app = nexus.build_app(SEED)
    async with client(app, auth=NEXUS_AUTH) as c:
        r = await c.get(f"{API}/search", params={"maven.groupId": "com.acme",
                                                 "maven.classifier": "sources"})
        repos = {i["repository"] for i in r.json()["items"]}
        assert repos == {"maven-releases", "maven-snapshots"}
        r = await c.get(f"{API}/search", params={"npm.scope": "types"})
        assert {i["version"] for i in r.json()["items"]} == {"0.7.31", "0.7.34", "2.1.0"}


async def test_single_item_endpoints_and_bad_ids() -> None:
    app = nexus.build_app(SEED)
    async with client(app, auth=NEXUS_AUTH) as c:
        assets, _ = await _all(c, "assets", "raw-files")
        one = await c.get(f"{API}/assets/{assets[0]['id']}")
        assert one.json() == assets[0]
        bad = base64.urlsafe_b64encode(b"raw-files:1:2").decode().rstrip("=")
        assert (await c.get(f"{API}/assets/{bad}")).status_code == 422


async def test_corrupt_checksum_switch_lies_about_one_file_only() -> None:
    target = "npm-internal/is-number/-/is-number-7.0.0.tgz"
    app = nexus.build_app(SEED, mode="sql", corrupt_checksum=target)
    async with client(app, auth=NEXUS_AUTH) as c:
        assets, _ = await _all(c, "assets", "npm-internal")
        by_path = {a["path"]: a for a in assets}
        bad = by_path["/is-number/-/is-number-7.0.0.tgz"]
        good = by_path["/is-number/-/is-number-6.0.0.tgz"]
        body = (await c.get("/repository/npm-internal/is-number/-/is-number-7.0.0.tgz")).content
        assert body == (SEED / target).read_bytes()  # the bytes stay right
        assert bad["checksum"]["sha1"] != hashlib.sha1(body).hexdigest()
        good_body = (SEED / "npm-internal/is-number/-/is-number-6.0.0.tgz").read_bytes()
        assert good["checksum"]["sha1"] == hashlib.sha1(good_body).hexdigest()
        doc = (await c.get("/repository/npm-internal/is-number")).json()
        assert doc["versions"]["7.0.0"]["dist"]["shasum"] == bad["checksum"]["sha1"]


async def test_hostile_listing_entries_only_when_switched_on() -> None:
    app = nexus.build_app(SEED, mode="orient")
    async with client(app, auth=NEXUS_AUTH) as c:
        items, _ = await _all(c, "assets", "raw-files")
        assert not {i["path"] for i in items} & set(HOSTILE_PATHS)
        app.state.knobs.hostile_paths = True
        items, _ = await _all(c, "assets", "raw-files")
        assert set(HOSTILE_PATHS) <= {i["path"] for i in items}
        # Never served as content.
        assert (await c.get("/repository/raw-files/..%2f..%2fetc%2fpasswd")).status_code == 404


async def test_request_log_in_process_and_over_http() -> None:
    app = nexus.build_app(SEED)
    async with client(app, auth=NEXUS_AUTH) as c:
        await c.get(f"{API}/assets", params={"repository": "raw-files"})
        await c.get(f"{API}/assets", params={"repository": "raw-files"})
        log = app.state.request_log
        assert [(e.method, e.path, e.query, e.status) for e in log.entries()] == [
            ("GET", f"{API}/assets", "repository=raw-files", 200)] * 2
        assert log.duplicates() == [("GET", f"{API}/assets", "repository=raw-files")]
        over_http = (await c.get("/_sandbox/requests")).json()
        assert len(over_http) == 2 and over_http[0]["status"] == 200
        assert (await c.delete("/_sandbox/requests")).status_code == 204
        assert log.entries() == []


async def test_error_injection_is_seeded_and_reproducible() -> None:
    async def statuses(seed: int) -> list[int]:
        app = nexus.build_app(SEED, error_rate=0.5, seed=seed)
        async with client(app, auth=NEXUS_AUTH) as c:
            return [(await c.get(f"{API}/repositories")).status_code for _ in range(30)]

    first, again = await statuses(7), await statuses(7)
    assert first == again
    assert {s for s in first if s != 200} <= {500, 502, 503} and 200 in first
    assert any(s >= 500 for s in first)


async def test_knobs_change_over_http() -> None:
    app = nexus.build_app(SEED)
    async with client(app, auth=NEXUS_AUTH) as c:
        r = await c.post("/_sandbox/knobs", content=json.dumps({"error_rate": 1.0}))
        assert r.json()["error_rate"] == 1.0
        assert (await c.get(f"{API}/repositories")).status_code >= 500
        bad = await c.post("/_sandbox/knobs", content=json.dumps({"nonsense": 1}))
        assert bad.status_code == 400


async def test_seed_changes_show_up_in_the_next_listing(seed_copy: Path) -> None:
    app = nexus.build_app(seed_copy, mode="sql")
    async with client(app, auth=NEXUS_AUTH) as c:
        before, _ = await _all(c, "assets", "raw-files")
        (seed_copy / "raw-files" / "docs" / "ADDED.txt").write_text("added\n")
        target = seed_copy / "raw-files" / "tools" / "install.sh"
        target.write_text("#!/bin/sh\necho v2\n")
        os.utime(target, (1_800_000_000, 1_800_000_000))
        after, _ = await _all(c, "assets", "raw-files")
    old = {a["path"]: a for a in before}
    new = {a["path"]: a for a in after}
    assert set(new) - set(old) == {"/docs/ADDED.txt"}
    replaced = new["/tools/install.sh"]
    assert replaced["id"] == old["/tools/install.sh"]["id"]  # an updated asset keeps its id
    assert replaced["checksum"]["sha1"] == hashlib.sha1(b"#!/bin/sh\necho v2\n").hexdigest()
    # The new asset sorts after the existing ones: keyset paging of a resumed crawl still works.
    assert after[-1]["path"] == "/docs/ADDED.txt"


async def test_latency_knob_delays_product_requests_only() -> None:
    import time

    # A latency no test could sit out: the control routes must not be delayed at all.
    app = nexus.build_app(SEED, latency=600.0)
    async with client(app, auth=NEXUS_AUTH) as c:
        t0 = time.monotonic()
        await c.post("/_sandbox/knobs", content=json.dumps({"latency": 0.2}))
        assert time.monotonic() - t0 < 60
        t1 = time.monotonic()
        await c.get(f"{API}/repositories")
        assert time.monotonic() - t1 >= 0.2


async def test_proxy_etag_is_not_a_checksum_but_hosted_etag_is_the_sha1() -> None:
    app = nexus.build_app(SEED)
    async with client(app, auth=NEXUS_AUTH) as c:
        proxied = await c.get("/repository/npm-proxy/ms/-/ms-2.1.3.tgz")
        hosted = await c.get("/repository/npm-internal/left-pad/-/left-pad-1.3.0.tgz")
    assert proxied.headers["etag"].strip('"') != hashlib.sha1(proxied.content).hexdigest()
    assert hosted.headers["etag"] == f'"{hashlib.sha1(hosted.content).hexdigest()}"'


async def test_npm_search_and_format_specific_repository_endpoint() -> None:
    app = nexus.build_app(SEED)
    async with client(app, auth=NEXUS_AUTH) as c:
        r = (await c.get("/repository/npm-internal/-/v1/search", params={"text": "pad"})).json()
        assert [o["package"]["name"] for o in r["objects"]] == ["left-pad"] and r["total"] == 1
        r = (await c.get("/repository/npm-all/-/v1/search", params={"size": 2})).json()
        assert len(r["objects"]) == 2 and r["total"] == 5
        url = f"{API}/repositories/maven/hosted/maven-snapshots"
        assert (await c.get(url)).status_code == 403
        admin = (await c.get(url, auth=NEXUS_ADMIN)).json()
        assert admin["maven"]["versionPolicy"] == "SNAPSHOT"
        assert (await c.get(f"{API}/repositories/npm/hosted/maven-snapshots",
                            auth=NEXUS_ADMIN)).status_code == 404


async def test_browse_page_is_html_and_may_be_cut(tmp_path: Path) -> None:
    app = nexus.build_app(SEED)
    async with client(app, auth=NEXUS_AUTH) as c:
        r = await c.get("/service/rest/repository/browse/maven-releases/com/acme")
        assert r.status_code == 303 and r.headers["location"].endswith("/com/acme/")
        page = (await c.get("/service/rest/repository/browse/maven-releases/com/acme/")).text
        assert 'href="greeter/"' in page
    small = nexus.build_app(raw_seed(tmp_path, 30), browse_limit=10)
    async with client(small, auth=NEXUS_AUTH) as c:
        page = (await c.get("/service/rest/repository/browse/raw-bulk/")).text
    assert page.count('href="file-') == 10 and "there may be additional items" in page
