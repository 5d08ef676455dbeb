"""What a sync does to a state, with injected fakes: one listing page compared with the state,
changed files of migrated versions as conflicts, deletions at the source, files listed again,
scoping by use and time (whole versions), npm metadata fingerprints, and the edges (no state,
a delete policy other than report, stage names)."""

from __future__ import annotations

import anyio
import pytest

from migrator.errors import ConfigError, ManifestError
from migrator.manifest import parse_manifest, parse_stage
from migrator.models import (
    AssetKind,
    AssetUpdate,
    Coordinates,
    DiscoveredAsset,
    Format,
    RepoType,
    VersionResult,
)
from migrator.pipeline.sync import npm_metadata, sync
from migrator.state import WorkQueue
from migrator.state import sync as sync_state

SHA_A, SHA_B = "a" * 40, "b" * 40


def files(version: str, *, sha1: str = SHA_A, names=("jar", "pom"), downloaded=None,
          created=None):
    c = Coordinates(Format.MAVEN, "g", "a", version)
    return [(DiscoveredAsset(path=f"g/a/{version}/a-{version}.{ext}", size=10,
                             checksums={"sha1": sha1}, coordinates=c, kind=AssetKind.ARTIFACT,
                             last_modified="2026-11-01T00:00:00.000Z",
                             last_downloaded=downloaded, created=created), None)
            for ext in names]


@pytest.fixture
def q(tmp_path):
    queue = WorkQueue.open(tmp_path / "s.sqlite")
    yield queue
    queue.close()


@pytest.fixture
def rid(q) -> int:
    return q.upsert_repository(source="maven-releases", target="maven-releases",
                               format=Format.MAVEN, repo_type=RepoType.HOSTED, mode="copy")


def verify_all(q) -> None:
    for status in ("published", "verified"):
        vs = q.claim("w", limit=100)
        q.finish("w", [VersionResult(v.id, status, assets=[
            AssetUpdate(a.id, status, target={"sha1": SHA_A}) for a in v.assets]) for v in vs])


def test_an_unchanged_page_costs_one_read_and_one_write_and_queues_nothing(q, rid):
    q.record_page(rid, files("1.0") + files("1.1"), cursor=None, done=True)
    verify_all(q)
    statements: list[str] = []
    q.conn.set_trace_callback(statements.append)
    diff = sync_state.compare_page(q, rid, files("1.0") + files("1.1"), sync_id=1)
    q.conn.set_trace_callback(None)
    assert (diff.new, diff.refresh, diff.changed, diff.unchanged) == ([], [], [], 4)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    assert len(selects) == 1 and len(updates) == 1  # per page, not per asset


def test_new_changed_and_deleted_files(q, rid):
    q.record_page(rid, files("1.0") + files("1.1"), cursor=None, done=True)
    verify_all(q)
    listing = files("1.0", sha1=SHA_B)[:1] + files("1.0")[1:] + files("2.0")
    diff = sync_state.compare_page(q, rid, listing, sync_id=1)
    assert [a.path for a, _ in diff.new] == ["g/a/2.0/a-2.0.jar", "g/a/2.0/a-2.0.pom"]
    [changed] = diff.changed
    assert (changed.path, changed.listed, changed.target) == (
        "g/a/1.0/a-1.0.jar", {"sha1": SHA_B}, {"sha1": SHA_A})
    q.record_page(rid, diff.new, cursor=None, done=True)
    sync_state.mark_seen(q, rid, [a.path for a, _ in diff.new], 1)
    sync_state.mark_conflicts(q, diff.changed, ["both hashes"])
    n, shown = sync_state.mark_deleted(q, rid, 1, "gone")
    assert n == 2 and {d.path for d in shown} == {"g/a/1.1/a-1.1.jar", "g/a/1.1/a-1.1.pom"}
    c = q.counts()["maven-releases"]
    assert c.assets == {"conflict": 1, "verified": 1, "discovered": 2, "deleted_at_source": 2}
    assert c.versions == {"conflict": 1, "discovered": 1, "deleted_at_source": 1}
    assert sum(c.assets.values()) == q.asset_total()  # totals add up
    # deleted files are never claimed; the new version is, with its files only
    [v] = q.claim("w", limit=10)
    assert v.version == "2.0"
    q.release("w")
    # the conflict is not seen as a change again: its listed checksums are recorded
    again = sync_state.compare_page(q, rid, listing, sync_id=2)
    assert again.changed == [] and again.new == []


def test_a_file_listed_again_goes_back_to_the_queue(q, rid):
    q.record_page(rid, files("1.0"), cursor=None, done=True)
    verify_all(q)
    sync_state.mark_deleted(q, rid, 1, "gone")
    assert q.counts()["maven-releases"].versions == {"deleted_at_source": 1}
    diff = sync_state.compare_page(q, rid, files("1.0"), sync_id=2)
    assert len(diff.refresh) == 2
    assert q.counts()["maven-releases"].versions == {"discovered": 1}
    q.record_page(rid, diff.refresh, cursor=None, done=True)
    [v] = q.claim("w", limit=10)
    assert {a.status for a in v.assets} == {"discovered"}


