"""The pre-warm target found by walking CodeArtifact's upstream chains when the manifest names
none (`migrator.pipeline.prewarm_target`), over a fake control plane: the team repository the
manifest copies into when its chain reaches the connection, else the one end of a chain, and
ambiguity or no chain at all named with the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.errors import ConfigError
from migrator.manifest import parse_manifest
from migrator.models import AssetKind, Coordinates, DiscoveredAsset, Format, RepoType
from migrator.pipeline.prewarm import queue_lockfiles
from migrator.pipeline.prewarm_target import find_prewarm_target, team_repositories
from migrator.state import WorkQueue
from migrator.target.errors import NotFound
from migrator.target.provision import TargetControl

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "sample-manifests" / "lockfiles"

MANIFEST = """
[source]
kind = "nexus"
url = "https://nexus.example.com"
username_env = "U"
password_env = "P"
[target]
domain = "acme"
domain_owner = "111122223333"
region = "eu-west-1"
[[repositories]]
source = "maven-internal"
target = "team"
"""

# team → org → maven-store (public:maven-central); other-team → maven-store;
# npm-team → npm-store (public:npmjs); lonely has nothing
DOMAIN = {
    "team": {"upstreams": ["org"]},
    "org": {"upstreams": ["maven-store"]},
    "maven-store": {"connections": ["public:maven-central"]},
    "other-team": {"upstreams": ["maven-store"]},
    "npm-team": {"upstreams": ["npm-store"]},
    "npm-store": {"connections": ["public:npmjs"]},
    "lonely": {},
}


class FakeClient:
    """The control-plane reads `find_prewarm_target` makes, counted."""

    is_codeartifact = True
    domain, domain_owner, read_policy, write_policy = "acme", "111122223333", None, None

    def __init__(self, repos: dict[str, dict]) -> None:
        self.repos = repos
        self.calls: list[tuple[str, str | None]] = []

    async def _call(self, operation, *, policy, **params):
        self.calls.append((operation, params.get("repository")))
        if operation == "DescribeDomain":
            return {"domain": {"name": "acme"}}
        if operation == "ListRepositoriesInDomain":
            return {"repositories": [{"name": n} for n in self.repos]}
        if operation == "DescribeRepository":
            r = self.repos.get(params["repository"])
            if r is None:
                raise NotFound(f"no repository {params['repository']}")
            return {"repository": {
                "upstreams": [{"repositoryName": u} for u in r.get("upstreams", ())],
                "externalConnections": [{"externalConnectionName": c}
                                        for c in r.get("connections", ())]}}
        raise AssertionError(operation)


def manifest(tmp_path, extra: str = ""):
    path = tmp_path / "m.toml"
    path.write_text(MANIFEST + extra)
    return parse_manifest(path.read_text(), path)


async def find(tmp_path, fmt, teams, repos=DOMAIN):
    client = FakeClient(repos)
    return await find_prewarm_target(manifest(tmp_path), TargetControl(client), fmt, teams), \
        client


async def test_the_team_repository_whose_chain_reaches_the_connection(tmp_path):
    found, client = await find(tmp_path, "maven", ["team"])
    assert found == "team"
    # depth-first along the chain, stopping at the connection; the domain is not listed
    assert [r for _, r in client.calls] == ["team", "org", "maven-store"]


async def test_without_a_team_repository_the_one_end_of_a_chain(tmp_path):
    found, _ = await find(tmp_path, "npm", ["team"])  # team reaches no npm connection
    assert found == "npm-team"  # not npm-store, which is inside the chain


async def test_two_team_repositories_reaching_it_are_ambiguous(tmp_path):
    with pytest.raises(ConfigError, match="team, other-team") as e:
        await find(tmp_path, "maven", ["team", "other-team"])
    assert '[prewarm.targets] maven = "REPOSITORY"' in e.value.hint


async def test_two_ends_of_chains_are_ambiguous(tmp_path):
    with pytest.raises(ConfigError, match=r"several repositories .*: other-team, team") as e:
        await find(tmp_path, "maven", [])
    assert "[prewarm.targets] maven" in e.value.hint


async def test_no_chain_reaches_the_connection(tmp_path):
    with pytest.raises(ConfigError, match="no repository of domain acme reaches an external "
                       "connection for pypi"):
        await find(tmp_path, "pypi", ["team"])


def test_team_repositories_of_the_format_first():
    rows = [{"mode": "copy", "target": "npm-team", "format": "npm"},
            {"mode": "copy", "target": "team", "format": "maven"},
            {"mode": "prewarm", "target": "maven-store", "format": "maven"}]
    assert team_repositories(rows, "maven") == ["team"]
    assert team_repositories(rows, "pypi") == ["npm-team", "team"]


class Target:
    """An injected target whose client is the fake control plane."""

    def __init__(self, client) -> None:
        self.client = client

    async def pypi_files(self, repository, name):
        return []


async def test_queue_lockfiles_uses_the_found_target(tmp_path):
    q = WorkQueue.open(tmp_path / "s.sqlite")
    try:
        rid = q.upsert_repository(source="maven-internal", target="team", format=Format.MAVEN,
                                  repo_type=RepoType.HOSTED, mode="copy")
        q.record_page(rid, [(DiscoveredAsset(
            path="com/acme/x/1.0/x-1.0.jar", size=1, checksums={},
            coordinates=Coordinates(Format.MAVEN, "com.acme", "x", "1.0"),
            kind=AssetKind.ARTIFACT), None)], cursor=None, done=True)
        found = await queue_lockfiles(manifest(tmp_path), q, Target(FakeClient(DOMAIN)),
                                      [LOCKS / "maven/gradle.lockfile"])
        assert found.targets == {"maven": "team"}
        target = q.conn.execute("SELECT target FROM repositories WHERE source = "
                                "'lockfiles:maven'").fetchone()[0]
        assert target == "team"
    finally:
        q.close()
