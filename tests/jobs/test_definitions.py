"""What the Batch, CI and systemd definitions promise in jobs/README.md, read from the files."""

from __future__ import annotations

import configparser

import yaml

from .conftest import JOBS, load_cfn

BATCH = JOBS / "aws-batch" / "migrator-batch.yaml"


def test_batch_children_read_their_index_and_name_no_shared_state():
    t = load_cfn(BATCH)
    props = t["Resources"]["JobDefinition"]["Properties"]
    cmd = props["ContainerProperties"]["Command"]
    assert cmd[cmd.index("--shard") + 1] == "auto"
    assert cmd[cmd.index("--shards") + 1] == {"Ref": "Shards"}
    # the same list reaches every child: a --state here would be one state for all of them
    assert "--state" not in cmd
    assert "size=${Shards}" in t["Outputs"]["SubmitArrayJob"]["Value"]["Fn::Sub"]
    retry = props["RetryStrategy"]["EvaluateOnExit"]
    assert {"OnExitCode": "3", "Action": "RETRY"} in retry
    assert retry[-1] == {"OnReason": "*", "Action": "EXIT"}  # everything else ends the child
    c = props["ContainerProperties"]
    assert c["User"] == "10001:10001"
    assert {s["Name"] for s in c["Secrets"]} == {"NEXUS_USERNAME", "NEXUS_PASSWORD"}
    assert c["JobRoleArn"] == {"Fn::GetAtt": "JobRole.Arn"}


def test_batch_execution_role_reads_only_the_two_secrets():
    t = load_cfn(BATCH)
    (policy,) = t["Resources"]["ExecutionRole"]["Properties"]["Policies"]
    (st,) = policy["PolicyDocument"]["Statement"]
    assert st["Action"] == "secretsmanager:GetSecretValue"
    assert st["Resource"] == [{"Ref": "SourceUsernameSecretArn"},
                              {"Ref": "SourcePasswordSecretArn"}]


def test_github_workflow_assumes_its_role_through_oidc():
    wf = yaml.safe_load((JOBS / "github-actions" / "migrator-sync.yml").read_text())
    on = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads the key `on` as true
    assert on["schedule"][0]["cron"]
    assert wf["permissions"] == {"id-token": "write", "contents": "read"}
    (job,) = wf["jobs"].values()
    creds = next(s for s in job["steps"]
                 if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@"))
    assert creds["with"]["role-to-assume"].startswith("arn:aws:iam::")
    assert job["environment"] == "migration"  # the subject the trust policy names
    assert "environment:migration" in (JOBS / "iam" / "github-oidc-trust.json").read_text()
    assert "aws-access-key-id" not in creds["with"]


def test_gitlab_job_runs_on_schedule_with_an_oidc_token():
    p = yaml.safe_load((JOBS / "gitlab-ci" / "migrator-sync.gitlab-ci.yml").read_text())
    job = p["migrator-sync"]
    assert job["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
    assert job["id_tokens"]["MIGRATOR_ID_TOKEN"]["aud"] == "sts.amazonaws.com"
    script = "\n".join(job["script"])
    assert "AWS_WEB_IDENTITY_TOKEN_FILE" in script and "AWS_ROLE_ARN" in script
    assert "AWS_SECRET_ACCESS_KEY" not in script


def _unit(name: str) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # systemd keys are case-sensitive
    cp.read(JOBS / "systemd" / name)
    return cp


def test_systemd_service_is_a_oneshot_of_its_own_user_and_the_timer_catches_up():
    svc, timer = _unit("migrator-sync.service"), _unit("migrator-sync.timer")
    assert svc["Service"]["Type"] == "oneshot"
    assert svc["Service"]["User"] == "migrator" != "root"
    assert svc["Service"]["StateDirectory"] == "migrator"
    assert svc["Service"]["NoNewPrivileges"] == "yes"
    assert svc["Service"]["ProtectSystem"] == "strict"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Timer"]["Unit"] == "migrator-sync.service"
    sysusers = (JOBS / "systemd" / "migrator.sysusers").read_text()
    assert "\nu migrator " in "\n" + sysusers
