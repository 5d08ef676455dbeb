"""Dependency-confusion decisions with fakes: package group matching, the order in which a
pre-warm and a publish of one name both succeed, what protects a finding, the PyPI simple
page reading, and `check` over a fake CodeArtifact (which repository it asks, what it keeps)."""

from __future__ import annotations

import json
import sqlite3
from types import SimpleNamespace

import anyio
import pytest

from migrator.manifest import Namespace, parse_manifest
from migrator.pipeline.confusion import PackageKey, check, covering_group, plan_order
from migrator.state.queries import CONFUSION_FINDINGS
from migrator.target.errors import NotFound
from migrator.target.provision import _pypi_versions

NS = [Namespace(format="npm", pattern="@acme/*"), Namespace(format="maven", pattern="com.acme~"),
      Namespace(format="pypi", pattern="Acme_Tools~"), Namespace(format="npm", pattern="@acme/ui~")]


@pytest.mark.parametrize(("fmt", "ns", "name", "group"), [
    ("npm", "acme", "utils", "/npm/acme/*"),
    ("npm", "acme", "ui-kit", "/npm/acme/ui~"),  # the most specific group wins
    ("npm", "other", "utils", None),
    ("npm", "", "acme", None),
    ("maven", "com.acme.tools", "core", "/maven/com.acme~"),
    ("maven", "com.acmex", "core", "/maven/com.acme~"),  # a prefix is a prefix
    ("maven", "org.acme", "core", None),
    ("pypi", "", "acme.tools.cli", "/pypi//acme-tools~"),  # names normalised as AWS does
    ("pypi", "", "acme", None),
])
def test_covering_group(fmt, ns, name, group) -> None:
    assert covering_group(NS, fmt, ns, name) == group


def test_plan_order_prewarms_first_and_names_the_impossible() -> None:
    internal = [PackageKey("team-npm", "npm", "", "left-pad"),
                PackageKey("team-npm", "npm", "acme", "utils"),
                PackageKey("team-pypi", "pypi", "", "six")]
    prewarm = [PackageKey("team-npm", "npm", "", "left-pad"),  # same repository: trap
               PackageKey("npm-proxy", "npm", "", "left-pad"),  # another repository: fine
               PackageKey("team-npm", "npm", "acme", "utils"),  # blocked by the group
               PackageKey("team-npm", "npm", "", "ms")]
    order = plan_order(internal, prewarm, NS)
    assert order.prewarm_first == [PackageKey("team-npm", "npm", "", "left-pad")]
    assert order.impossible == [(PackageKey("team-npm", "npm", "acme", "utils"),
                                 "package group /npm/acme/* blocks external upstreams for this "
                                 "internal namespace")]
    assert order.notes()[0].startswith("left-pad in team-npm: pre-warm its public versions "
                                       "first")
    assert plan_order(internal, [], NS).notes() == []


def test_pypi_versions_come_from_the_file_names() -> None:
    page = ('<a href="../../files/six-1.16.0-py2.py3-none-any.whl#sha256=ab">x</a>'
            '<a href="https://h/six-1.15.0.tar.gz">y</a><a href="/README.txt">z</a>')
    assert _pypi_versions(page) == ["1.15.0", "1.16.0"]


class FakeQueue:
    def __init__(self, repos, names, findings=()) -> None:
        self.repos, self.names, self.versions = repos, names, {}
        self.meta = {CONFUSION_FINDINGS: json.dumps(list(findings))}
        # what the ordering reads by SQL: no versions (ordering has its own tests)
        self.conn = sqlite3.connect(":memory:")
        self.conn.executescript(
            "CREATE TABLE repositories (id, mode, target, format);"
            "CREATE TABLE versions (repository_id, namespace, package, status, attempts);")

    def repositories(self):
        return self.repos

    def package_names(self, repository_id):
        return self.names[repository_id]

    def package_versions(self, repository_id):
        return self.versions.get(repository_id, {})

    def confusion_findings(self):
        return json.loads(self.meta.get(CONFUSION_FINDINGS) or "[]")

    def set_meta(self, key, value):
        self.meta[key] = value


