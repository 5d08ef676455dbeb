"""A publish refused by policy is not a credentials failure (fidelity rows 17, 31).

Only a refused token (401) or a refused domain (AccessDenied on GetAuthorizationToken,
GetRepositoryEndpoint, ...) is `CredentialsRefused`, which stops the run. A 403 or 409 caused
by package origin controls or a package group with PUBLISH=BLOCK fails that package only, with
the target's reason, never retryable; its neighbours publish."""

from __future__ import annotations

import anyio
import httpx
import pytest
from botocore.exceptions import ClientError

from migrator.errors import TargetAuthError
from migrator.models import Format
from migrator.target import make_publisher
from migrator.target.errors import CredentialsRefused, PublishError, PublishRefused
from migrator.target.http import NativeHttp, StaticAuth
from migrator_sandbox.codeartifact import Behaviour

from .conftest import DOMAIN, Recorder, claim, make_client

pytestmark = pytest.mark.usefixtures("aws_env")


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "refused"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "X")


@pytest.mark.parametrize(("code", "status", "operation", "fatal"), [
    ("AccessDeniedException", 403, "PublishPackageVersion", False),
    ("AccessDeniedException", 403, "PutPackageOriginConfiguration", False),
    ("AccessDeniedException", 403, "ListPackageVersionAssets", False),
    ("AccessDeniedException", 403, "GetAuthorizationToken", True),  # the domain refused
    ("AccessDeniedException", 403, "GetRepositoryEndpoint", True),
    ("AccessDeniedException", 403, "DescribeDomain", True),
    ("UnrecognizedClientException", 403, "PublishPackageVersion", True),  # bad credentials
    ("InvalidSignatureException", 403, "PublishPackageVersion", True),
    ("ExpiredTokenException", 400, "DescribePackageVersion", True),
    ("MissingAuthenticationTokenException", 403, "PublishPackageVersion", True),
])
def test_access_denied_is_fatal_only_for_the_domain_or_the_credentials(
        sandbox, code, status, operation, fatal):
    client = make_client(sandbox)
    translated = client._translate(client_error(code, status), operation)
    anyio.run(client.aclose)
    assert translated.retryable is False
    if fatal:
        assert isinstance(translated, CredentialsRefused)
    else:
        assert isinstance(translated, PublishRefused)
        assert not isinstance(translated, TargetAuthError)
        assert f"CodeArtifact {operation}" in str(translated) and "refused" in str(translated)


def test_native_401_is_the_token_403_is_a_policy():
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            return httpx.Response(401, text="Unauthorized")
        return httpx.Response(403, json={"error": "blocked by package group /npm/acme/*"})

    async def go():
        http = NativeHttp(StaticAuth(token="t0ken-secret"),
                          transport=httpx.MockTransport(answer))
        errors = []
        for path in ("/token", "/policy"):
            try:
                await http.request("PUT", f"http://registry.test{path}", content=b"x")
            except PublishError as exc:
                errors.append(exc)
            except CredentialsRefused as exc:
                errors.append(exc)
        await http.aclose()
        return errors

    token, policy = anyio.run(go)
    assert isinstance(token, CredentialsRefused) and token.status == 401
    assert isinstance(policy, PublishRefused) and policy.status == 403
    assert not isinstance(policy, TargetAuthError) and policy.retryable is False
    assert "blocked by package group /npm/acme/*" in str(policy)
    assert "origin configuration" in str(policy)  # the hint says where to look


CASES = {
    Format.MAVEN: ("maven-releases", ["com/acme/greeter/1.0.0/greeter-1.0.0.pom",
                                      "com/acme/greeter/1.0.0/greeter-1.0.0.jar"],
                   "/maven/com.acme/greeter$", ["com/acme/other/1.0/other-1.0.jar"]),
    Format.NPM: ("npm-internal", ["@types/ms/-/ms-0.7.34.tgz"], "/npm/types/ms$",
                 ["left-pad/-/left-pad-1.3.0.tgz"]),
    Format.PYPI: ("pypi-internal",
                  ["packages/jaraco-classes/3.4.0/jaraco.classes-3.4.0-py3-none-any.whl"],
                  "/pypi//jaraco-classes$",
                  ["packages/typing-extensions/4.12.2/"
                   "typing_extensions-4.12.2-py3-none-any.whl"]),
    Format.GENERIC: ("raw-files", ["releases/1.1.0/greeter-1.1.0-dist.zip"],
                     "/generic/raw-files/rel~", ["tools/install.sh"]),
}


def seed_with_neighbours(tmp_path):
    """The demo seed, plus a Maven artifact of another name in the same group."""
    import shutil

    from .conftest import SEED

    root = tmp_path / "seed"
    for repo, *_ in CASES.values():
        shutil.copytree(SEED / repo, root / repo)
    other = root / "maven-releases/com/acme/other/1.0/other-1.0.jar"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"PK other jar")
    return root


@pytest.mark.parametrize("status", [403, 409])
@pytest.mark.parametrize("fmt", list(CASES))
def test_a_package_group_block_fails_that_package_only(sandbox_factory, fmt, status,
                                                        tmp_path):
    repo, paths, pattern, neighbour = CASES[fmt]
    root = seed_with_neighbours(tmp_path)
    sb = sandbox_factory(behaviour=Behaviour(publish_blocked_status=status))

    async def go():
        async with make_client(sb) as client:
            boto = client.boto
            boto.create_package_group(domain=DOMAIN, packageGroup=pattern)
            boto.update_package_group_origin_configuration(
                domain=DOMAIN, packageGroup=pattern, restrictions={"PUBLISH": "BLOCK"})
            publisher = make_publisher(fmt, client)
            version, files = claim(fmt, repo, paths, target_repo=repo, root=root)
            try:
                await publisher.publish(version, files, Recorder())
            except PublishError as exc:
                refused = exc
            else:
                raise AssertionError("published despite the package group")
            others = Recorder()
            v2, f2 = claim(fmt, repo, neighbour, target_repo=repo, root=root)
            await publisher.publish(v2, f2, others)
            return refused, others

    refused, others = anyio.run(go)
    assert not isinstance(refused, TargetAuthError)
    assert refused.retryable is False
    assert f"blocked by package group {pattern} (PUBLISH=BLOCK)" in str(refused), str(refused)
    if status == 409:
        assert "no conflict of bytes" in str(refused)
    assert others.outcomes() == ["published"]


def test_an_iam_refusal_of_the_action_is_a_whole_system_condition_a_group_block_is_not():
    iam = PublishRefused("CodeArtifact PublishPackageVersion (demo): AccessDeniedException: "
                         "User: arn:aws:iam::111122223333:user/m is not authorized to perform: "
                         "codeartifact:PublishPackageVersion on resource: arn:aws:codeartifact:x")
    group = PublishRefused("CodeArtifact: PUT https://x/npm/r/@acme%2fa answered 403 Forbidden: "
                           "blocked by package group /npm/acme/*")
    assert iam.systemic and "codeartifact:PublishPackageVersion" in iam.systemic
    assert group.systemic is None
    assert iam.retryable is False and group.retryable is False  # per request: never repeated
