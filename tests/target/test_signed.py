"""Control-plane calls signed by botocore and sent through httpx (migrator.target.signed):
the sandbox checks nothing we do not, so the answers are compared with boto3's own for the
same calls, and the errors with the translation boto3's errors get."""

from __future__ import annotations

import hashlib

import anyio
import boto3
import httpx
import pytest

from migrator.target.errors import NotFound, PublishError

from .conftest import DOMAIN, OWNER, REGION, make_client


def test_signed_reads_answer_what_boto3_answers(sandbox, aws_env, tmp_path):
    boto = boto3.client("codeartifact", endpoint_url=sandbox.base_url, region_name=REGION)
    boto.create_repository(domain=DOMAIN, repository="raw-signed")
    boto.publish_package_version(
        domain=DOMAIN, domainOwner=OWNER, repository="raw-signed", format="generic",
        namespace="tools", package="cli", packageVersion="1.0", assetName="cli.txt",
        assetContent=b"hello\n", assetSHA256=hashlib.sha256(b"hello\n").hexdigest())
    coords = {"domain": DOMAIN, "domainOwner": OWNER, "repository": "raw-signed",
              "format": "generic", "namespace": "tools", "package": "cli"}

    async def go():
        async with make_client(sandbox) as client:
            assert client._signed is not None  # a real botocore client: the signed path
            described = await client.describe_version("raw-signed", "generic", "tools", "cli",
                                                      "1.0")
            assets = await client.list_assets("raw-signed", "generic", "tools", "cli", "1.0")
            missing = await client.describe_version("raw-signed", "generic", "tools", "cli",
                                                    "9.9")
            with pytest.raises(PublishError) as bad:
                await client._call("DescribePackageVersion", policy=client.read_policy,
                                   domain=DOMAIN, domainOwner=OWNER, repository="raw-signed",
                                   format="no-such-format", package="cli",
                                   packageVersion="1.0")
            with pytest.raises(NotFound) as gone:
                await client._call("ListPackageVersions", policy=client.read_policy,
                                   domain=DOMAIN, domainOwner=OWNER, repository="nope",
                                   format="generic", namespace="tools", package="cli")
            return described, assets, missing, bad.value, gone.value

    described, assets, missing, bad, gone = anyio.run(go)
    theirs = boto.describe_package_version(packageVersion="1.0", **coords)["packageVersion"]
    assert described == theirs
    listed = boto.list_package_version_assets(packageVersion="1.0", **coords)["assets"]
    assert assets == {a["name"]: {"size": a["size"], **{k.lower().replace("-", ""): v
                                                       for k, v in a["hashes"].items()}}
                      for a in listed}
    assert missing is None
    assert "CodeArtifact DescribePackageVersion" in bad.message and not bad.retryable
    assert "ResourceNotFoundException" in gone.message


def test_an_unreachable_endpoint_is_systemic_and_names_it(aws_env):
    async def go():
        from migrator.retry import PREFLIGHT
        from migrator.target.codeartifact import CodeArtifactClient

        async with CodeArtifactClient(domain=DOMAIN, domain_owner=OWNER, region=REGION,
                                      endpoint_url="http://127.0.0.1:9", read_policy=PREFLIGHT
                                      ) as client:
            with pytest.raises(PublishError) as caught:
                await client.describe_version("raw-files", "generic", "n", "p", "1")
            return caught.value

    error = anyio.run(go)
    assert "127.0.0.1:9" in error.message and error.systemic


def test_what_goes_on_the_wire_carries_a_signature_the_server_recomputes():
    """The sandbox does not check signatures, so check here what AWS checks: the signature
    recomputed from the bytes httpx sent (path, query as encoded on the wire, signed
    headers) equals the one in the Authorization header, names with spaces, `+`, `%`, `~`
    and non-ASCII included."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    from migrator.target.signed import SignedCalls

    sent: dict = {}

    def handler(request: httpx.Request) -> httpx.Response:
        sent.update(url=str(request.url), headers=dict(request.headers), body=request.content)
        return httpx.Response(200, json={"versions": []})

    session = boto3.Session(region_name=REGION, aws_access_key_id="AKIASIGNEDTEST",
                            aws_secret_access_key="signed-secret")
    boto = session.client("codeartifact",
                          endpoint_url="https://codeartifact.us-east-1.amazonaws.com")

    async def go():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            calls = SignedCalls.for_client(boto, session, http)
            assert calls is not None
            return await calls.call("ListPackageVersions", {
                "domain": DOMAIN, "domainOwner": OWNER, "repository": "npm-internal",
                "format": "npm", "namespace": "sc ope+x~", "package": "a b+c%d~é"})

    assert anyio.run(go) == {"versions": []}
    headers = sent["headers"]
    signed = {k: v for k, v in headers.items() if k in ("host", "x-amz-date", "content-type")}
    request = AWSRequest(method="POST", url=sent["url"], data=sent["body"], headers=signed)
    request.context["timestamp"] = headers["x-amz-date"]
    auth = SigV4Auth(session.get_credentials().get_frozen_credentials(), "codeartifact",
                     REGION)
    signature = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)),
                               request)
    assert f"Signature={signature}" in headers["authorization"]
    assert "namespace=sc%20ope%2Bx~" in sent["url"]
