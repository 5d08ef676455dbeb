"""boto3, unmodified, against the emulator: every control-plane operation of issue #3."""

from __future__ import annotations

import hashlib

import pytest
from botocore.exceptions import ClientError

from .conftest import DOMAIN, OWNER


def publish_generic(client, repo, pkg, version, asset, data, unfinished=False, ns="acme"):
    return client.publish_package_version(
        domain=DOMAIN, repository=repo, format="generic", namespace=ns, package=pkg,
        packageVersion=version, assetContent=data, assetName=asset,
        assetSHA256=hashlib.sha256(data).hexdigest(),
        **({"unfinished": True} if unfinished else {}))


def test_domains_create_describe_list_and_conflict(client):
    created = client.create_domain(domain="other")["domain"]
    assert created["name"] == "other" and created["owner"] == OWNER
    assert created["arn"] == f"arn:aws:codeartifact:us-east-1:{OWNER}:domain/other"
    assert client.describe_domain(domain="other")["domain"]["repositoryCount"] == 0
    names = [d["name"] for d in client.list_domains()["domains"]]
    assert names == ["demo", "other"]
    with pytest.raises(client.exceptions.ConflictException):
        client.create_domain(domain="other")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_domain(domain="nope")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_domain(domain="demo", domainOwner="999999999999")


def test_repositories_upstreams_and_external_connection(client):
    for name in [f"u{i}" for i in range(11)]:
        client.create_repository(domain=DOMAIN, repository=name)
    repo = client.create_repository(
        domain=DOMAIN, repository="main", description="d",
        upstreams=[{"repositoryName": "u0"}, {"repositoryName": "u1"}])["repository"]
    assert [u["repositoryName"] for u in repo["upstreams"]] == ["u0", "u1"]
    with pytest.raises(client.exceptions.ServiceQuotaExceededException):
        client.update_repository(domain=DOMAIN, repository="main",
                                 upstreams=[{"repositoryName": f"u{i}"} for i in range(11)])
    updated = client.update_repository(domain=DOMAIN, repository="main",
                                       upstreams=[{"repositoryName": "u2"}])["repository"]
    assert [u["repositoryName"] for u in updated["upstreams"]] == ["u2"]  # replaced
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.update_repository(domain=DOMAIN, repository="main",
                                 upstreams=[{"repositoryName": "ghost"}])
    conn = client.associate_external_connection(
        domain=DOMAIN, repository="u3", externalConnection="public:npmjs")["repository"]
    assert conn["externalConnections"] == [
        {"externalConnectionName": "public:npmjs", "packageFormat": "npm", "status": "Available"}]
    with pytest.raises(client.exceptions.ServiceQuotaExceededException):
        client.associate_external_connection(domain=DOMAIN, repository="u3",
                                             externalConnection="public:pypi")
    client.disassociate_external_connection(domain=DOMAIN, repository="u3",
                                            externalConnection="public:npmjs")
    assert client.describe_repository(domain=DOMAIN, repository="u3")["repository"][
        "externalConnections"] == []
    listed = client.list_repositories_in_domain(domain=DOMAIN, repositoryPrefix="u1")
    assert [r["name"] for r in listed["repositories"]] == ["u1", "u10"]
    assert len(client.list_repositories()["repositories"]) == 12
    with pytest.raises(client.exceptions.ConflictException):
        client.create_repository(domain=DOMAIN, repository="main")


def test_paging_with_max_results_and_next_token(client):
    for i in range(7):
        client.create_repository(domain=DOMAIN, repository=f"r{i}")
    seen, kwargs = [], {}
    while True:
        page = client.list_repositories_in_domain(domain=DOMAIN, maxResults=3, **kwargs)
        assert len(page["repositories"]) <= 3
        seen += [r["name"] for r in page["repositories"]]
        if "nextToken" not in page:
            break
        kwargs = {"nextToken": page["nextToken"]}
    assert seen == [f"r{i}" for i in range(7)]
    paginator = client.get_paginator("list_repositories_in_domain")
    names = [r["name"] for p in paginator.paginate(domain=DOMAIN, PaginationConfig={
        "PageSize": 2}) for r in p["repositories"]]
    assert names == seen


