"""Fidelity round 2 in the sandbox: package-group PUBLISH with its precedence and the 403/409
switch, the answers to an identical re-publish, npm's merged retry document, and a write that
lands but whose answer is lost."""

from __future__ import annotations

import base64
import contextlib
import hashlib

import httpx
import pytest
from botocore.exceptions import ClientError, ConnectionClosedError

from migrator_sandbox.codeartifact import Behaviour, FaultConfig

from .conftest import DOMAIN, endpoint, make_client
from .test_native import auth, metadata, npm_document, twine_form


def publish_generic(client, package: str, version: str = "1", data: bytes = b"a",
                    namespace: str = "acme", **extra):
    return client.publish_package_version(
        domain=DOMAIN, repository="repo", format="generic", namespace=namespace,
        package=package, packageVersion=version, assetName="a", assetContent=data,
        assetSHA256=hashlib.sha256(data).hexdigest(), **extra)


def set_publish(client, pattern: str, mode: str, allowed: tuple[str, ...] = ()) -> None:
    with contextlib.suppress(client.exceptions.ConflictException):
        client.create_package_group(domain=DOMAIN, packageGroup=pattern)
    client.update_package_group_origin_configuration(
        domain=DOMAIN, packageGroup=pattern, restrictions={"PUBLISH": mode},
        addAllowedRepositories=[{"originRestrictionType": "PUBLISH", "repositoryName": r}
                                for r in allowed])


