"""The native Maven, npm and PyPI endpoints over raw HTTP, as the reference describes them."""

from __future__ import annotations

import base64
import hashlib
import json
import os

import httpx
import pytest

from .conftest import DOMAIN, FakeClock, endpoint

POM = b"""<project><modelVersion>4.0.0</modelVersion><groupId>com.acme</groupId>
<artifactId>demo</artifactId><version>1.0.0</version><description>Demo lib</description>
<url>https://acme.example/demo</url>
<licenses><license><name>Apache-2.0</name></license></licenses></project>"""


def auth(token: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"aws:{token}".encode()).decode()}


def metadata(group: str, artifact: str, *versions: str) -> bytes:
    body = "".join(f"<version>{v}</version>" for v in versions)
    return (f"<metadata><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
            f"<versioning><versions>{body}</versions></versioning></metadata>").encode()


@pytest.fixture
def maven(client, token):
    client.create_repository(domain=DOMAIN, repository="mvn")
    base = endpoint(client, "mvn", "maven")
    return httpx.Client(base_url=base, headers=auth(token))


def describe(client, repo, fmt, pkg, version, ns=None):
    return client.describe_package_version(
        domain=DOMAIN, repository=repo, format=fmt, package=pkg, packageVersion=version,
        **({"namespace": ns} if ns else {}))["packageVersion"]


def test_native_auth_401_with_both_challenges(sandbox_factory):
    clock = FakeClock()
    sb = sandbox_factory(clock=clock)
    sb.emulator.ensure_repository(DOMAIN, "mvn")
    url = sb.emulator.endpoint(sb.base_url, "maven", DOMAIN, "mvn") + "com/acme/x/1/x-1.jar"
    resp = httpx.get(url)
    assert resp.status_code == 401
    assert resp.headers.get_list("www-authenticate") == [
        f'Bearer realm="{DOMAIN}/mvn"', f'Basic realm="{DOMAIN}/mvn"']
    token = sb.emulator.token(900)
    assert httpx.get(url, headers=auth(token)).status_code == 404  # authenticated, not there
    assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 404
    clock.now += 901  # the token expires
    assert httpx.get(url, headers=auth(token)).status_code == 401


def test_maven_unfinished_until_metadata_put_and_checksum_rules(client, maven):
    jar, path = b"PK\x03\x04 jar bytes", "com/acme/demo/1.0.0/demo-1.0.0"
    assert maven.put(f"{path}.jar.sha1", content=hashlib.sha1(jar).hexdigest()).status_code \
        == 404  # checksum before its asset
    assert maven.put(f"{path}.jar", content=jar).status_code in (200, 201)
    assert maven.put(f"{path}.pom", content=POM).status_code in (200, 201)
    assert describe(client, "mvn", "maven", "demo", "1.0.0", "com.acme")["status"] == "Unfinished"
    assert maven.get(f"{path}.jar").status_code == 404  # Unfinished: not downloadable
    assert maven.get("com/acme/demo/maven-metadata.xml").status_code == 404
    assert maven.put(f"{path}.jar.sha1", content=hashlib.sha1(jar).hexdigest()).status_code \
        == 200
    assert maven.put(f"{path}.jar.md5",
                     content=hashlib.md5(jar).hexdigest().upper()).status_code == 400
    # the uppercase md5 was a mismatch, so the metadata PUT is refused and nothing publishes
    meta = metadata("com.acme", "demo", "1.0.0")
    assert maven.put("com/acme/demo/maven-metadata.xml", content=meta).status_code == 400
    assert describe(client, "mvn", "maven", "demo", "1.0.0", "com.acme")["status"] == "Unfinished"
    client.update_package_versions_status(domain=DOMAIN, repository="mvn", format="maven",
                                          namespace="com.acme", package="demo",
                                          versions=["1.0.0"], targetStatus="Published")
    desc = describe(client, "mvn", "maven", "demo", "1.0.0", "com.acme")
    assert desc["status"] == "Published" and desc["summary"] == "Demo lib"
    assert desc["licenses"] == [{"name": "Apache-2.0"}]
    assert maven.get(f"{path}.jar").content == jar
    assert maven.get(f"{path}.jar.sha256").text == hashlib.sha256(jar).hexdigest()
    assert maven.get(f"{path}.jar.sha512").text == hashlib.sha512(jar).hexdigest()
    assert maven.put(f"{path}.jar", content=jar).status_code == 200  # identical: fine
    assert maven.put(f"{path}.jar", content=b"other").status_code == 409


