"""Preflight against the real `migrator sandbox serve` process, one broken thing at a time:
each gives its one failure line (system, object, fix), exit code 2, no traceback, and ends
within seconds even when an endpoint refuses connections. And a permission-restricted
Artifactory user: `migrator plan` stops with both counts instead of a silently short crawl."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from .conftest import RunningSandbox, start_sandbox, stop_sandbox

pytestmark = pytest.mark.e2e

# What the CLI will do around the library call: print every MigratorError, exit with its code.
SCRIPT = """
import sys
from migrator.errors import MigratorError
from migrator.manifest import load_manifest
from migrator.pipeline.preflight import ensure_ready
try:
    report = ensure_ready(load_manifest(sys.argv[1]))
except MigratorError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(exc.exit_code)
print(f"ready: {len(report.checks)} checks")
"""
OWNER, REGION = "111122223333", "us-east-1"
SECRET = "pw-that-must-not-leak-7731"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def no_aws(env: dict[str, str]) -> None:
    for key in [k for k in env if k.startswith("AWS_")]:
        del env[key]
    env["AWS_CONFIG_FILE"] = os.devnull
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


@dataclass
class Case:
    name: str
    expected: str  # a regular expression one failure line must match in full
    edit: Callable[[str, int], str] = lambda text, port: text
    env: Callable[[dict[str, str]], None] = lambda env: None
    absent: list[str] = field(default_factory=list)


CASES = [
    Case("missing target repository",
         r"target repository 'hidden-maven' does not exist in domain 'demo' \(owner "
         rf"{OWNER}, {REGION}\); create it \(`migrator target init MANIFEST` with a "
         r"\[\[target\.repositories\]\] table for it, or aws codeartifact create-repository "
         r"--domain demo "
         rf"--domain-owner {OWNER} --repository hidden-maven --region {REGION}\) or fix "
         r"\[\[repositories\]\] target",
         edit=lambda t, p: t.replace('target = "maven-releases"', 'target = "hidden-maven"')),
    Case("wrong domain",
         rf"CodeArtifact domain 'demo-eu' does not exist for owner {OWNER} in {REGION}; did you "
         rf"mean 'demo'\? create it \(aws codeartifact create-domain --domain demo-eu --region "
         rf"{REGION}\) or fix \[target\] domain, domain_owner or region",
         edit=lambda t, p: t.replace('domain = "demo"', 'domain = "demo-eu"')),
    Case("no AWS credentials",
         r"no AWS credentials found \(botocore looked in .*\); export AWS_PROFILE or "
         r"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or set \[target\] profile",
         env=no_aws, absent=["sandbox-secret"]),
    Case("unreachable target",
         r"CodeArtifact is unreachable: CodeArtifact DescribeDomain \(demo\): "
         r"EndpointConnectionError: \[Errno 111\] Connection refused to "
         r"http://127\.0\.0\.1:\d+; check \[target\] region and endpoint_url and the network.*",
         edit=lambda t, p: re.sub(r'endpoint_url = "[^"]+"',
                                  f'endpoint_url = "http://127.0.0.1:{p}"', t)),
    Case("unreachable source",
         r"Nexus at http://127\.0\.0\.1:\d+ is unreachable: ConnectError: \[Errno 111\] "
         r"Connection refused to http://127\.0\.0\.1:\d+/service/rest/v1/status; check "
         r"\[source\] url and that the server is up and reachable from here.*",
         edit=lambda t, p: re.sub(r'(\[source\]\nkind = "nexus"\nurl = )"[^"]+"',
                                  rf'\1"http://127.0.0.1:{p}"', t)),
    Case("wrong source password",
         r"Nexus at http://127\.0\.0\.1:\d+ rejected the credentials from "
         r"NEXUS_USERNAME/NEXUS_PASSWORD: Nexus rejected the credentials \(HTTP 401\) for GET "
         r"/service/rest/v1/repositories; fix the values of those environment variables.*",
         env=lambda env: env.update(NEXUS_PASSWORD=SECRET), absent=[SECRET]),
    Case("typo'd source repository",
         r"Nexus repository 'maven-relases' does not exist at http://127\.0\.0\.1:\d+ \(or is "
         r"of a format migrator does not migrate, or not visible to this user\); did you mean "
         r"'maven-releases'\? fix \[\[repositories\]\] source, or grant the user read on it",
         edit=lambda t, p: t.replace('source = "maven-releases"', 'source = "maven-relases"')),
]


@pytest.fixture(scope="module")
def nexus_sandbox(tmp_path_factory):
    sb = start_sandbox(tmp_path_factory.mktemp("preflight"))
    yield sb
    stop_sandbox(sb)


def error_text(result: subprocess.CompletedProcess) -> str:
    """stderr from the error message on (warnings are logged before it)."""
    start = result.stderr.find("error: ")
    assert start >= 0, result.stderr
    return result.stderr[start:]


def run_preflight(sb: RunningSandbox, manifest: str, env: dict[str, str]
                  ) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", SCRIPT, manifest], cwd=sb.workdir, env=env,
                            capture_output=True, text=True, timeout=60)
    return result, time.monotonic() - started


def test_the_sandbox_manifest_is_ready(nexus_sandbox) -> None:
    result, _ = run_preflight(nexus_sandbox, "demo.toml", nexus_sandbox.env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ready: ")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_one_broken_thing_one_line(nexus_sandbox, case: Case) -> None:
    sb = nexus_sandbox
    text = (sb.workdir / "demo.toml").read_text()
    manifest = f"{case.name.replace(' ', '-').replace(chr(39), '')}.toml"
    (sb.workdir / manifest).write_text(case.edit(text, free_port()))
    env = dict(sb.env)
    case.env(env)
    result, elapsed = run_preflight(sb, manifest, env)
    assert elapsed < 20, "a guard against hangs"
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    error = error_text(result)
    assert error.startswith("error: preflight found 1 problem:\n  - ")
    lines = [line.removeprefix("  - ") for line in error.splitlines() if line.startswith("  - ")]
    assert len(lines) == 1
    assert re.fullmatch(case.expected, lines[0]), lines[0]
    for secret in case.absent:
        assert secret not in result.stderr + result.stdout


def test_several_broken_things_are_all_listed(nexus_sandbox) -> None:
    sb = nexus_sandbox
    text = (sb.workdir / "demo.toml").read_text()
    broken = (text.replace('source = "maven-releases"', 'source = "maven-relases"')
              .replace('target = "npm-internal"', 'target = "npm-gone"')
              .replace('target = "pypi-internal"', 'target = "pypi-gone"'))
    (sb.workdir / "several.toml").write_text(broken)
    result, _ = run_preflight(sb, "several.toml", sb.env)
    assert result.returncode == 2
    error = error_text(result)
    assert error.startswith("error: preflight found 3 problems:")
    for needle in ("'maven-relases'", "'npm-gone' does not exist", "'pypi-gone' does not exist"):
        assert needle in error


@pytest.fixture(scope="module")
def artifactory_sandbox(tmp_path_factory):
    sb = start_sandbox(tmp_path_factory.mktemp("restricted"), "--manifest-source", "artifactory",
                       "--artifactory-edition", "oss")
    yield sb
    stop_sandbox(sb)


def test_a_restricted_artifactory_user_makes_plan_stop_with_both_counts(
        artifactory_sandbox) -> None:
    sb = artifactory_sandbox
    # The sandbox's "partial" user may not read one version folder of maven-releases: AQL
    # drops those files after the limit, so the first page comes back short.
    env = {**sb.env, "ARTIFACTORY_USERNAME": "partial", "ARTIFACTORY_PASSWORD": "partial-secret"}
    started = time.monotonic()
    result = sb.migrator("--no-progress", "plan", "demo.toml", env=env)
    assert time.monotonic() - started < 60
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    match = re.search(r"error: artifactory repository 'maven-releases' listed (\d+) files? but "
                      r"the server reports (\d+) \(filesCount\); the crawl user may lack read "
                      r"permission on some paths: grant Read on the whole repository, then run "
                      r"`migrator plan` again", result.stderr)
    assert match, result.stderr
    listed, reported = int(match[1]), int(match[2])
    assert 0 < listed < reported
    # With the full-read user the same state plans to the end.
    again = sb.migrator("--no-progress", "plan", "demo.toml", "--json")
    assert again.returncode == 0, again.stderr