def test_authorization_token_durations(sandbox, client, raw_client):
    now = sandbox.emulator.store.clock()
    out = client.get_authorization_token(domain=DOMAIN, durationSeconds=900)
    assert abs(out["expiration"].timestamp() - (now + 900)) < 5
    default = client.get_authorization_token(domain=DOMAIN)
    assert abs(default["expiration"].timestamp() - (now + 43200)) < 5
    assert client.get_authorization_token(domain=DOMAIN, durationSeconds=0)["authorizationToken"]
    for bad in (1, 899, 43201):
        with pytest.raises(raw_client.exceptions.ValidationException):
            raw_client.get_authorization_token(domain=DOMAIN, durationSeconds=bad)


def test_repository_endpoint_is_path_style_on_own_host(sandbox, client):
    client.create_repository(domain=DOMAIN, repository="my-repo")
    for fmt in ("npm", "pypi", "maven", "generic"):
        url = client.get_repository_endpoint(domain=DOMAIN, repository="my-repo",
                                             format=fmt)["repositoryEndpoint"]
        assert url == f"{sandbox.base_url}/{fmt}/d/{DOMAIN}-{OWNER}/my-repo/"


def test_generic_publish_unfinished_then_published_with_hashes(client):
    client.create_repository(domain=DOMAIN, repository="gen")
    a, b = b"first asset", b"second asset"
    first = publish_generic(client, "gen", "tool", "1.0", "a.bin", a, unfinished=True)
    assert first["status"] == "Unfinished"
    second = publish_generic(client, "gen", "tool", "1.0", "b.bin", b)
    assert second["status"] == "Published"
    assert second["versionRevision"] != first["versionRevision"]
    assets = client.list_package_version_assets(
        domain=DOMAIN, repository="gen", format="generic", namespace="acme", package="tool",
        packageVersion="1.0")["assets"]
    by_name = {x["name"]: x for x in assets}
    assert by_name["a.bin"]["size"] == len(a)
    assert by_name["a.bin"]["hashes"] == {
        "MD5": hashlib.md5(a).hexdigest(), "SHA-1": hashlib.sha1(a).hexdigest(),
        "SHA-256": hashlib.sha256(a).hexdigest(), "SHA-512": hashlib.sha512(a).hexdigest()}
    desc = client.describe_package_version(
        domain=DOMAIN, repository="gen", format="generic", namespace="acme", package="tool",
        packageVersion="1.0")["packageVersion"]
    assert desc["status"] == "Published"
    assert desc["origin"] == {"domainEntryPoint": {"repositoryName": "gen"},
                              "originType": "INTERNAL"}
    got = client.get_package_version_asset(
        domain=DOMAIN, repository="gen", format="generic", namespace="acme", package="tool",
        packageVersion="1.0", asset="b.bin")
    assert got["asset"].read() == b and got["assetName"] == "b.bin"
    assert got["packageVersionRevision"] == desc["revision"]
    # same bytes again: fine; other bytes under the same name: 409
    publish_generic(client, "gen", "tool", "1.0", "b.bin", b)
    with pytest.raises(client.exceptions.ConflictException):
        publish_generic(client, "gen", "tool", "1.0", "b.bin", b"changed")
    # a Published generic version takes no new assets
    with pytest.raises(client.exceptions.ConflictException):
        publish_generic(client, "gen", "tool", "1.0", "c.bin", b"late")
    pkg = client.describe_package(domain=DOMAIN, repository="gen", format="generic",
                                  namespace="acme", package="tool")["package"]
    assert pkg["originConfiguration"]["restrictions"] == {"publish": "ALLOW",
                                                          "upstream": "BLOCK"}