def test_maven_metadata_put_publishes_and_get_lists_published_only(client, maven):
    for version in ("1.0.0", "1.1.0"):
        p = f"com/acme/lib/{version}/lib-{version}"
        maven.put(f"{p}.jar", content=version.encode())
        maven.put(f"{p}.pom", content=POM)
    assert maven.put("com/acme/lib/maven-metadata.xml",
                     content=metadata("com.acme", "lib", "1.0.0")).status_code == 200
    assert describe(client, "mvn", "maven", "lib", "1.0.0", "com.acme")["status"] == "Published"
    assert describe(client, "mvn", "maven", "lib", "1.1.0", "com.acme")["status"] == "Unfinished"
    got = maven.get("com/acme/lib/maven-metadata.xml").text
    assert "<version>1.0.0</version>" in got and "1.1.0" not in got
    assert maven.get("com/acme/lib/maven-metadata.xml.sha1").status_code == 200
    missing = maven.put("com/acme/nope/maven-metadata.xml", content=b"<metadata/>")
    assert missing.status_code == 404 and "groupId: 'com.acme'" in missing.text
    assets = client.list_package_version_assets(
        domain=DOMAIN, repository="mvn", format="maven", namespace="com.acme", package="lib",
        packageVersion="1.0.0")["assets"]
    assert sorted(a["name"] for a in assets) == ["lib-1.0.0.jar", "lib-1.0.0.pom"]


def snapshot_statuses(client, package: str = "snap") -> dict[str, str]:
    versions = client.list_package_versions(domain=DOMAIN, repository="mvn", format="maven",
                                            namespace="com.acme", package=package)["versions"]
    return {v["version"]: v["status"] for v in versions}


def build_metadata(build: str) -> bytes:
    stamp, _, number = build.partition("-")
    return (f"<metadata><groupId>com.acme</groupId><artifactId>snap</artifactId>"
            f"<version>1.0-SNAPSHOT</version><versioning><snapshot><timestamp>{stamp}"
            f"</timestamp><buildNumber>{number}</buildNumber></snapshot></versioning>"
            "</metadata>").encode()


def test_maven_snapshot_builds_are_versions_of_their_own(sandbox, client, maven):
    """UG maven-snapshots (the default model): a build's version exists, Unfinished, from its
    first PUT; its version-level metadata makes it Unlisted and X-SNAPSHOT Published with its
    assets; the next build leaves the previous one Unlisted."""
    base = "com/acme/snap/1.0-SNAPSHOT"
    b1, b2 = "20240101.120000-1", "20240102.120000-2"
    assert maven.put(f"{base}/snap-1.0-SNAPSHOT.jar", content=b"x").status_code == 400
    assert maven.put(f"{base}/snap-1.0-{b1}.jar", content=b"build1").status_code == 201
    assert snapshot_statuses(client) == {"1.0-20240101.120000-1": "Unfinished"}
    assert maven.get(f"{base}/snap-1.0-{b1}.jar").status_code == 404  # Unfinished: hidden
    assert maven.put(f"{base}/snap-1.0-{b1}.jar.sha1",
                     content=hashlib.sha1(b"build1").hexdigest().encode()).status_code == 200
    assert maven.put(f"{base}/maven-metadata.xml", content=build_metadata(b1)).status_code == 200
    assert snapshot_statuses(client) == {"1.0-20240101.120000-1": "Unlisted",
                                         "1.0-SNAPSHOT": "Published"}
    assert "<buildNumber>1</buildNumber>" in maven.get(f"{base}/maven-metadata.xml").text
    maven.put(f"{base}/snap-1.0-{b2}.jar", content=b"build2")
    assert snapshot_statuses(client) == {"1.0-20240101.120000-1": "Unlisted",
                                         "1.0-20240102.120000-2": "Unfinished",
                                         "1.0-SNAPSHOT": "Published"}
    # the artifact-level metadata never publishes a build
    maven.put("com/acme/snap/maven-metadata.xml",
              content=metadata("com.acme", "snap", "1.0-SNAPSHOT", "1.0-20240102.120000-2"))
    assert snapshot_statuses(client)["1.0-20240102.120000-2"] == "Unfinished"
    maven.put(f"{base}/maven-metadata.xml", content=build_metadata(b2))
    assert snapshot_statuses(client) == {"1.0-20240101.120000-1": "Unlisted",
                                         "1.0-20240102.120000-2": "Unlisted",
                                         "1.0-SNAPSHOT": "Published"}
    head = client.list_package_version_assets(
        domain=DOMAIN, repository="mvn", format="maven", namespace="com.acme", package="snap",
        packageVersion="1.0-SNAPSHOT")["assets"]
    assert [a["name"] for a in head] == [f"snap-1.0-{b2}.jar"]
    assert "<buildNumber>2</buildNumber>" in maven.get(f"{base}/maven-metadata.xml").text
    assert maven.get(f"{base}/snap-1.0-{b2}.jar").content == b"build2"
    assert maven.get(f"{base}/snap-1.0-{b1}.jar").content == b"build1"  # a particular build
    missing = maven.put("com/acme/snap/2.0-SNAPSHOT/maven-metadata.xml", content=b"<metadata/>")
    assert missing.status_code == 404


