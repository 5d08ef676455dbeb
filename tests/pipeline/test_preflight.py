"""`migrator.pipeline.preflight` over a whole in-process sandbox (both sources, CodeArtifact),
and the small pieces it is made of (root causes, did-you-mean, the report, the error)."""

from __future__ import annotations

import errno
from pathlib import Path

import anyio
import httpx
import pytest

from migrator.errors import PreflightFailed, did_you_mean, root_cause
from migrator.manifest import Manifest, load_manifest
from migrator.models import Check, CheckStatus
from migrator.pipeline.preflight import (
    PreflightReport,
    ensure_ready,
    preflight,
    run_preflight,
    selected_mappings,
)
from migrator_sandbox import artifactory, nexus
from migrator_sandbox.serve import AWS_ENV, ServeOptions, start_in_thread


@pytest.fixture(scope="module")
def sandbox():
    with start_in_thread(ServeOptions(seed_check_interval=60.0)) as sb:
        yield sb


@pytest.fixture
def env(monkeypatch):
    for values in (AWS_ENV, nexus.DEFAULT_CREDENTIALS, artifactory.DEFAULT_CREDENTIALS):
        for key, value in values.items():
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def manifest_for(sandbox, tmp_path: Path, source: str = "nexus", edit=None) -> Manifest:
    sandbox.options.manifest_source = source
    path = tmp_path / f"{source}.toml"
    sandbox.write_manifest(path)
    if edit is not None:
        path.write_text(edit(path.read_text()))
    return load_manifest(path)


@pytest.mark.parametrize("source", ["nexus", "artifactory"])
def test_the_demo_manifest_is_ready(sandbox, env, tmp_path, source) -> None:
    report = run_preflight(manifest_for(sandbox, tmp_path, source))
    assert report.failures == [], report.render()
    assert report.ok and report.exit_code == 0
    subjects = {(c.system, c.subject) for c in report.checks}
    system = "Nexus" if source == "nexus" else "Artifactory"
    for wanted in [(system, "reachable"), (system, "credentials"),
                   (system, "repository maven-releases"), ("AWS", "credentials"),
                   ("CodeArtifact", "domain demo"), ("CodeArtifact", "repository npm-internal"),
                   ("CodeArtifact", "token"), ("CodeArtifact", "endpoint pypi-internal pypi"),
                   ("CodeArtifact", "upstreams npm-proxy npm")]:
        assert wanted in subjects, wanted
    # generic copies are published through the API: no native endpoint is needed for them
    assert ("CodeArtifact", "endpoint raw-files generic") not in subjects
    assert ensure_ready(manifest_for(sandbox, tmp_path, source)).ok


def test_every_problem_is_reported_at_once(sandbox, env, tmp_path, monkeypatch) -> None:
    def break_both(text: str) -> str:
        return (text.replace('source = "maven-releases"', 'source = "maven-relases"')
                .replace('target = "npm-internal"', 'target = "npm-gone"'))

    m = manifest_for(sandbox, tmp_path, edit=break_both)
    with pytest.raises(PreflightFailed) as caught:
        ensure_ready(m)
    exc = caught.value
    assert exc.exit_code == 2 and len(exc.failures) == 2
    assert str(exc).startswith("preflight found 2 problems:\n  - ")
    assert any("did you mean 'maven-releases'?" in f for f in exc.failures)
    assert any("target repository 'npm-gone' does not exist" in f for f in exc.failures)
    assert all(f in str(exc) for f in exc.failures)


def test_stage_limits_what_is_checked(sandbox, env, tmp_path) -> None:
    def stage_two_typo(text: str) -> str:
        return text.replace('source = "raw-files"', 'source = "raw-flies"\nstage = 2')

    m = manifest_for(sandbox, tmp_path, edit=stage_two_typo)
    assert run_preflight(m, stage=1).ok
    assert not run_preflight(m, stage=2).ok
    assert [r.source for r in selected_mappings(m, 1)] == [
        r.source for r in m.repositories if r.source != "raw-flies"]


