"""`target init`'s decisions without a network: the manifest's topology tables, the order of
creation, what counts as breaking an existing repository, and the writes it makes."""

from __future__ import annotations

import re
from pathlib import Path

import anyio
import pytest

from migrator.errors import ConfigError, ManifestError
from migrator.manifest import TargetRepository, load_manifest, parse_manifest
from migrator.pipeline.provision import diff, order_repositories, provision
from migrator.target.errors import NotFound
from migrator.target.provision import DomainState, RepositoryState

HEAD = """
[source]
kind = "nexus"
url = "https://nexus.example.com"

[target]
domain = "acme"
domain_owner = "111122223333"
region = "us-east-1"
KMS

[[repositories]]
source = "npm-internal"
target = "team-npm"
"""

TOPOLOGY = """
[[target.repositories]]
name = "team-npm"
upstreams = ["platform-npm", "shared"]

[[target.repositories]]
name = "platform-npm"
upstreams = ["npmjs-proxy"]

[[target.repositories]]
name = "npmjs-proxy"
external_connection = "public:npmjs"
formats = ["npm"]

[[target.repositories]]
name = "shared"
"""


def parse(extra: str = TOPOLOGY, kms: str = ""):
    return parse_manifest(HEAD.replace("KMS", kms) + extra, "acme.toml")


def existing(**repos: tuple[tuple[str, ...], tuple[str, ...]]) -> DomainState:
    state = DomainState(exists=True, names=set(repos))
    for name, (ups, conns) in repos.items():
        state.repositories[name] = RepositoryState(name, "", ups, conns)
    return state


def test_a_new_domain_is_built_upstreams_first() -> None:
    changes = diff(parse(), DomainState(exists=False))
    actions = [(c.action, c.subject) for c in changes]
    assert actions[0] == ("create-domain", "acme")
    created = [s for a, s in actions if a == "create-repository"]
    assert created.index("npmjs-proxy") < created.index("platform-npm") < \
        created.index("team-npm")
    assert created.index("shared") < created.index("team-npm")
    assert ("associate-external-connection", "npmjs-proxy") in actions
    assert not any(c.breaking for c in changes)


def test_nothing_to_do_when_codeartifact_matches() -> None:
    state = existing(**{"team-npm": (("platform-npm", "shared"), ()),
                        "platform-npm": (("npmjs-proxy",), ()),
                        "npmjs-proxy": ((), ("public:npmjs",)), "shared": ((), ())})
    assert diff(parse(), state) == []


@pytest.mark.parametrize(("current", "breaking"), [
    (("shared", "platform-npm"), "reorders its upstreams"),
    (("platform-npm", "shared", "legacy"), "removes upstream(s) legacy"),
    (("platform-npm",), None),  # adding one at the end keeps the order
    (("shared",), None),  # inserting before keeps the existing ones' relative order
])
def test_what_breaks_an_existing_repository(current, breaking) -> None:
    state = existing(**{"team-npm": (current, ()), "platform-npm": (("npmjs-proxy",), ()),
                        "npmjs-proxy": ((), ("public:npmjs",)), "shared": ((), ()),
                        "legacy": ((), ())})
    [change] = diff(parse(), state)
    assert change.action == "set-upstreams"
    assert change.args == {"upstreams": ["platform-npm", "shared"]}
    if breaking is None:
        assert change.breaking is None
    else:
        assert breaking in change.breaking


def test_removing_or_replacing_a_connection_breaks() -> None:
    state = existing(**{"team-npm": (("platform-npm", "shared"), ()),
                        "platform-npm": (("npmjs-proxy",), ("public:pypi",)),
                        "npmjs-proxy": ((), ("public:maven-central",)), "shared": ((), ())})
    changes = diff(parse(), state)
    by = {(c.action, c.subject): c for c in changes}
    assert "removes its external connection public:pypi" in \
        by[("disassociate-external-connection", "platform-npm")].breaking
    assert "replaces its external connection public:maven-central by public:npmjs" in \
        by[("disassociate-external-connection", "npmjs-proxy")].breaking
    assert by[("associate-external-connection", "npmjs-proxy")].breaking is None


def test_unknown_upstreams_cycles_and_another_key_are_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="upstream 'nowhere' is neither in the manifest"):
        diff(parse('[[target.repositories]]\nname = "ra"\nupstreams = ["nowhere"]\n'),
             DomainState(exists=True))
    loop = (TargetRepository(name="a", upstreams=("b",)),
            TargetRepository(name="b", upstreams=("a",)))
    with pytest.raises(ConfigError, match="cycle: a → b → a"):
        order_repositories(loop)
    kms = 'kms_key = "arn:aws:kms:us-east-1:111122223333:key/abc"'
    state = DomainState(exists=True, encryption_key="arn:aws:kms:us-east-1:111122223333:key/x")
    with pytest.raises(ConfigError, match="a domain's key cannot be changed"):
        diff(parse('[[target.repositories]]\nname = "ra"\n', kms=kms), state)