def test_maven_snapshots_rolling_model_keeps_the_newest_under_x_snapshot(sandbox, client,
                                                                          maven):
    httpx.post(f"{sandbox.base_url}/_sandbox/behaviour",
               json={"maven_snapshot_model": "rolling"}).raise_for_status()
    base = "com/acme/snap/1.0-SNAPSHOT"
    assert maven.put(f"{base}/snap-1.0-SNAPSHOT.jar", content=b"x").status_code == 400
    maven.put(f"{base}/snap-1.0-20240101.120000-1.jar", content=b"build1")
    assert snapshot_statuses(client) == {"1.0-SNAPSHOT": "Unfinished"}
    assert maven.put(f"{base}/maven-metadata.xml", content=b"<metadata/>").status_code == 200
    assert describe(client, "mvn", "maven", "snap", "1.0-SNAPSHOT", "com.acme")["status"] \
        == "Published"
    assert "<buildNumber>1</buildNumber>" in maven.get(f"{base}/maven-metadata.xml").text
    maven.put(f"{base}/snap-1.0-20240102.120000-2.jar", content=b"build2")
    maven.put(f"{base}/maven-metadata.xml", content=b"<metadata/>")
    assert snapshot_statuses(client) == {"1.0-20240101.120000-1": "Unlisted",
                                         "1.0-SNAPSHOT": "Published"}
    assert maven.get(f"{base}/snap-1.0-20240102.120000-2.jar").content == b"build2"


def test_artifact_metadata_served_generated_or_uploaded(sandbox, client, maven):
    maven.put("com/acme/lib/1.0/lib-1.0.jar", content=b"one")
    maven.put("com/acme/lib/maven-metadata.xml", content=metadata("com.acme", "lib", "1.0"))
    maven.put("com/acme/lib/1.1/lib-1.1.jar", content=b"two")
    uploaded = metadata("com.acme", "lib", "1.1")  # a one-version file
    maven.put("com/acme/lib/maven-metadata.xml", content=uploaded)
    generated = maven.get("com/acme/lib/maven-metadata.xml").text
    assert "<version>1.0</version>" in generated and "<version>1.1</version>" in generated
    httpx.post(f"{sandbox.base_url}/_sandbox/behaviour",
               json={"maven_metadata_served": "uploaded"}).raise_for_status()
    assert maven.get("com/acme/lib/maven-metadata.xml").content == uploaded
    assert maven.get("com/acme/lib/maven-metadata.xml.sha1").text == \
        hashlib.sha1(uploaded).hexdigest()


def npm_document(name: str, version: str, tarball: bytes, tag: str = "latest") -> dict:
    bare = name.split("/")[-1]
    sri = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    return {
        "_id": name, "name": name, "dist-tags": {tag: version},
        "versions": {version: {"name": name, "version": version, "description": "tiny",
                               "license": "MIT", "dependencies": {"ms": "^2.0.0"},
                               "_id": f"{name}@{version}",
                               "dist": {"integrity": sri,
                                        "shasum": hashlib.sha1(tarball).hexdigest(),
                                        "tarball": f"http://x/{name}/-/{bare}-{version}.tgz"}}},
        "_attachments": {f"{name}-{version}.tgz": {
            "content_type": "application/octet-stream",
            "data": base64.b64encode(tarball).decode(), "length": len(tarball)}},
    }