def test_generic_publish_checks(client, raw_client):
    client.create_repository(domain=DOMAIN, repository="gen")
    with pytest.raises(client.exceptions.ValidationException, match="SHA256"):
        client.publish_package_version(
            domain=DOMAIN, repository="gen", format="generic", namespace="acme", package="p",
            packageVersion="1", assetContent=b"x", assetName="x",
            assetSHA256=hashlib.sha256(b"y").hexdigest())
    with pytest.raises(client.exceptions.ValidationException, match="generic"):
        client.publish_package_version(
            domain=DOMAIN, repository="gen", format="npm", package="p", packageVersion="1",
            assetContent=b"x", assetName="x", assetSHA256=hashlib.sha256(b"x").hexdigest())
    with pytest.raises(client.exceptions.ValidationException, match="namespace"):
        client.publish_package_version(
            domain=DOMAIN, repository="gen", format="generic", package="p",
            packageVersion="1", assetContent=b"x", assetName="x",
            assetSHA256=hashlib.sha256(b"x").hexdigest())
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        publish_generic(client, "missing", "p", "1", "x", b"x")


def test_versions_list_status_dispose_delete_and_all_or_nothing(client):
    client.create_repository(domain=DOMAIN, repository="gen")
    for v in ("1.0", "2.0", "3.0"):
        publish_generic(client, "gen", "lib", v, "lib.bin", v.encode())
    common = {"domain": DOMAIN, "repository": "gen", "format": "generic", "namespace": "acme",
              "package": "lib"}
    listed = client.list_package_versions(**common)
    assert {v["version"] for v in listed["versions"]} == {"1.0", "2.0", "3.0"}
    assert listed["defaultDisplayVersion"] == "3.0"
    out = client.update_package_versions_status(**common, versions=["1.0", "9.9"],
                                                targetStatus="Archived")
    assert out["successfulVersions"] == {}
    assert out["failedVersions"]["9.9"]["errorCode"] == "NOT_FOUND"
    assert out["failedVersions"]["1.0"]["errorCode"] == "SKIPPED"
    out = client.update_package_versions_status(**common, versions=["1.0"],
                                                expectedStatus="Unlisted",
                                                targetStatus="Archived")
    assert out["failedVersions"]["1.0"]["errorCode"] == "MISMATCHED_STATUS"
    out = client.update_package_versions_status(**common, versions=["1.0", "2.0"],
                                                targetStatus="Unlisted")
    assert set(out["successfulVersions"]) == {"1.0", "2.0"}
    unlisted = client.list_package_versions(**common, status="Unlisted")["versions"]
    assert {v["version"] for v in unlisted} == {"1.0", "2.0"}
    with pytest.raises(client.exceptions.ValidationException):
        client.update_package_versions_status(**common, versions=["1.0"],
                                              targetStatus="Disposed")
    disposed = client.dispose_package_versions(**common, versions=["1.0"])
    assert disposed["successfulVersions"]["1.0"]["status"] == "Disposed"
    assert client.list_package_version_assets(**common, packageVersion="1.0")["assets"] == []
    with pytest.raises(client.exceptions.ConflictException):
        client.get_package_version_asset(**common, packageVersion="1.0", asset="lib.bin")
    deleted = client.delete_package_versions(**common, versions=["1.0"])
    assert deleted["successfulVersions"]["1.0"]["status"] == "Deleted"
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_package_version(**common, packageVersion="1.0")
    publish_generic(client, "gen", "lib", "1.0", "lib.bin", b"again")  # can be re-published


