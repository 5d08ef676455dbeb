"""`migrator target init` against the real sandbox process: it builds the topology the
manifest describes, a second run changes nothing and says so, `--dry-run` writes nothing and
counts its requests, and reordering an existing repository's upstreams is refused (exit 2)
unless `--force`."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from .conftest import RunningSandbox

pytestmark = pytest.mark.e2e

KMS = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

TOPOLOGY = """
[[target.repositories]]
name = "npmjs-proxy"
description = "Proxy for npmjs.com"
external_connection = "public:npmjs"

[[target.repositories]]
name = "shared-npm"
upstreams = []

[[target.repositories]]
name = "platform-npm"
upstreams = ["npmjs-proxy"]

[[target.repositories]]
name = "team-npm"
description = "Team npm packages"
upstreams = [UPSTREAMS]

[[namespaces]]
format = "npm"
pattern = "@acme/*"
"""


def write_manifest(sb: RunningSandbox, path: Path, upstreams: str) -> Path:
    text = sb.manifest.read_text().replace('domain = "demo"', 'domain = "teams"')
    text = text.replace("[target]\n", f'[target]\nkms_key = "{KMS}"\n', 1)
    path.write_text(text + TOPOLOGY.replace("UPSTREAMS", upstreams))
    return path


def client(sb: RunningSandbox):
    ca = sb.info["codeartifact"]
    return boto3.client("codeartifact", endpoint_url=ca["endpoint_url"],
                        region_name=ca["region"], aws_access_key_id=sb.env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=sb.env["AWS_SECRET_ACCESS_KEY"])


def describe(sb: RunningSandbox, repo: str) -> dict:
    return client(sb).describe_repository(domain="teams", repository=repo)["repository"]


def test_init_builds_the_topology_and_a_second_run_changes_nothing(sandbox, tmp_path):
    m = write_manifest(sandbox, tmp_path / "teams.toml", '"platform-npm", "shared-npm"')

    dry = sandbox.migrator("target", "init", str(m), "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    actions = [(c["action"], c["subject"]) for c in plan["changes"]]
    assert actions[0] == ("create-domain", "teams")
    # every upstream is created before the repository that searches it
    order = [s for a, s in actions if a == "create-repository"]
    assert order.index("npmjs-proxy") < order.index("platform-npm") < order.index("team-npm")
    assert order.index("shared-npm") < order.index("team-npm")
    assert plan["requests"] == {"read": 1, "write": 0, "planned_writes": len(actions)}
    with pytest.raises(client(sandbox).exceptions.ResourceNotFoundException):
        client(sandbox).describe_domain(domain="teams")  # the dry run wrote nothing

    first = sandbox.migrator("target", "init", str(m))
    assert first.returncode == 0, first.stderr
    assert f"applied: {len(actions)} write request(s)" in first.stdout
    domain = client(sandbox).describe_domain(domain="teams")["domain"]
    assert domain["encryptionKey"] == KMS
    team = describe(sandbox, "team-npm")
    assert [u["repositoryName"] for u in team["upstreams"]] == ["platform-npm", "shared-npm"]
    assert team["description"] == "Team npm packages"
    proxy = describe(sandbox, "npmjs-proxy")
    assert [c["externalConnectionName"] for c in proxy["externalConnections"]] == \
        ["public:npmjs"]
    # package groups are the run's, after its dependency-confusion check
    groups = client(sandbox).list_package_groups(domain="teams")["packageGroups"]
    assert [g["pattern"] for g in groups] == ["/*"]

    second = sandbox.migrator("target", "init", str(m), "--json")
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["changes"] == [] and again["requests"]["write"] == 0
    text = sandbox.migrator("target", "init", str(m))
    assert "nothing changes" in text.stdout and "0 writes" in text.stdout


def test_reordering_upstreams_is_refused_without_force(sandbox, tmp_path):
    m = write_manifest(sandbox, tmp_path / "teams.toml", '"platform-npm", "shared-npm"')
    assert sandbox.migrator("target", "init", str(m)).returncode == 0

    reordered = write_manifest(sandbox, tmp_path / "reordered.toml",
                               '"shared-npm", "platform-npm"')
    refused = sandbox.migrator("target", "init", str(reordered))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "reorders its upstreams from [platform-npm, shared-npm] to [shared-npm, " \
        "platform-npm]" in refused.stdout
    assert "--force" in refused.stdout and "Traceback" not in refused.stderr
    team = describe(sandbox, "team-npm")
    assert [u["repositoryName"] for u in team["upstreams"]] == ["platform-npm", "shared-npm"]

    # Adding an upstream at the end keeps the existing search order: not breaking.
    added = write_manifest(sandbox, tmp_path / "added.toml",
                           '"platform-npm", "shared-npm", "npmjs-proxy"')
    assert sandbox.migrator("target", "init", str(added), "--dry-run").returncode == 0

    forced = sandbox.migrator("target", "init", str(reordered), "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    team = describe(sandbox, "team-npm")
    assert [u["repositoryName"] for u in team["upstreams"]] == ["shared-npm", "platform-npm"]


def test_removing_an_external_connection_is_refused(sandbox, tmp_path):
    m = write_manifest(sandbox, tmp_path / "teams.toml", '"platform-npm"')
    assert sandbox.migrator("target", "init", str(m)).returncode == 0
    m.write_text(m.read_text().replace('external_connection = "public:npmjs"\n', ""))
    refused = sandbox.migrator("target", "init", str(m))
    assert refused.returncode == 2
    assert "removes its external connection public:npmjs" in refused.stdout
    proxy = describe(sandbox, "npmjs-proxy")
    assert [c["externalConnectionName"] for c in proxy["externalConnections"]] == \
        ["public:npmjs"]


MIXED = """
[[target.repositories]]
name = "base-npm"