def test_npm_publish_packument_tarball_dist_tags(client, token):
    client.create_repository(domain=DOMAIN, repository="npmrepo")
    base = endpoint(client, "npmrepo", "npm")
    npm = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})
    assert npm.get("-/ping").json() == {}
    tgz = b"\x1f\x8b fake tarball"
    doc = npm_document("@acme/tiny", "1.0.0", tgz)
    assert npm.put("@acme%2ftiny", json=doc).status_code == 200
    assert npm.put("@acme%2ftiny", json=doc).status_code == 409  # versions are immutable
    bad = npm_document("@acme/tiny", "1.0.1", tgz)
    bad["versions"]["1.0.1"]["dist"]["shasum"] = "0" * 40
    assert npm.put("@acme%2ftiny", json=bad).status_code == 400
    packument = npm.get("@acme%2ftiny").json()
    dist = packument["versions"]["1.0.0"]["dist"]
    assert dist["tarball"] == f"{base}@acme/tiny/-/tiny-1.0.0.tgz"
    assert dist["shasum"] == hashlib.sha1(tgz).hexdigest()
    assert packument["dist-tags"] == {"latest": "1.0.0"}
    assert npm.get(dist["tarball"]).content == tgz
    assets = client.list_package_version_assets(
        domain=DOMAIN, repository="npmrepo", format="npm", namespace="acme", package="tiny",
        packageVersion="1.0.0")["assets"]
    assert [a["name"] for a in assets] == ["package.tgz"]
    assert npm.put("@acme%2ftiny", json=npm_document("@acme/tiny", "2.0.0", b"v2",
                                                     tag="next")).status_code == 200
    assert npm.put("-/package/@acme%2ftiny/dist-tags/stable", content=json.dumps("1.0.0"),
                   headers={"Content-Type": "application/json"}).status_code == 200
    tags = npm.get("-/package/@acme%2ftiny/dist-tags").json()
    assert tags == {"latest": "1.0.0", "next": "2.0.0", "stable": "1.0.0"}
    assert npm.delete("-/package/@acme%2ftiny/dist-tags/next").status_code == 200
    assert "next" not in npm.get("-/package/@acme%2ftiny/dist-tags").json()
    assert npm.get("nothing-here").status_code == 404
    versions = client.list_package_versions(domain=DOMAIN, repository="npmrepo", format="npm",
                                            namespace="acme", package="tiny")
    assert versions["defaultDisplayVersion"] == "1.0.0"  # the latest tag


def twine_form(name: str, version: str, filename: str, data: bytes, **extra) -> tuple:
    fields = {":action": "file_upload", "protocol_version": "1", "name": name,
              "version": version, "filetype": "bdist_wheel", "pyversion": "py3",
              "metadata_version": "2.1", "summary": "A tiny package",
              "sha256_digest": hashlib.sha256(data).hexdigest(), **extra}
    return fields, {"content": (filename, data, "application/octet-stream")}


def test_pypi_upload_simple_page_normalisation_and_conflicts(client, token):
    client.create_repository(domain=DOMAIN, repository="py")
    base = endpoint(client, "py", "pypi")
    py = httpx.Client(base_url=base, headers=auth(token))
    wheel = b"wheel bytes"
    data, files = twine_form("Acme_Tiny.Pkg", "1.0.0", "acme_tiny_pkg-1.0.0-py3-none-any.whl",
                             wheel)
    assert py.post("", data=data, files=files).status_code == 200
    assert py.post("", data=data, files=files).status_code == 200  # identical again
    data2, files2 = twine_form("acme-tiny-pkg", "1.0.0",
                               "acme_tiny_pkg-1.0.0-py3-none-any.whl", b"different")
    assert py.post("", data=data2, files=files2).status_code == 409
    bad, bad_files = twine_form("acme-tiny-pkg", "1.0.1", "acme_tiny_pkg-1.0.1.tar.gz", b"s",
                                sha256_digest="0" * 64)
    assert py.post("", data=bad, files=bad_files).status_code == 400
    page = py.get("simple/acme-tiny-pkg/")
    sha = hashlib.sha256(wheel).hexdigest()
    assert page.status_code == 200 and f"#sha256={sha}" in page.text
    assert py.get("simple/Acme_Tiny.Pkg/").status_code == 301
    assert py.get("simple/").status_code == 404  # no root listing on CodeArtifact
    desc = describe(client, "py", "pypi", "acme-tiny-pkg", "1.0.0")
    assert desc["packageName"] == "acme-tiny-pkg" and desc["displayName"] == "Acme_Tiny.Pkg"
    href = page.text.split('href="')[1].split("#")[0]
    assert httpx.get(httpx.URL(page.url).join(href), headers=auth(token)).content == wheel


