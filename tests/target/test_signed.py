"""Control-plane calls signed by botocore and sent through httpx (migrator.target.signed):
the sandbox checks nothing we do not, so the answers are compared with boto3's own for the
same calls, and the errors with the translation boto3's errors get."""

from __future__ import annotations

import hashlib

import anyio
import boto3
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
