"""The real CLI against the sandbox: validate, plan (the dry run), status; no secret in state."""

from __future__ import annotations

import json

import httpx
import pytest

from .transfer_helpers import token_and_endpoint, write_log

SECRET_KEYS = ("NEXUS_PASSWORD", "ARTIFACTORY_PASSWORD", "ARTIFACTORY_TOKEN",
               "AWS_SECRET_ACCESS_KEY")


def test_validate_plan_status_on_the_demo_seed(sandbox):
    r = sandbox.migrator("validate", "demo.toml")
    assert r.returncode == 0, r.stderr
    r = sandbox.migrator("plan", "demo.toml", "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan  # what the planner prints is checked in tests/sources; here: it ran
    # the dry run wrote nothing to the target: not one write request, of any operation
    assert write_log(sandbox) == []
    # ... and the probe would have seen one: a native write made here shows up in it
    token, url = token_and_endpoint(sandbox, "maven-releases", "maven")
    put = httpx.put(url + "com/acme/probe/1.0/probe-1.0.jar", content=b"probe",
                    auth=("aws", token))
    assert put.status_code < 300, put.text
    assert [(e["operation"], e["status"]) for e in write_log(sandbox)] == [
        ("maven:PutAsset", put.status_code)]

    r = sandbox.migrator("status", "demo.toml", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    repos = data["repositories"]
    assert repos["maven-releases"]["crawl"] == "complete"
    # the seed's two releases of com.acme:greeter: jar, sources jar and pom each
    assert repos["maven-releases"]["assets"]["discovered"] == 6
    assert repos["npm-proxy"]["mode"] == "prewarm"
    assert data["totals"]["assets"]["discovered"] == sum(
        r["assets"].get("discovered", 0) for r in repos.values())

    human = sandbox.migrator("status", "--state", "state/demo.sqlite")
    assert human.returncode == 0 and "maven-releases" in human.stdout and "TOTAL" in human.stdout


def test_secrets_never_reach_the_state_or_the_output(sandbox):
    r = sandbox.migrator("plan", "demo.toml")
    assert r.returncode == 0, r.stderr
    secrets = [sandbox.info["env"][k].encode() for k in SECRET_KEYS]
    files = sorted(sandbox.workdir.joinpath("state").iterdir())
    assert any(f.name == "demo.sqlite" for f in files)
    for f in files:
        data = f.read_bytes()
        for s in secrets:
            assert s not in data, f"{f.name} holds a secret"
    for text in (r.stdout, r.stderr):
        for s in secrets:
            assert s.decode() not in text


def test_wrong_source_credentials_say_which_system_refused(sandbox):
    env = {**sandbox.env, "NEXUS_PASSWORD": "wrong-password-123"}
    r = sandbox.migrator("plan", "demo.toml", env=env)
    assert r.returncode == 2, r.stderr  # a configuration problem: retrying cannot help
    assert "Traceback" not in r.stderr
    assert "Nexus rejected the credentials (HTTP 401)" in r.stderr
    assert "wrong-password-123" not in r.stderr


def test_two_plans_on_one_state_are_refused_with_the_holder(sandbox):
    from migrator.state import WorkQueue
    with WorkQueue.open(sandbox.workdir / "state" / "demo.sqlite", lock_for="migrator run x"):
        r = sandbox.migrator("plan", "demo.toml")
    assert r.returncode == 2
    assert "is in use by pid" in r.stderr and "migrator run x" in r.stderr


def test_each_emulator_speaks_with_its_products_server_header(sandbox):
    env = sandbox.info["env"]
    r = httpx.get(sandbox.info["nexus"]["url"] + "/service/rest/v1/repositories",
                  auth=(env["NEXUS_USERNAME"], env["NEXUS_PASSWORD"]))
    assert r.status_code == 200
    assert r.headers.get_list("server") == [r.headers["server"]]
    assert r.headers["server"].startswith("Nexus/")


@pytest.mark.parametrize("broken", ["domain", "repository"])
def test_a_run_whose_preflight_fails_writes_nothing_and_reports_the_preflight(sandbox, broken):
    """The preflight runs beside the run's read-only start (crawl, dependency-confusion
    look-ups, token, endpoints), which fails too on a wrong domain or repository: the
    preflight's lines are what the run reports, exit 2, and nothing reaches the target."""
    text = (sandbox.workdir / "demo.toml").read_text()
    text = (text.replace('domain = "demo"', 'domain = "dmeo"') if broken == "domain"
            else text.replace('target = "npm-internal"', 'target = "npm-gone"'))
    (sandbox.workdir / "broken.toml").write_text(text)
    requests = sandbox.info["codeartifact"]["requests_url"]
    httpx.delete(requests, timeout=30)
    r = sandbox.migrator("run", "broken.toml", "--no-progress")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    error = r.stderr[r.stderr.index("error: "):]
    assert error.startswith("error: preflight found 1 problem:"), error
    assert ("'dmeo'" if broken == "domain" else "'npm-gone' does not exist") in error
    log = httpx.get(requests, params={"entries": 1}, timeout=30).json()
    assert [e for e in log["entries"] if e["write"]] == []