def test_copy_package_versions(client):
    client.create_repository(domain=DOMAIN, repository="src")
    client.create_repository(domain=DOMAIN, repository="dst")
    publish_generic(client, "src", "lib", "1.0", "a", b"one")
    publish_generic(client, "src", "lib", "2.0", "a", b"two")
    common = {"domain": DOMAIN, "sourceRepository": "src", "destinationRepository": "dst",
              "format": "generic", "namespace": "acme", "package": "lib"}
    out = client.copy_package_versions(**common, versions=["1.0", "2.0"])
    assert set(out["successfulVersions"]) == {"1.0", "2.0"}
    again = client.copy_package_versions(**common, versions=["1.0"])
    assert again["successfulVersions"] == {} and again["failedVersions"] == {}  # identical
    missing = client.copy_package_versions(**common, versions=["1.0", "7.0"])
    assert missing["failedVersions"]["7.0"]["errorCode"] == "NOT_FOUND"
    with pytest.raises(client.exceptions.ValidationException):
        client.copy_package_versions(**common)


def test_origin_configuration_before_package_exists_and_listing_filters(client):
    client.create_repository(domain=DOMAIN, repository="gen")
    cfg = client.put_package_origin_configuration(
        domain=DOMAIN, repository="gen", format="generic", namespace="acme", package="future",
        restrictions={"publish": "BLOCK", "upstream": "ALLOW"})
    assert cfg["originConfiguration"]["restrictions"] == {"publish": "BLOCK",
                                                          "upstream": "ALLOW"}
    with pytest.raises(client.exceptions.AccessDeniedException):
        publish_generic(client, "gen", "future", "1.0", "a", b"a")
    publish_generic(client, "gen", "other", "1.0", "a", b"a")
    blocked = client.list_packages(domain=DOMAIN, repository="gen", publish="BLOCK")
    assert [p["package"] for p in blocked["packages"]] == ["future"]
    every = client.list_packages(domain=DOMAIN, repository="gen", format="generic",
                                 namespace="ac")
    assert [p["package"] for p in every["packages"]] == ["future", "other"]


def test_package_groups_patterns_and_publish_block(client):
    client.create_repository(domain=DOMAIN, repository="gen")
    root = client.describe_package_group(domain=DOMAIN, packageGroup="/*")["packageGroup"]
    assert root["originConfiguration"]["restrictions"]["PUBLISH"]["mode"] == "ALLOW"
    client.create_package_group(domain=DOMAIN, packageGroup="/generic/acme/secret~")
    exact = client.create_package_group(domain=DOMAIN,
                                        packageGroup="/generic/acme/secret-ok$")["packageGroup"]
    assert exact["parent"]["pattern"] == "/generic/acme/secret~"
    client.update_package_group_origin_configuration(
        domain=DOMAIN, packageGroup="/generic/acme/secret~", restrictions={"PUBLISH": "BLOCK"})
    assoc = client.get_associated_package_group(domain=DOMAIN, format="generic",
                                                namespace="acme", package="secret-thing")
    assert assoc["packageGroup"]["pattern"] == "/generic/acme/secret~"
    with pytest.raises(client.exceptions.AccessDeniedException):
        publish_generic(client, "gen", "secret-thing", "1", "a", b"a")
    # the exact group inherits BLOCK until it is set itself
    desc = client.describe_package_group(domain=DOMAIN, packageGroup="/generic/acme/secret-ok$")
    publish_rule = desc["packageGroup"]["originConfiguration"]["restrictions"]["PUBLISH"]
    assert publish_rule["mode"] == "INHERIT" and publish_rule["effectiveMode"] == "BLOCK"
    client.update_package_group_origin_configuration(
        domain=DOMAIN, packageGroup="/generic/acme/secret-ok$", restrictions={"PUBLISH": "ALLOW"})
    publish_generic(client, "gen", "secret-ok", "1", "a", b"a")
    groups = [g["pattern"] for g in client.list_package_groups(domain=DOMAIN)["packageGroups"]]
    assert groups == ["/*", "/generic/acme/secret-ok$", "/generic/acme/secret~"]
    with pytest.raises(client.exceptions.ValidationException):
        client.delete_package_group(domain=DOMAIN, packageGroup="/*")