def test_an_incremental_listing_tells_paths_the_state_does_not_know(q, rid):
    q.record_page(rid, files("1.0"), cursor=None, done=True)
    unknown = sync_state.mark_seen(q, rid, ["g/a/1.0/a-1.0.jar", "g/a/1.0/a-1.0.jar",
                                            "copied/with/an/old/date.jar"], 1)
    assert unknown == 1


def test_scoping_keeps_whole_versions_and_counts_the_rest_with_the_reason(q, rid):
    used = files("1.0", downloaded=None)[:1] + files("1.0", downloaded="2026-11-20T00:00:00.000Z"
                                                     )[1:]
    q.record_page(rid, used + files("0.9") + files("1.1", created="2026-11-25T00:00:00.000Z"),
                  cursor=None, done=True)
    from migrator.pipeline.scope import record_page_dates

    record_page_dates(q, rid, used + files("1.1", created="2026-11-25T00:00:00.000Z"))
    n = sync_state.scope_versions(q, rid, downloaded_since="2026-11-01T00:00:00.000Z",
                                  published_since=None, reason="not used lately")
    assert n == 2  # 0.9 and 1.1: no file downloaded since; 1.0 kept whole for its pom
    c = q.counts()["maven-releases"]
    assert c.versions == {"discovered": 1, "excluded": 2}
    assert c.assets == {"discovered": 2, "excluded": 4}
    [v] = q.claim("w", limit=10)
    assert v.version == "1.0" and len(v.assets) == 2


def test_scoping_by_publication_date(q, rid):
    q.record_page(rid, files("1.0", created="2024-01-01T00:00:00.000Z")
                  + files("2.0", created="2026-06-01T00:00:00.000Z"), cursor=None, done=True)
    from migrator.pipeline.scope import record_page_dates

    record_page_dates(q, rid, files("1.0", created="2024-01-01T00:00:00.000Z")
                      + files("2.0", created="2026-06-01T00:00:00.000Z"))
    assert sync_state.scope_versions(q, rid, downloaded_since=None,
                                     published_since="2025-01-01T00:00:00.000Z",
                                     reason="old") == 1
    assert q.counts()["maven-releases"].versions == {"discovered": 1, "excluded": 1}


MANIFEST = """
[source]
kind = "nexus"
url = "http://127.0.0.1:9"
[target]
domain = "acme"
domain_owner = "111122223333"
region = "eu-west-1"
[[repositories]]
source = "maven-releases"
target = "maven-releases"
stage = "pilot"
[[repositories]]
source = "raw"
target = "raw"
stage = 2
[options]
"""


def test_delete_policy_other_than_report_is_refused_with_why():
    with pytest.raises(ManifestError, match=r"options\.delete_policy.*immutable"):
        parse_manifest(MANIFEST + 'delete_policy = "propagate"\n', "m.toml")
    m = parse_manifest(MANIFEST, "m.toml")
    assert m.options.delete_policy == "report" and m.options.sync_overlap_minutes == 10


def test_stages_are_numbers_or_names():
    m = parse_manifest(MANIFEST, "m.toml")
    assert [r.stage for r in m.repositories] == ["pilot", 2]
    assert parse_stage("2") == 2 and parse_stage("pilot") == "pilot"
    with pytest.raises(ManifestError, match="stage"):
        parse_manifest(MANIFEST.replace('"pilot"', '"no spaces allowed"'), "m.toml")


def test_stage_names_are_kept_in_the_state(q):
    q.upsert_repository(source="a", target="a", format=Format.MAVEN,
                        repo_type=RepoType.HOSTED, mode="copy", stage="pilot")
    q.upsert_repository(source="b", target="b", format=Format.MAVEN,
                        repo_type=RepoType.HOSTED, mode="copy", stage=2)
    assert [r["stage"] for r in q.repositories()] == ["pilot", 2]
    assert len(q.repository_ids(stage="pilot")) == 1 and len(q.repository_ids(stage=2)) == 1
    assert q.repository_ids(stage=1) == []


def test_sync_without_a_state_is_a_configuration_error(tmp_path):
    (tmp_path / "m.toml").write_text(MANIFEST)
    m = parse_manifest(MANIFEST, tmp_path / "m.toml")
    with pytest.raises(ConfigError, match="run `migrator run") as exc:
        sync(m, tmp_path / "none.sqlite", check_first=False)
    assert exc.value.exit_code == 2


class FakeSource:
    def __init__(self, packument):
        self.packument = packument
        self.reads = 0

    async def npm_packument(self, repository, name):
        self.reads += 1
        return self.packument