class FakeHttp:
    def __init__(self, public: dict[str, dict]) -> None:
        self.public, self.urls = public, []

    async def request(self, method, url, **kw):
        self.urls.append(url)
        if url not in self.public:
            raise NotFound(f"CodeArtifact: GET {url}: 404")
        return SimpleNamespace(json=lambda: self.public[url], text="")


class FakeClient:
    domain, domain_owner, read_policy, write_policy = "acme", "1", None, None

    def __init__(self, repos: dict[str, dict], public: dict[str, dict]) -> None:
        self.repos, self.http = repos, FakeHttp(public)

    async def _call(self, operation, *, policy, **params):
        if operation == "DescribeRepository":
            return {"repository": self.repos[params["repository"]]}
        if operation == "DescribePackageGroup":
            raise NotFound("no group")
        raise AssertionError(operation)

    async def endpoint(self, repository, fmt):
        return f"https://ca/{fmt}/{repository}/"


MANIFEST = """
[source]
kind = "nexus"
url = "https://nexus.example.com"
[target]
domain = "acme"
domain_owner = "111122223333"
region = "us-east-1"
[[repositories]]
source = "npm-internal"
target = "team-npm"
[options]
origin_control = "ORIGIN"
"""


def run_check(origin: str, findings=()):
    m = parse_manifest(MANIFEST.replace("ORIGIN", origin), "m.toml")
    queue = FakeQueue([{"id": 1, "format": "npm", "target": "team-npm", "mode": "copy"},
                       {"id": 2, "format": "npm", "target": "lonely", "mode": "copy"},
                       {"id": 3, "format": "generic", "target": "raw", "mode": "copy"}],
                      {1: [("", "left-pad"), ("acme", "utils")], 2: [("", "x")], 3: []},
                      findings)
    client = FakeClient(
        {"team-npm": {"upstreams": [{"repositoryName": "platform"}]},
         "platform": {"upstreams": [{"repositoryName": "npm-store"}]},
         "npm-store": {"externalConnections": [{"externalConnectionName": "public:npmjs"}]},
         "lonely": {}},
        {"https://ca/npm/npm-store/left-pad": {"versions": {"1.3.0": {}, "1.0.0": {}}}})
    return anyio.run(lambda: check(m, queue, client)), queue, client


def test_check_asks_the_repository_owning_the_connection_and_keeps_the_findings() -> None:
    report, queue, client = run_check("block-upstream")
    # read through the proxy that owns the connection, never through the team repository
    assert sorted(client.http.urls) == ["https://ca/npm/npm-store/@acme%2futils",
                                        "https://ca/npm/npm-store/left-pad"]
    [f] = report.findings
    assert (f.display, f.repository, f.via, f.connection, f.public_versions, f.protected) == \
        ("left-pad", "team-npm", "npm-store", "public:npmjs", ["1.0.0", "1.3.0"], True)
    assert "upstream=BLOCK" in f.protection
    assert report.checked == 2
    assert report.unchecked == [("lonely", "npm", "no npm external connection in its upstream "
                                 "chain: no public name resolves through it")]
    assert [x["display"] for x in queue.confusion_findings()] == ["left-pad"]
    # what needs origin control before its first publish: the public name only ("x" has no
    # route to a public registry, @acme/utils was looked up and is not public)
    assert report.exposed() == {("team-npm", "npm", "", "left-pad")}


def test_an_unprotected_finding_says_so_and_earlier_findings_stay() -> None:
    earlier = {"repository": "team-npm", "format": "npm", "namespace": "", "package": "ms",
               "display": "ms", "connection": "public:npmjs", "via": "npm-store",
               "public_versions": ["2.1.3"], "protection": "…", "protected": True}
    report, _, _ = run_check("leave", [earlier])
    assert [f.display for f in report.findings] == ["left-pad", "ms"]
    left = report.findings[0]
    assert not left.protected and left.protection.startswith("NOT protected")
    assert "! left-pad (npm, team-npm): also in public:npmjs" in report.render()


