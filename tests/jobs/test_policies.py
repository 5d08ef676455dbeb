"""The IAM policies of jobs/ are what scripts/job_policies.py generates from
migrator/cutover/iam.py, name only real CodeArtifact actions (botocore's service model) and
are clean for parliament."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import botocore.session
from parliament import analyze_policy_string

from migrator.cutover.iam import MIGRATOR_ACTIONS

from .conftest import JOBS, ROOT, load_cfn

_spec = importlib.util.spec_from_file_location("job_policies", ROOT / "scripts" / "job_policies.py")
assert _spec and _spec.loader
job_policies = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(job_policies)

POLICY_FILES = sorted((JOBS / "iam").glob("*.json"))
#: CodeArtifact's IAM actions: its API operations, plus the two permissions of the native
#: endpoints that have no API operation (AWS CodeArtifact user guide, "Packages overview":
#: reads, and Maven's metadata on publish)
CODEARTIFACT_ACTIONS = {*botocore.session.get_session().get_service_model(
    "codeartifact").operation_names, "ReadFromRepository", "PutPackageMetadata"}


def _actions(doc: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for st in doc["Statement"]:
        acts = st["Action"]
        out |= {acts} if isinstance(acts, str) else set(acts)
    return out


def _batch_job_policy() -> dict[str, Any]:
    t = load_cfn(JOBS / "aws-batch" / "migrator-batch.yaml")
    (policy,) = t["Resources"]["JobRole"]["Properties"]["Policies"]
    return policy["PolicyDocument"]


def test_committed_files_are_what_the_script_generates():
    for path, content in job_policies.render(job_policies.parse([])).items():
        assert path.read_text() == content, f"{path}: run python scripts/job_policies.py"
    assert job_policies.main(["--check"]) == 0


def test_check_reports_a_hand_edited_file(tmp_path: Path, capsys):
    out = tmp_path / "iam"
    assert job_policies.main(["--out", str(out)]) == 0
    edited = out / "migrator-job-policy.json"
    edited.write_text(edited.read_text().replace("codeartifact:ListPackages", "codeartifact:*"))
    assert job_policies.main(["--out", str(out), "--check"]) == 1
    assert "migrator-job-policy.json differs" in capsys.readouterr().err


def test_the_job_role_asks_for_exactly_the_migrators_codeartifact_actions():
    expected = {f"codeartifact:{a}" for a in MIGRATOR_ACTIONS}
    for doc in (json.loads((JOBS / "iam" / "migrator-job-policy.json").read_text()),
                _batch_job_policy()):
        ca = {a for a in _actions(doc) if a.startswith("codeartifact:")}
        assert ca == expected
        assert {a.split(":", 1)[1] for a in ca} <= CODEARTIFACT_ACTIONS


def test_every_codeartifact_action_in_jobs_exists_in_botocore():
    texts = [p.read_text() for p in POLICY_FILES]
    texts.append((JOBS / "aws-batch" / "migrator-batch.yaml").read_text())
    used = {m for t in texts for m in re.findall(r'"codeartifact:([A-Za-z]+)"', t)}
    assert used and used <= CODEARTIFACT_ACTIONS, used - CODEARTIFACT_ACTIONS


def test_resources_are_narrow():
    doc = json.loads((JOBS / "iam" / "migrator-job-policy.json").read_text())
    for st in doc["Statement"]:
        if st["Resource"] == "*":  # only the bearer token, limited by its condition
            assert st["Action"] == "sts:GetServiceBearerToken" and "Condition" in st
    s3 = [st for st in doc["Statement"] if str(st["Action"]).count("s3:")]
    assert {r for st in s3 for r in ([st["Resource"]] if isinstance(st["Resource"], str)
                                     else st["Resource"])} == {
        "arn:aws:s3:::acme-migrator-state/migrator/*", "arn:aws:s3:::acme-migrator-state"}


def test_the_job_policy_is_clean_for_parliament():
    findings = analyze_policy_string((JOBS / "iam" / "migrator-job-policy.json").read_text())
    assert not findings.findings, [str(f) for f in findings.findings]


def test_trust_policies_let_in_one_identity_with_its_audience():
    # trust policies have no Resource (parliament reads identity policies): checked by shape
    trusts = [p for p in POLICY_FILES if p.name.endswith("-trust.json")]
    assert len(trusts) == 3
    for path in trusts:
        (st,) = json.loads(path.read_text())["Statement"]
        assert st["Action"] == "sts:AssumeRoleWithWebIdentity" and st["Effect"] == "Allow"
        keys = {k.rsplit(":", 1)[1]: v for cond in st["Condition"].values()
                for k, v in cond.items()}
        assert keys["aud"] == "sts.amazonaws.com"
        assert "*" not in keys["sub"], f"{path.name}: any identity of the provider gets in"


def test_parliament_would_notice_a_bad_policy():
    bad = json.loads((JOBS / "iam" / "migrator-job-policy.json").read_text())
    bad["Statement"][0]["Action"] = ["codeartifact:PublishPackageVersions"]  # no such action
    assert analyze_policy_string(json.dumps(bad)).findings