def refused(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def test_most_specific_group_decides_publish(client):
    """`/*` BLOCK < `/generic/*` ALLOW < `/generic/acme~` BLOCK < `/generic/acme/*` INHERIT
    (inherits BLOCK) < `/generic/acme/open~` ALLOW < `/generic/acme/open-but-not$` BLOCK; and
    ALLOW_SPECIFIC_REPOSITORIES allows only the listed repositories."""
    client.create_repository(domain=DOMAIN, repository="repo")
    client.create_repository(domain=DOMAIN, repository="other")
    set_publish(client, "/*", "BLOCK")
    code, message = refused(lambda: publish_generic(client, "x", namespace="anyone"))
    assert code == "AccessDeniedException" and "package group /* (PUBLISH=BLOCK)" in message
    set_publish(client, "/generic/*", "ALLOW")
    publish_generic(client, "x", namespace="anyone")
    set_publish(client, "/generic/acme~", "BLOCK")
    client.create_package_group(domain=DOMAIN, packageGroup="/generic/acme/*")  # INHERIT
    code, message = refused(lambda: publish_generic(client, "lib"))
    assert "package group /generic/acme~ (PUBLISH=BLOCK)" in message
    refused(lambda: publish_generic(client, "lib", namespace="acme-other"))
    set_publish(client, "/generic/acme/open~", "ALLOW")
    publish_generic(client, "open-source")
    set_publish(client, "/generic/acme/open-but-not$", "BLOCK")
    code, message = refused(lambda: publish_generic(client, "open-but-not"))
    assert "/generic/acme/open-but-not$" in message
    publish_generic(client, "open-but-not-this-one")  # prefix group, not the exact one
    set_publish(client, "/generic/acme/only-here$", "ALLOW_SPECIFIC_REPOSITORIES",
                allowed=("repo",))
    publish_generic(client, "only-here")
    code, message = refused(lambda: client.publish_package_version(
        domain=DOMAIN, repository="other", format="generic", namespace="acme",
        package="only-here", packageVersion="1", assetName="a", assetContent=b"a",
        assetSHA256=hashlib.sha256(b"a").hexdigest()))
    assert "PUBLISH=ALLOW_SPECIFIC_REPOSITORIES" in message


def test_package_level_block_refuses_even_where_the_group_allows(client):
    client.create_repository(domain=DOMAIN, repository="repo")
    client.put_package_origin_configuration(
        domain=DOMAIN, repository="repo", format="generic", namespace="acme", package="held",
        restrictions={"publish": "BLOCK", "upstream": "BLOCK"})
    code, message = refused(lambda: publish_generic(client, "held"))
    assert code == "AccessDeniedException" and "publish=BLOCK" in message


@pytest.mark.parametrize("status", [403, 409])
def test_group_block_on_every_native_endpoint_with_the_status_switch(sandbox_factory, status):
    sb = sandbox_factory(behaviour=Behaviour(publish_blocked_status=status))
    sb.emulator.ensure_domain(DOMAIN)
    client = make_client(sb.base_url)
    token = client.get_authorization_token(domain=DOMAIN)["authorizationToken"]
    for repo in ("mvn", "npmrepo", "py", "repo"):
        client.create_repository(domain=DOMAIN, repository=repo)
    for pattern in ("/maven/com.acme/blocked$", "/npm/acme/blocked$", "/pypi//blocked$",
                    "/generic/acme/blocked$"):
        set_publish(client, pattern, "BLOCK")
    maven = httpx.put(endpoint(client, "mvn", "maven") + "com/acme/blocked/1/blocked-1.jar",
                      content=b"jar", headers=auth(token))
    npm = httpx.put(endpoint(client, "npmrepo", "npm") + "@acme%2fblocked",
                    json=npm_document("@acme/blocked", "1.0.0", b"tgz"),
                    headers={"Authorization": f"Bearer {token}"})
    data, files = twine_form("blocked", "1.0", "blocked-1.0-py3-none-any.whl", b"whl")
    pypi = httpx.post(endpoint(client, "py", "pypi"), data=data, files=files,
                      headers=auth(token))
    for response in (maven, npm, pypi):
        assert response.status_code == status, response.text
        assert "blocked by package group" in response.text
    code, _ = refused(lambda: publish_generic(client, "blocked"))
    assert code == ("AccessDeniedException" if status == 403 else "ConflictException")
    # the neighbours are not touched by the exact patterns
    assert httpx.put(endpoint(client, "mvn", "maven") + "com/acme/free/1/free-1.jar",
                     content=b"jar", headers=auth(token)).status_code == 201


@pytest.mark.parametrize("status", [200, 409, 403, 400])
def test_npm_identical_republish_answer_is_a_switch(sandbox_factory, status):
    sb = sandbox_factory(behaviour=Behaviour(npm_republish_status=status))
    sb.emulator.ensure_domain(DOMAIN)
    client = make_client(sb.base_url)
    token = client.get_authorization_token(domain=DOMAIN)["authorizationToken"]
    client.create_repository(domain=DOMAIN, repository="npmrepo")
    npm = httpx.Client(base_url=endpoint(client, "npmrepo", "npm"),
                       headers={"Authorization": f"Bearer {token}"})
    doc = npm_document("@acme/tiny", "1.0.0", b"tgz")
    assert npm.put("@acme%2ftiny", json=doc).status_code == 200
    again = npm.put("@acme%2ftiny", json=doc)
    assert again.status_code == status
    if status in (400, 403):
        assert "publish" in again.text and "over" in again.text
    # other bytes are always a 409, whatever the switch says
    assert npm.put("@acme%2ftiny", json=npm_document("@acme/tiny", "1.0.0", b"other")
                   ).status_code == 409


def test_pypi_and_generic_identical_republish_switches(sandbox_factory):
    sb = sandbox_factory(behaviour=Behaviour(pypi_republish_status=409,
                                             generic_republish_status=409))
    sb.emulator.ensure_domain(DOMAIN)
    client = make_client(sb.base_url)
    token = client.get_authorization_token(domain=DOMAIN)["authorizationToken"]
    client.create_repository(domain=DOMAIN, repository="py")
    client.create_repository(domain=DOMAIN, repository="repo")
    data, files = twine_form("tiny", "1.0", "tiny-1.0-py3-none-any.whl", b"whl")
    url = endpoint(client, "py", "pypi")
    assert httpx.post(url, data=data, files=files, headers=auth(token)).status_code == 200
    assert httpx.post(url, data=data, files=files, headers=auth(token)).status_code == 409
    publish_generic(client, "tool")
    code, _ = refused(lambda: publish_generic(client, "tool"))
    assert code == "ConflictException"


def test_npm_merged_retry_document_publishes_the_attached_version(sandbox, client, token):
    """libnpmpublish's retry after a 409 PUTs the packument it fetched with `?write=true`,
    the new version merged in, and one attachment: that version is published; the
    `npm_publish_conflicts` fault answers 409 to the first publish of a new version."""
    client.create_repository(domain=DOMAIN, repository="npmrepo")
    npm = httpx.Client(base_url=endpoint(client, "npmrepo", "npm"),
                       headers={"Authorization": f"Bearer {token}"})
    assert npm.put("@acme%2ftiny", json=npm_document("@acme/tiny", "1.0.0", b"v1")
                   ).status_code == 200
    httpx.post(f"{sandbox.base_url}/_sandbox/faults", json={"npm_publish_conflicts": 1})
    new = npm_document("@acme/tiny", "2.0.0", b"v2")
    assert npm.put("@acme%2ftiny", json=new).status_code == 409
    current = npm.get("@acme%2ftiny", params={"write": "true"}).json()
    current["versions"]["2.0.0"] = new["versions"]["2.0.0"]
    current["dist-tags"]["latest"] = "2.0.0"
    current["_attachments"] = new["_attachments"]
    assert npm.put("@acme%2ftiny", json=current).status_code == 200
    assets = client.list_package_version_assets(
        domain=DOMAIN, repository="npmrepo", format="npm", namespace="acme", package="tiny",
        packageVersion="2.0.0")["assets"]
    assert assets[0]["hashes"]["SHA-256"] == hashlib.sha256(b"v2").hexdigest()
    wrong = dict(current, _attachments={"@acme/tiny-9.9.9.tgz": {
        "data": base64.b64encode(b"x").decode(), "length": 1}})
    assert npm.put("@acme%2ftiny", json=wrong).status_code == 400


def test_a_lost_answer_means_the_write_is_stored(sandbox, client, token):
    """`lost_answers`: the next N successful writes (native, or PublishPackageVersion) are
    stored and answered by a connection reset; the request log marks them."""
    client.create_repository(domain=DOMAIN, repository="mvn")
    client.create_repository(domain=DOMAIN, repository="repo")
    faults = f"{sandbox.base_url}/_sandbox/faults"
    httpx.post(faults, json={"lost_answers": 2})
    jar = endpoint(client, "mvn", "maven") + "com/acme/lost/1/lost-1.jar"
    with pytest.raises(httpx.TransportError):
        httpx.put(jar, content=b"jar", headers=auth(token))
    with pytest.raises(ConnectionClosedError):
        publish_generic(client, "lost")
    assert httpx.get(faults).json()["lost_answers"] == 0
    # both landed: the Maven file answers as identical bytes, the generic asset is listed
    assert httpx.put(jar, content=b"jar", headers=auth(token)).status_code == 200
    httpx.put(endpoint(client, "mvn", "maven") + "com/acme/lost/maven-metadata.xml",
              content=metadata("com.acme", "lost", "1"), headers=auth(token))
    assert client.list_package_version_assets(
        domain=DOMAIN, repository="mvn", format="maven", namespace="com.acme", package="lost",
        packageVersion="1")["assets"][0]["size"] == 3
    assert client.list_package_version_assets(
        domain=DOMAIN, repository="repo", format="generic", namespace="acme", package="lost",
        packageVersion="1")["assets"][0]["name"] == "a"
    entries = httpx.get(f"{sandbox.base_url}/_sandbox/requests").json()["entries"]
    lost = [(e["operation"], e["status"]) for e in entries if e.get("fault") == "lost-answer"]
    assert lost == [("maven:PutAsset", 201), ("PublishPackageVersion", 200)]
    # reads never lose their answer, whatever is left of the counter
    httpx.post(faults, json={"lost_answers": 1})
    assert httpx.get(jar, headers=auth(token)).status_code == 200


def test_lost_answer_rate_draws_from_the_seeded_rng_and_leaves_old_seeds_alone():
    from migrator_sandbox.codeartifact.faults import Faults

    old = Faults(FaultConfig(seed=5, error_rate=0.3))
    same = Faults(FaultConfig(seed=5, error_rate=0.3, lost_answers=3))
    assert [old.draw("/")["error"] for _ in range(50)] == \
        [same.draw("/")["error"] for _ in range(50)]
    rated = Faults(FaultConfig(seed=5, lost_answer_rate=0.5))
    draws = [rated.draw("/")["lose_answer"] for _ in range(200)]
    assert 60 < sum(draws) < 140
