"""`CodeArtifactClient` preflight probes against the in-process CodeArtifact sandbox."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from migrator.errors import TargetAuthError
from migrator.manifest import Manifest, parse_manifest
from migrator.models import Check, CheckStatus, Format
from migrator.target.codeartifact import CodeArtifactClient

from .conftest import DOMAIN, OWNER, REGION


def manifest(endpoint: str, *, domain: str = DOMAIN, profile: str | None = None) -> Manifest:
    text = "\n".join([
        "[source]", 'kind = "nexus"', 'url = "http://nexus.test"',
        "[target]", f'domain = "{domain}"', f'domain_owner = "{OWNER}"', f'region = "{REGION}"',
        f'endpoint_url = "{endpoint}"', *([f'profile = "{profile}"'] if profile else []),
        "[[repositories]]", 'source = "maven-releases"', 'target = "maven-releases"', ""])
    return parse_manifest(text, Path("t.toml"))


def probe(m: Manifest, repositories: list[str], *, endpoints: dict[str, set[Format]] | None = None,
          prewarm: dict[str, set[Format]] | None = None) -> list[Check]:
    async def go() -> list[Check]:
        async with CodeArtifactClient.for_preflight(m, timeout=2.0) as client:
            out = await client.probe_access(repositories)
            if endpoints is not None or prewarm is not None:
                out += await client.probe_endpoints(endpoints or {}, prewarm=prewarm)
            return out

    return anyio.run(go)


def failures(checks: list[Check]) -> list[str]:
    return [c.message for c in checks if c.status is CheckStatus.FAILURE]


@pytest.fixture
def no_aws(monkeypatch, tmp_path):
    """No AWS credentials anywhere botocore looks (the metadata service is not asked)."""
    import os

    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    empty = tmp_path / "empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_everything_there_is_all_ok_and_names_the_credential_source(sandbox, aws_env) -> None:
    checks = probe(manifest(sandbox.base_url), ["maven-releases", "npm-internal"],
                   endpoints={"maven-releases": {Format.MAVEN}, "npm-internal": {Format.NPM}})
    assert failures(checks) == []
    messages = [c.message for c in checks]
    assert messages[0] == "AWS credentials found (env); the secret is not shown"
    assert f"CodeArtifact domain '{DOMAIN}' (owner {OWNER}, {REGION}) found" in messages[1]
    assert any("target repository 'npm-internal' exists" in m for m in messages)
    assert any("authorization token" in m and "obtained (not shown)" in m for m in messages)
    assert any(m.startswith("target repository 'maven-releases' maven endpoint http://")
               and m.endswith(" resolves") for m in messages)
    assert not any("sandbox-secret" in m or "AKIA" in m for m in messages)


def test_a_missing_target_repository_names_domain_owner_region_and_the_fix(sandbox,
                                                                          aws_env) -> None:
    [line] = failures(probe(manifest(sandbox.base_url), ["maven-releases", "hidden-maven"]))
    assert line == (
        f"target repository 'hidden-maven' does not exist in domain '{DOMAIN}' (owner {OWNER}, "
        f"{REGION}); create it (`migrator target init MANIFEST` with a [[target.repositories]] "
        f"table for it, or aws codeartifact create-repository --domain {DOMAIN} "
        f"--domain-owner {OWNER} --repository hidden-maven --region {REGION}) or fix "
        f"[[repositories]] target")


def test_a_misspelt_target_repository_gets_did_you_mean(sandbox, aws_env) -> None:
    [line] = failures(probe(manifest(sandbox.base_url), ["npm-internl"]))
    assert "did you mean 'npm-internal'?" in line


def test_a_wrong_domain_stops_the_target_checks_with_did_you_mean(sandbox, aws_env) -> None:
    checks = probe(manifest(sandbox.base_url, domain="dmeo"), ["maven-releases"])
    assert [c.status for c in checks] == [CheckStatus.OK, CheckStatus.FAILURE]
    assert checks[1].message == (
        f"CodeArtifact domain 'dmeo' does not exist for owner {OWNER} in {REGION}; did you mean "
        f"'{DOMAIN}'? create it (aws codeartifact create-domain --domain dmeo --region "
        f"{REGION}) or fix [target] domain, domain_owner or region")


def test_no_credentials_anywhere(sandbox, no_aws) -> None:
    checks = probe(manifest(sandbox.base_url), ["maven-releases"])
    [check] = checks
    assert check.status is CheckStatus.FAILURE
    assert check.message.startswith("no AWS credentials found")
    assert "export AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in check.message


def test_the_credentials_of_a_profile_say_so(sandbox, no_aws, tmp_path, monkeypatch) -> None:
    creds = tmp_path / "credentials"
    creds.write_text("[migration]\naws_access_key_id = AKIAEXAMPLE\n"
                     "aws_secret_access_key = do-not-print-me\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    checks = probe(manifest(sandbox.base_url, profile="migration"), ["maven-releases"])
    assert checks[0].message == ("AWS credentials found (shared-credentials-file, profile "
                                 "'migration'); the secret is not shown")
    assert not any("do-not-print-me" in c.message for c in checks)


def test_a_profile_that_does_not_exist(sandbox, no_aws) -> None:
    with pytest.raises(TargetAuthError, match=r"AWS profile 'nope' \(\[target\] profile\) is "
                                              r"not in the AWS config files"):
        CodeArtifactClient.for_preflight(manifest(sandbox.base_url, profile="nope"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# the closed port is chosen when the test runs, so the test's id is the same in every process
@pytest.mark.parametrize("endpoint", ["closed-port", "http://codeartifact.invalid"])
def test_an_unreachable_endpoint_is_one_failure_with_the_root_cause(aws_env,
                                                                    endpoint: str) -> None:
    if endpoint == "closed-port":
        endpoint = f"http://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    checks = probe(manifest(endpoint), ["maven-releases"])
    assert time.monotonic() - started < 20  # a guard against hangs, not a speed claim
    [line] = failures(checks)
    assert line.startswith("CodeArtifact is unreachable: CodeArtifact DescribeDomain (demo): "
                           "EndpointConnectionError: [Errno ")
    assert f"to {endpoint}; check [target] region and endpoint_url" in line


def test_an_endpoint_host_that_does_not_resolve(sandbox, aws_env, monkeypatch) -> None:
    async def fake_endpoint(self: Any, repository: str, fmt: Any) -> str:
        return f"https://{DOMAIN}-{OWNER}.d.codeartifact.{REGION}.invalid/maven/{repository}/"

    monkeypatch.setattr(CodeArtifactClient, "endpoint", fake_endpoint)
    [line] = failures(probe(manifest(sandbox.base_url), [],
                            endpoints={"maven-releases": {Format.MAVEN}}))
    assert line.startswith("the maven endpoint of target repository 'maven-releases' (https://")
    assert "does not resolve from here: gaierror: [Errno " in line
    assert "codeartifact.repositories endpoint with private DNS" in line


def test_a_prewarmed_repository_must_reach_an_external_connection(sandbox_factory,
                                                                   aws_env) -> None:
    sb = sandbox_factory()
    sb.emulator.ensure_repository(DOMAIN, "npm-store", external_connection="public:npmjs")
    sb.emulator.ensure_repository(DOMAIN, "npm-proxy", upstreams=["npm-store"])
    checks = probe(manifest(sb.base_url), [], prewarm={"npm-proxy": {Format.NPM},
                                                       "raw-files": {Format.NPM}})
    by_subject = {c.subject: c for c in checks}
    assert by_subject["upstreams npm-proxy npm"].status is CheckStatus.OK
    warning = by_subject["upstreams raw-files npm"]
    assert warning.status is CheckStatus.WARNING
    assert "reaches no external connection for npm through its upstreams (raw-files)" in (
        warning.message)
    assert "--external-connection public:npmjs" in warning.message


def test_credentials_aws_refuses_name_the_action_to_allow(aws_env) -> None:
    import boto3
    from botocore.stub import Stubber

    boto = boto3.client("codeartifact", region_name=REGION)
    stub = Stubber(boto)
    stub.add_client_error("describe_domain", service_error_code="AccessDeniedException",
                          service_message="User is not authorized", http_status_code=403)
    with stub:
        client = CodeArtifactClient(domain=DOMAIN, domain_owner=OWNER, region=REGION,
                                    boto_client=boto)
        checks = anyio.run(client.probe_access, ["maven-releases"])
    assert [c.status for c in checks] == [CheckStatus.OK, CheckStatus.FAILURE]
    assert checks[1].message.startswith(
        f"AWS refused the credentials (unknown) for DescribeDomain on domain '{DOMAIN}' (owner "
        f"{OWNER}, {REGION}): CodeArtifact DescribeDomain (demo): AccessDeniedException: User "
        f"is not authorized; fix the credentials, or allow codeartifact:DescribeDomain")