class FakeTarget:
    def __init__(self):
        self.calls = []

    async def restore_npm(self, target, source, name, *, packument=None, prune=False):
        self.calls.append((name, prune, dict(packument["dist-tags"])))
        return {"moved": {"beta": "2.0.0"}, "removed": {}, "deprecated": {},
                "deprecations_put": [], "undeprecated": [], "skipped": {}}


def test_npm_metadata_is_synced_only_when_the_source_changed(q):
    rid = q.upsert_repository(source="npm-internal", target="npm-internal", format=Format.NPM,
                              repo_type=RepoType.HOSTED, mode="copy")
    c = Coordinates(Format.NPM, "", "left-pad", "1.0.0")
    q.record_page(rid, [(DiscoveredAsset(path="left-pad/-/left-pad-1.0.0.tgz", size=1,
                                         checksums={}, coordinates=c), None)],
                  cursor=None, done=True)
    verify_all(q)
    source = FakeSource({"dist-tags": {"latest": "1.0.0"}, "versions": {"1.0.0": {}}})
    target = FakeTarget()
    first = anyio.run(npm_metadata, q, source, target, [rid])
    assert target.calls == [("left-pad", True, {"latest": "1.0.0"})]
    assert first["npm-internal/left-pad"]["dist_tags_set"] == {"beta": "2.0.0"}
    # nothing changed at the source: a read, no target call
    assert anyio.run(npm_metadata, q, source, target, [rid]) == {}
    assert len(target.calls) == 1 and source.reads == 2
    # a tag added at the source: synced again
    source.packument = {"dist-tags": {"latest": "1.0.0", "next": "1.0.0"},
                        "versions": {"1.0.0": {}}}
    anyio.run(npm_metadata, q, source, target, [rid])
    assert len(target.calls) == 2


def test_a_changed_file_of_a_version_back_in_the_queue_stops_it_as_a_conflict(q, rid):
    q.record_page(rid, files("1.0"), cursor=None, done=True)
    verify_all(q)
    # a sync finds a new classifier: the version is back in the queue ...
    q.record_page(rid, files("1.0", names=("jar", "pom", "sources.jar")), cursor=None,
                  done=True)
    assert q.counts()["maven-releases"].versions == {"discovered": 1}
    # ... and the next one finds its jar changed: nothing more of it is published
    diff = sync_state.compare_page(q, rid, files("1.0", sha1=SHA_B, names=("jar",)), 1)
    sync_state.mark_conflicts(q, diff.changed, ["both hashes"])
    assert q.counts()["maven-releases"].versions == {"conflict": 1}
    assert q.claim("w", limit=10) == []


def test_scoping_options_are_checked():
    m = parse_manifest(MANIFEST + "downloaded_within_days = 30\npublished_after = 2024-01-31\n",
                       "m.toml")
    assert (m.options.downloaded_within_days, m.options.published_after) == (30, "2024-01-31")
    with pytest.raises(ManifestError, match="published_after"):
        parse_manifest(MANIFEST + 'published_after = "last spring"\n', "m.toml")
    with pytest.raises(ManifestError, match="downloaded_within_days"):
        parse_manifest(MANIFEST + "downloaded_within_days = 0\n", "m.toml")
    from migrator.pipeline.scope import scope_for

    scope = scope_for(m.options)
    assert scope is not None and scope.published_since == "2024-01-31T00:00:00.000Z"
    assert "kept whole" in scope.reason
    assert scope_for(parse_manifest(MANIFEST, "m.toml").options) is None


class NexusLike:
    """A source with one Maven repository and no server-side filter (a full listing)."""

    kind, system = "nexus", "Nexus"
    asset_name_map = None

    def __init__(self, listing):
        self.listing = listing  # path -> (sha1, modified)
        self.calls: list[str] = []

    async def repositories(self):
        from migrator.models import SourceRepository

        return [SourceRepository("maven-releases", Format.MAVEN, RepoType.HOSTED)]

    def _page(self, paths):
        from migrator.sources import Page, build_asset

        items = [build_asset(Format.MAVEN, "maven-releases", p, size=10,
                             checksums={"sha1": self.listing[p][0]},
                             last_modified=self.listing[p][1]) for p in paths]
        return Page(items=items, cursor=None, done=True)

    async def crawl(self, repo, cursor=None):
        self.calls.append("crawl")
        yield self._page(sorted(self.listing))

    async def aclose(self):
        pass


class ArtifactoryLike(NexusLike):
    """... answering AQL on `modified` and a paths-only listing."""

    kind, system = "artifactory", "Artifactory"

    async def crawl_modified(self, repo, since):
        self.calls.append(f"modified>={since}")
        yield self._page(sorted(p for p, (_, mod) in self.listing.items() if mod >= since))

    async def list_paths(self, repo, criteria=None):
        self.calls.append("paths")
        yield sorted(self.listing)