def test_nothing_selected_is_a_failure(sandbox, env, tmp_path) -> None:
    m = manifest_for(sandbox, tmp_path, edit=lambda t: t.replace('mode = "copy"',
                                                                  'mode = "copy"\nstage = 3')
                     .replace('mode = "prewarm"', 'mode = "prewarm"\nstage = 3'))
    [check] = run_preflight(m, stage=2).checks
    assert check.status is CheckStatus.FAILURE
    assert "no [[repositories]] with mode copy or prewarm at stage 2 (its stages: 3)" in \
        check.message


def test_missing_credential_variables_do_not_stop_the_target_checks(sandbox, env, tmp_path,
                                                                    monkeypatch) -> None:
    monkeypatch.delenv("NEXUS_PASSWORD")
    report = run_preflight(manifest_for(sandbox, tmp_path))
    [line] = [c.message for c in report.failures]
    assert line.startswith("Nexus credentials: environment variable NEXUS_PASSWORD not set; "
                           "export NEXUS_PASSWORD=...")
    assert any(c.subject == "token" and c.status is CheckStatus.OK for c in report.checks)


def test_checks_may_be_limited_to_one_side(sandbox, env, tmp_path) -> None:
    m = manifest_for(sandbox, tmp_path)
    assert {c.system for c in run_preflight(m, checks=("source",)).checks} == {"Nexus"}
    assert {c.system for c in run_preflight(m, checks=("target",)).checks} == {
        "AWS", "CodeArtifact"}
    with pytest.raises(ValueError, match="unknown preflight checks"):
        run_preflight(m, checks=("sauce",))


def test_injected_factories_are_used(sandbox, env, tmp_path) -> None:
    m = manifest_for(sandbox, tmp_path)
    built = []

    def crawler_factory(settings):
        from migrator.sources import make_probe_crawler

        built.append(settings.kind)
        return make_probe_crawler(settings)

    report = anyio.run(lambda: preflight(m, crawler_factory=crawler_factory))
    assert built == ["nexus"] and report.ok


# -- the pieces -------------------------------------------------------------------------------


def test_root_cause_digs_out_the_os_error() -> None:
    inner = ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed")
    outer = httpx.ConnectError("All connection attempts failed")
    outer.__cause__ = OSError("All connection attempts failed")
    outer.__cause__.__cause__ = inner
    assert root_cause(outer) == "ConnectError: [Errno 111] Connection refused"
    import socket

    dns = httpx.ConnectError("x")
    dns.__cause__ = socket.gaierror(-2, "Name or service not known")
    assert root_cause(dns) == "ConnectError: [Errno -2] Name or service not known"
    assert root_cause(httpx.ReadTimeout("")) == "ReadTimeout"
    assert root_cause(ValueError("bad  \n value")) == "ValueError: bad value"


def test_did_you_mean() -> None:
    assert did_you_mean("maven-relases", ["maven-releases", "npm"]) == (
        "did you mean 'maven-releases'? ")
    assert did_you_mean("NPM", ["npm"]) == "did you mean 'npm'? "
    assert did_you_mean("zzz", ["maven-releases"]) == ""


def test_the_report_renders_a_checklist_and_json() -> None:
    report = PreflightReport(manifest="m.toml", stage=2, elapsed=1.25, checks=[
        Check.ok("Nexus", "reachable", "Nexus answers"),
        Check.warning("Nexus", "read access x", "cannot tell"),
        Check.failure("CodeArtifact", "domain d", "domain 'd' does not exist; create it"),
    ])
    assert report.render().splitlines() == [
        "preflight of m.toml (stage 2): 1 ok, 1 warning, 1 failure (1.2 s)",
        "  ok    Nexus answers",
        "  warn  cannot tell",
        "  FAIL  domain 'd' does not exist; create it",
    ]
    data = report.as_dict()
    assert (data["ok"], data["exit_code"]) == (False, 2)
    assert data["checks"][2] == {"system": "CodeArtifact", "subject": "domain d",
                                 "status": "failure",
                                 "message": "domain 'd' does not exist; create it"}
    with pytest.raises(PreflightFailed) as caught:
        report.raise_for_failures()
    assert caught.value.failures == ["domain 'd' does not exist; create it"]
    assert caught.value.warnings == ["cannot tell"]