[[target.repositories]]
name = "mixed-npm"
upstreams = ["base-npm"]
external_connection = "public:npmjs"
"""


@pytest.mark.parametrize("allowed", [True, False])
def test_upstreams_and_a_connection_on_one_repository_under_both_answers(tmp_path, allowed):
    """Whether AWS lets one repository have upstreams and an external connection is
    undocumented (a sandbox switch): allowed, it is built; refused, the run says what was
    made, what CodeArtifact answered and the layout that avoids the question (exit 2)."""
    from .conftest import start_sandbox, stop_sandbox

    sb = start_sandbox(tmp_path, "--behaviour",
                       f"repo_upstreams_with_external={str(allowed).lower()}")
    try:
        m = tmp_path / "mixed.toml"
        m.write_text(sb.manifest.read_text().replace('domain = "demo"', 'domain = "mixed"')
                     + MIXED)
        result = sb.migrator("target", "init", str(m))
        if allowed:
            assert result.returncode == 0, result.stdout + result.stderr
            assert [c["externalConnectionName"] for c in
                    describe_in(sb, "mixed", "mixed-npm")["externalConnections"]] == \
                ["public:npmjs"]
        else:
            assert result.returncode == 2, result.stdout + result.stderr
            assert "failed: associate-external-connection mixed-npm: CodeArtifact " \
                "AssociateExternalConnection (mixed): ValidationException" in result.stdout
            assert "3 change(s) before it were made and stay" in result.stdout
            assert "give the connection to a proxy repository of its own" in result.stdout
            assert "Traceback" not in result.stderr
            again = sb.migrator("target", "init", str(m), "--dry-run", "--json")
            assert [c["action"] for c in json.loads(again.stdout)["changes"]] == \
                ["associate-external-connection"]
    finally:
        stop_sandbox(sb)


def describe_in(sb: RunningSandbox, domain: str, repo: str) -> dict:
    return client(sb).describe_repository(domain=domain, repository=repo)["repository"]
