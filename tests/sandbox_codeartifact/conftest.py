"""Fixtures: an in-process sandbox on ephemeral loopback ports, boto3 clients, tokens."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config

from migrator_sandbox.codeartifact import Behaviour, QuotaConfig
from migrator_sandbox.serve import ServeOptions, start_in_thread

DOMAIN, OWNER, REGION = "demo", "111122223333", "us-east-1"


class FakeClock:
    """Injectable wall clock for token expiry and visibility delays."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_client(endpoint: str, validate: bool = True):
    return boto3.client(
        "codeartifact", endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id="AKIASANDBOXEXAMPLE", aws_secret_access_key="sandbox-secret",
        # total_max_attempts=1: botocore must not retry behind the test (max_attempts=1 still
        # allows one retry), or a 429 or 5xx the test expects would be absorbed.
        config=Config(parameter_validation=validate, retries={"total_max_attempts": 1}))


@pytest.fixture
def sandbox_factory():
    """Start sandboxes with chosen options; all are stopped at teardown."""
    started = []

    def start(**kwargs):
        kwargs.setdefault("seed", None)
        kwargs.setdefault("sources", False)
        kwargs.setdefault("quotas", QuotaConfig(enabled=False))
        kwargs.setdefault("behaviour", Behaviour())
        cm = start_in_thread(ServeOptions(**kwargs))
        sb = cm.__enter__()
        started.append(cm)
        return sb

    yield start
    for cm in reversed(started):
        cm.__exit__(None, None, None)


@pytest.fixture
def sandbox(sandbox_factory):
    sb = sandbox_factory()
    sb.emulator.ensure_domain(DOMAIN)
    return sb


@pytest.fixture
def client(sandbox):
    return make_client(sandbox.base_url)


@pytest.fixture
def raw_client(sandbox):
    """A client that skips botocore's own checks, so the server's validation is what answers."""
    return make_client(sandbox.base_url, validate=False)


@pytest.fixture
def token(client):
    return client.get_authorization_token(domain=DOMAIN)["authorizationToken"]


def endpoint(client, repo: str, fmt: str) -> str:
    return client.get_repository_endpoint(domain=DOMAIN, repository=repo,
                                          format=fmt)["repositoryEndpoint"]