@pytest.mark.parametrize(("table", "key"), [
    ('[[target.repositories]]\nname = "ra"\nexternal_connection = "public:npm"\n',
     "target.repositories[0].external_connection"),
    ('[[target.repositories]]\nname = "ra"\nexternal_connection = "public:pypi"\n'
     'formats = ["npm"]\n', "target.repositories[0].external_connection"),
    ('[[target.repositories]]\nname = "ra"\nupstreams = ["ra"]\n',
     "target.repositories[0].upstreams"),
    ('[[target.repositories]]\nname = "ra"\nupstreams = ['
     + ", ".join(f'"u{i}"' for i in range(11)) + "]\n", "target.repositories[0].upstreams"),
    ('[[target.repositories]]\nname = "ra"\n[[target.repositories]]\nname = "ra"\n',
     "target.repositories[1].name"),
    ('[[target.repositories]]\nname = "ra"\nformat = "npm"\n', "target.repositories[0].format"),
    ('[[namespaces]]\nformat = "maven"\npattern = "com.acme"\n', "namespaces[0].pattern"),
    ('[[namespaces]]\nformat = "nuget"\npattern = "Acme~"\n', "namespaces[0].format"),
    ('[options]\n[options.prices]\nstorage_gb_month = -1\n', "options.prices.storage_gb_month"),
])
def test_bad_topology_tables_name_the_key(table, key) -> None:
    with pytest.raises(ManifestError) as err:
        parse(table)
    assert key in str(err.value)


def test_the_sample_topology_parses() -> None:
    m = load_manifest(Path(__file__).parents[2] / "sample-manifests" / "topology.toml")
    names = [r.name for r in m.target.repositories]
    assert names[:3] == ["maven-central-proxy", "npmjs-proxy", "pypi-proxy"]
    team = {r.name: r for r in m.target.repositories}["team-a-npm"]
    assert team.upstreams == ("platform-npm",)
    assert [n.group_pattern for n in m.namespaces] == ["/npm/acme/*", "/maven/com.acme~",
                                                       "/pypi//acme-~"]
    assert m.options.prices.storage_gb_month == 0.05


class FakeClient:
    """A domain held in memory, answering the control-plane calls `target init` makes."""

    domain, domain_owner = "acme", "111122223333"
    read_policy = write_policy = None

    def __init__(self, state: DomainState) -> None:
        self.state = state
        self.calls: list[tuple[str, dict]] = []

    async def _call(self, operation: str, *, policy, **params):
        self.calls.append((operation, params))
        if operation == "DescribeDomain":
            if not self.state.exists:
                raise NotFound("CodeArtifact DescribeDomain (acme): no such domain")
            return {"domain": {"name": "acme"}}
        if operation == "ListRepositoriesInDomain":
            return {"repositories": [{"name": n} for n in sorted(self.state.names)]}
        if operation == "DescribeRepository":
            r = self.state.repositories[params["repository"]]
            return {"repository": {
                "upstreams": [{"repositoryName": u} for u in r.upstreams],
                "externalConnections": [{"externalConnectionName": c}
                                        for c in r.external_connections]}}
        return {}


def test_refused_changes_write_nothing_and_force_writes_them() -> None:
    state = existing(**{"team-npm": (("shared", "platform-npm"), ()),
                        "platform-npm": (("npmjs-proxy",), ()),
                        "npmjs-proxy": ((), ("public:npmjs",)), "shared": ((), ())})
    fake = FakeClient(state)
    refused = anyio.run(lambda: provision(parse(), fake))
    assert refused.exit_code == 2 and not refused.applied
    assert all(op.startswith(("Describe", "List")) for op, _ in fake.calls)
    assert "--force" in refused.render()
    forced = anyio.run(lambda: provision(parse(), fake, force=True))
    assert forced.exit_code == 0 and forced.applied and forced.write_requests == 1
    assert fake.calls[-1] == ("UpdateRepository", {
        "domain": "acme", "domainOwner": "111122223333", "repository": "team-npm",
        "upstreams": [{"repositoryName": "platform-npm"}, {"repositoryName": "shared"}]})


def test_a_dry_run_counts_and_writes_nothing() -> None:
    fake = FakeClient(DomainState(exists=False))
    result = anyio.run(lambda: provision(parse(), fake, dry_run=True))
    assert [op for op, _ in fake.calls] == ["DescribeDomain"]
    assert result.as_dict()["requests"] == {"read": 1, "write": 0,
                                            "planned_writes": len(result.changes)}
    assert "dry run: 6 write request(s) and 1 read request(s)" in result.render()


def test_a_mapping_into_a_repository_of_other_formats_is_refused() -> None:
    m = parse_manifest(HEAD.replace("KMS", "").replace(
        'target = "team-npm"', 'target = "npmjs-proxy"\nformat = "pypi"') + TOPOLOGY,
        "acme.toml")
    with pytest.raises(ConfigError, match=re.escape(
            "format pypi, but [[target.repositories]] npmjs-proxy is for npm")):
        diff(m, DomainState(exists=False))
