"""The ordering trap read from a state (`confusion.order_from_state`, `prewarm.first_pass_ids`):
an internal name whose public versions are also to be pre-warmed through the same repository
is pre-warmed first; once its internal versions went in (a claim sets upstream=BLOCK before
the first publish) a pre-warm still to do is impossible, with the reason."""

from __future__ import annotations

import pytest

from migrator.manifest import parse_manifest
from migrator.models import AssetKind, Coordinates, DiscoveredAsset, Format, RepoType
from migrator.pipeline.confusion import PackageKey, order_from_state
from migrator.pipeline.prewarm import first_pass_ids
from migrator.state import WorkQueue

MANIFEST = """
[source]
kind = "nexus"
url = "https://nexus.example.com"
[target]
domain = "acme"
domain_owner = "111122223333"
region = "eu-west-1"
[[repositories]]
source = "npm-internal"
target = "team"
"""


@pytest.fixture
def q(tmp_path):
    queue = WorkQueue.open(tmp_path / "s.sqlite")
    yield queue
    queue.close()


def repo(q, source, target, fmt, mode, packages):
    rid = q.upsert_repository(source=source, target=target, format=fmt,
                              repo_type=RepoType.PROXY if mode == "prewarm" else RepoType.HOSTED,
                              mode=mode)
    q.record_page(rid, [(DiscoveredAsset(
        path=f"{name}/-/{name}-{version}.tgz", size=1, checksums={},
        coordinates=Coordinates(fmt, "", name, version), kind=AssetKind.ARTIFACT), None)
        for name, version in packages], cursor=None, done=True)
    return rid


def manifest(tmp_path):
    return parse_manifest(MANIFEST, tmp_path / "m.toml")


def test_an_internal_name_also_prewarmed_in_its_repository_goes_first(tmp_path, q):
    internal = repo(q, "npm-internal", "team", Format.NPM, "copy", [("left-pad", "1.0.0-acme")])
    proxy = repo(q, "npm-proxy", "team", Format.NPM, "prewarm",
                 [("left-pad", "1.3.0"), ("ms", "2.1.3")])
    repo(q, "npm-elsewhere", "other", Format.NPM, "prewarm", [("left-pad", "1.3.0")])
    only_ms = repo(q, "npm-ms", "team", Format.NPM, "prewarm", [("ms", "2.1.2")])
    ordering = order_from_state(manifest(tmp_path), q)
    assert ordering.prewarm_first == [PackageKey("team", "npm", "", "left-pad")]
    assert ordering.impossible == []
    assert ordering.notes() == [
        "left-pad in team: pre-warm its public versions first, then publish the internal ones "
        "(publishing first sets upstream=BLOCK, which blocks the pre-warm)"]
    ids = q.repository_ids()
    # the pass before the publish: only the pre-warm repository holding that name
    assert first_pass_ids(q, ordering, ids) == [proxy]
    assert first_pass_ids(q, ordering, [i for i in ids if i != proxy]) == []
    # neither the copy repository nor a pre-warm repository without such a name
    assert not {internal, only_ms} & set(first_pass_ids(q, ordering, ids))


def test_pypi_names_compare_normalised(tmp_path, q):
    repo(q, "pypi-internal", "team", Format.PYPI, "copy", [("Jaraco.Classes", "3.3.1")])
    repo(q, "lockfiles:pypi", "team", Format.PYPI, "prewarm", [("jaraco-classes", "3.4.0")])
    ordering = order_from_state(manifest(tmp_path), q)
    assert ordering.prewarm_first == [PackageKey("team", "pypi", "", "jaraco-classes")]


def test_too_late_once_an_internal_version_was_claimed(tmp_path, q):
    internal = repo(q, "npm-internal", "team", Format.NPM, "copy", [("left-pad", "1.0.0-acme")])
    proxy = repo(q, "npm-proxy", "team", Format.NPM, "prewarm", [("left-pad", "1.3.0")])
    # a claim may already have set publish=ALLOW, upstream=BLOCK before its publish
    assert len(q.claim("w", limit=1, lease_seconds=60, repository_ids=[internal])) == 1
    ordering = order_from_state(manifest(tmp_path), q)
    assert ordering.prewarm_first == []
    [(key, why)] = ordering.impossible
    assert key == PackageKey("team", "npm", "", "left-pad")
    assert "published there first, which set upstream=BLOCK" in why
    assert "PutPackageOriginConfiguration" in why
    assert first_pass_ids(q, ordering, [internal, proxy]) == []


def test_a_covering_package_group_makes_the_prewarm_impossible(tmp_path, q):
    repo(q, "npm-internal", "team", Format.NPM, "copy", [("left-pad", "1.0.0-acme")])
    repo(q, "npm-proxy", "team", Format.NPM, "prewarm", [("left-pad", "1.3.0")])
    m = parse_manifest(MANIFEST + '[[namespaces]]\nformat = "npm"\npattern = "left-pad"\n',
                       tmp_path / "m.toml")
    ordering = order_from_state(m, q)
    assert ordering.prewarm_first == []
    assert "blocks external upstreams" in ordering.impossible[0][1]