def test_pypi_upload_that_is_not_well_formed_multipart_is_a_400(client, token):
    client.create_repository(domain=DOMAIN, repository="pybad")
    py = httpx.Client(base_url=endpoint(client, "pybad", "pypi"), headers=auth(token))
    cut = py.post("", content=b'--xyz\r\nContent-Disposition: form-data; name=":action"',
                  headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert cut.status_code == 400
    assert py.post("", content=b"name=x", headers={
        "Content-Type": "application/x-www-form-urlencoded"}).status_code == 400


def test_a_large_pypi_upload_is_parsed_as_it_arrives_and_keeps_its_bytes(client, token):
    # 24 MB through the streaming parser: every byte kept, the digest checked against it.
    client.create_repository(domain=DOMAIN, repository="pybig")
    py = httpx.Client(base_url=endpoint(client, "pybig", "pypi"), headers=auth(token),
                      timeout=120)
    blob = os.urandom(24 << 20)
    data, files = twine_form("big-one", "1.0.0", "big_one-1.0.0-py3-none-any.whl", blob)
    assert py.post("", data=data, files=files).status_code == 200
    page = py.get("simple/big-one/")
    assert f"#sha256={hashlib.sha256(blob).hexdigest()}" in page.text


def test_npm_publish_over_2_gb_is_refused_before_the_body(sandbox, token, client):
    import socket

    client.create_repository(domain=DOMAIN, repository="big")
    url = httpx.URL(endpoint(client, "big", "npm"))
    head = (f"PUT {url.path}huge HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {2 * 1024**3 + 1}\r\n\r\n")
    with socket.create_connection((url.host, url.port), timeout=10) as sock:
        sock.sendall(head.encode())
        answer = sock.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 413")


def test_combined_challenge_switch(sandbox_factory):
    from migrator_sandbox.codeartifact import Behaviour

    sb = sandbox_factory(behaviour=Behaviour(combined_challenge=True))
    sb.emulator.ensure_repository(DOMAIN, "np")
    resp = httpx.get(sb.emulator.endpoint(sb.base_url, "npm", DOMAIN, "np") + "x")
    assert resp.headers.get_list("www-authenticate") == [
        f'Bearer realm="{DOMAIN}/np", Basic realm="{DOMAIN}/np"']


def test_sandbox_clock_expires_tokens(sandbox, client, token):
    client.create_repository(domain=DOMAIN, repository="np")
    url = endpoint(client, "np", "npm") + "-/ping"
    assert httpx.get(url, headers=auth(token)).status_code == 200
    moved = httpx.post(f"{sandbox.base_url}/_sandbox/clock", json={"advance": 43201}).json()
    assert moved["offset"] == 43201
    assert httpx.get(url, headers=auth(token)).status_code == 401
    fresh = client.get_authorization_token(domain=DOMAIN)["authorizationToken"]
    assert httpx.get(url, headers=auth(fresh)).status_code == 200


def test_maven_metadata_as_asset_switch(sandbox_factory):
    from migrator_sandbox.codeartifact import Behaviour

    from .conftest import make_client

    sb = sandbox_factory(behaviour=Behaviour(maven_metadata_asset=True))
    sb.emulator.ensure_repository(DOMAIN, "mvn")
    client = make_client(sb.base_url)
    base = sb.emulator.endpoint(sb.base_url, "maven", DOMAIN, "mvn")
    http = httpx.Client(base_url=base, headers=auth(sb.emulator.token()))
    http.put("com/acme/m/1.0/m-1.0.jar", content=b"jar")
    http.put("com/acme/m/maven-metadata.xml", content=metadata("com.acme", "m", "1.0"))
    assets = client.list_package_version_assets(
        domain=DOMAIN, repository="mvn", format="maven", namespace="com.acme", package="m",
        packageVersion="1.0")["assets"]
    assert sorted(a["name"] for a in assets) == ["m-1.0.jar", "maven-metadata.xml"]