def test_a_failed_look_up_is_reported_not_fatal() -> None:
    from migrator.target.errors import PublishError

    class Failing(FakeHttp):
        async def request(self, method, url, **kw):
            raise PublishError(f"CodeArtifact: GET {url}: 503 after 5 attempts",
                               retryable=True)

    m = parse_manifest(MANIFEST.replace("ORIGIN", "block-upstream"), "m.toml")
    queue = FakeQueue([{"id": 1, "format": "npm", "target": "npm-store", "mode": "copy"}],
                      {1: [("", "left-pad")]})
    client = FakeClient({"npm-store": {"externalConnections": [
        {"externalConnectionName": "public:npmjs"}]}}, {})
    client.http = Failing({})
    report = anyio.run(lambda: check(m, queue, client))
    assert report.findings == []
    assert report.unchecked == [("npm-store", "npm", "left-pad: the look-up failed: "
                                 "CodeArtifact: GET https://ca/npm/npm-store/left-pad: 503 "
                                 "after 5 attempts")]
    # not known to be private: it gets origin control before its first publish
    assert report.exposed() == {("npm-store", "npm", "", "left-pad")}


def test_a_chain_that_cannot_be_read_leaves_its_names_maybe_public() -> None:
    """The search order could not be read (DescribeRepository failed): a connection may be
    there, so the names count as exposed; a chain read in full without one does not."""
    from migrator.target.errors import PublishError

    class Broken(FakeClient):
        async def _call(self, operation, *, policy, **params):
            if operation == "DescribeRepository" and params["repository"] == "platform":
                raise PublishError("CodeArtifact DescribeRepository: 500 after 5 attempts",
                                   retryable=True)
            return await super()._call(operation, policy=policy, **params)

    m = parse_manifest(MANIFEST.replace("ORIGIN", "block-upstream"), "m.toml")
    queue = FakeQueue([{"id": 1, "format": "npm", "target": "team-npm", "mode": "copy"}],
                      {1: [("", "left-pad"), ("acme", "utils")]})
    client = Broken({"team-npm": {"upstreams": [{"repositoryName": "platform"}]}}, {})
    report = anyio.run(lambda: check(m, queue, client))
    assert client.http.urls == [] and report.findings == []
    [(repo, fmt, why)] = report.unchecked
    assert (repo, fmt) == ("team-npm", "npm") and "could not be read (platform)" in why
    assert report.exposed() == {("team-npm", "npm", "", "left-pad"),
                                ("team-npm", "npm", "acme", "utils")}


@pytest.mark.parametrize(("listed", "public"), [
    (["1.0", "2.0.0"], ["2.0.0"]),  # PEP 440: 1.0 is the internal 1.0.0
    (["1.0.0"], None),  # only what was migrated: no collision
])
def test_a_repository_owning_the_connection_lists_its_own_versions_too(listed, public) -> None:
    manifest = MANIFEST.replace("ORIGIN", "block-upstream").replace('target = "team-npm"',
                                                                     'target = "pypi-store"')
    m = parse_manifest(manifest, "m.toml")
    queue = FakeQueue([{"id": 1, "format": "pypi", "target": "pypi-store", "mode": "copy"}],
                      {1: [("", "acme-lib")]})
    queue.versions = {1: {("", "acme-lib"): {"1.0.0"}}}
    client = FakeClient({"pypi-store": {"externalConnections": [
        {"externalConnectionName": "public:pypi"}]}}, {})

    async def simple(method, url, **kw):
        links = "".join(f'<a href="acme_lib-{v}-py3-none-any.whl">x</a>' for v in listed)
        return SimpleNamespace(text=links)

    client.http.request = simple
    report = anyio.run(lambda: check(m, queue, client))
    assert [f.public_versions for f in report.findings] == ([public] if public else [])