MAVEN_ONLY = """
[source]
kind = "artifactory"
url = "http://127.0.0.1:9"
[target]
domain = "acme"
domain_owner = "111122223333"
region = "eu-west-1"
[[repositories]]
source = "maven-releases"
target = "maven-releases"
[options]
snapshots = "latest"
"""

OLD = "2026-11-01T00:00:00.000Z"


def _jar(v):
    return f"g/a/{v}/a-{v}.jar"


def test_an_incremental_listing_asks_since_the_mark_minus_the_overlap(q, tmp_path):
    from migrator.pipeline.sync import _listing

    m = parse_manifest(MAVEN_ONLY, tmp_path / "m.toml")
    source = {_jar("1.0"): (SHA_A, OLD)}
    c = ArtifactoryLike(source)
    [first] = anyio.run(_listing, m, q, None, c)
    assert first.listing == "full" and first.new == 1  # nothing in the state: no mark yet
    verify_all(q)
    source[_jar("1.1")] = (SHA_A, "2026-11-30T00:00:00.000Z")
    c = ArtifactoryLike(source)
    [second] = anyio.run(_listing, m, q, None, c)
    assert c.calls == ["modified>=2026-10-31T23:50:00.000Z", "paths"]
    # the overlap lists 1.0 again (unchanged); 1.1 is new
    assert (second.listing, second.new, second.unchanged) == ("incremental", 1, 1)


def test_a_path_new_to_the_state_but_not_modified_since_makes_it_list_in_full(q, tmp_path):
    from migrator.pipeline.sync import _listing

    m = parse_manifest(MAVEN_ONLY, tmp_path / "m.toml")
    source = {_jar("1.0"): (SHA_A, "2026-11-30T00:00:00.000Z")}
    anyio.run(_listing, m, q, None, ArtifactoryLike(source))
    source[_jar("0.9")] = (SHA_A, "2020-01-01T00:00:00.000Z")  # copied with its old date
    c = ArtifactoryLike(source)
    [rs] = anyio.run(_listing, m, q, None, c)
    assert c.calls[-1] == "crawl" and rs.listing == "full" and rs.new == 1
    assert "listed in full" in rs.note


def test_a_new_snapshot_build_supersedes_the_waiting_one(q, tmp_path):
    from migrator.pipeline.sync import _listing

    m = parse_manifest(MAVEN_ONLY, tmp_path / "m.toml")
    old = "g/a/1.0-SNAPSHOT/a-1.0-20260101.101010-1.jar"
    new = "g/a/1.0-SNAPSHOT/a-1.0-20260102.101010-2.jar"
    source = {old: (SHA_A, OLD)}
    anyio.run(_listing, m, q, None, NexusLike(source))
    source[new] = (SHA_B, OLD)
    anyio.run(_listing, m, q, None, NexusLike(source))
    versions = dict(q.conn.execute("SELECT version, status FROM versions"))
    assert versions == {"1.0-20260101.101010-1": "excluded", "1.0-20260102.101010-2":
                        "discovered"}


def test_sync_refuses_a_state_of_another_source(tmp_path):
    from migrator.pipeline.plan import remember_manifest

    m = parse_manifest(MANIFEST, tmp_path / "m.toml")
    with WorkQueue.open(tmp_path / "s.sqlite") as queue:
        remember_manifest(queue, m)
    other = parse_manifest(MANIFEST.replace("127.0.0.1:9", "127.0.0.1:10"), tmp_path / "m.toml")
    with pytest.raises(ConfigError, match=r"holds a migration from nexus http://127\.0\.0\.1:9"):
        sync(other, tmp_path / "s.sqlite", check_first=False)


def test_a_partitioned_state_syncs_only_its_own_packages(q, tmp_path):
    """With an ownership rule (a shard's), files of other parts are neither queued nor
    taken for files new to the state (which would force a full listing every time)."""
    from migrator.pipeline.sync import _listing

    def owns(repository, asset):
        return asset.coordinates is None or asset.coordinates.version != "1.1"

    m = parse_manifest(MAVEN_ONLY, tmp_path / "m.toml")
    source = {_jar("1.0"): (SHA_A, OLD), _jar("1.1"): (SHA_A, OLD)}
    [first] = anyio.run(_listing, m, q, None, NexusLike(source), owns)
    assert first.new == 1
    source[_jar("1.2")] = (SHA_A, "2026-11-30T00:00:00.000Z")
    c = ArtifactoryLike(source)
    [rs] = anyio.run(_listing, m, q, None, c, owns)
    assert rs.listing == "incremental" and rs.note is None and rs.new == 1
    assert sorted(v for v, in q.conn.execute("SELECT version FROM versions")) == ["1.0", "1.2"]