INVALID = [
    ("create_domain", {"domain": "Bad_Name"}),  # pattern
    ("create_domain", {"domain": "a"}),  # min length 2
    ("create_domain", {"domain": "x" * 51}),  # max length 50
    ("create_repository", {"domain": DOMAIN, "repository": "-starts-with-dash"}),
    ("describe_domain", {"domain": DOMAIN, "domainOwner": "12345"}),  # AccountId 12 digits
    ("get_repository_endpoint", {"domain": DOMAIN, "repository": "r1", "format": "rpm"}),
    ("list_package_versions", {"domain": DOMAIN, "repository": "r1", "format": "generic",
                               "namespace": "a", "package": "p", "maxResults": 0}),
    ("list_package_versions", {"domain": DOMAIN, "repository": "r1", "format": "generic",
                               "namespace": "a", "package": "p", "maxResults": 1001}),
    ("describe_package_version", {"domain": DOMAIN, "repository": "r1", "format": "generic",
                                  "namespace": "a", "package": "has space",
                                  "packageVersion": "1"}),
    ("publish_package_version", {"domain": DOMAIN, "repository": "r1", "format": "generic",
                                 "namespace": "a", "package": "p", "packageVersion": "1",
                                 "assetContent": b"x", "assetName": "bad\x07name",
                                 "assetSHA256": hashlib.sha256(b"x").hexdigest()}),
    ("publish_package_version", {"domain": DOMAIN, "repository": "r1", "format": "generic",
                                 "namespace": "a", "package": "p", "packageVersion": "1",
                                 "assetContent": b"x", "assetName": "x",
                                 "assetSHA256": "ABC"}),
    ("update_package_versions_status", {"domain": DOMAIN, "repository": "r1",
                                        "format": "generic", "namespace": "a", "package": "p",
                                        "versions": ["1"], "targetStatus": "Bogus"}),
    ("create_domain", {}),  # required member missing
]


@pytest.mark.parametrize(("method", "kwargs"), INVALID)
def test_invalid_inputs_get_validation_exception(raw_client, method, kwargs):
    with pytest.raises(ClientError) as info:
        getattr(raw_client, method)(**kwargs)
    err = info.value.response
    assert err["Error"]["Code"] == "ValidationException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert isinstance(info.value, raw_client.exceptions.ValidationException)


def test_unsigned_control_plane_call_is_refused(sandbox):
    import httpx

    resp = httpx.post(f"{sandbox.base_url}/v1/domains", json={})
    assert resp.status_code == 403
    assert resp.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_tags_and_policies(client):
    arn = client.describe_domain(domain=DOMAIN)["domain"]["arn"]
    client.tag_resource(resourceArn=arn, tags=[{"key": "team", "value": "platform"}])
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"key": "team", "value": "platform"}]
    client.put_domain_permissions_policy(domain=DOMAIN, policyDocument='{"Version":"2012"}')
    assert client.get_domain_permissions_policy(domain=DOMAIN)["policy"]["document"]


def test_copy_include_from_upstream(client):
    client.create_repository(domain=DOMAIN, repository="base")
    client.create_repository(domain=DOMAIN, repository="mid",
                             upstreams=[{"repositoryName": "base"}])
    client.create_repository(domain=DOMAIN, repository="dst")
    publish_generic(client, "base", "lib", "1.0", "a", b"one")
    publish_generic(client, "mid", "lib", "2.0", "a", b"two")
    common = {"domain": DOMAIN, "sourceRepository": "mid", "destinationRepository": "dst",
              "format": "generic", "namespace": "acme", "package": "lib"}
    without = client.copy_package_versions(**common, versions=["1.0"])
    assert without["failedVersions"]["1.0"]["errorCode"] == "NOT_FOUND"
    out = client.copy_package_versions(**common, versions=["1.0", "2.0"],
                                       includeFromUpstream=True)
    assert set(out["successfulVersions"]) == {"1.0", "2.0"}
