"""The work queue: crawling pages, claims and leases, completion, release, locking."""

from __future__ import annotations

import json

import pytest

from migrator.errors import IllegalTransition, StateError, StateLockedError
from migrator.models import (
    AssetKind,
    AssetUpdate,
    Coordinates,
    DiscoveredAsset,
    Format,
    RepoType,
    VersionResult,
)
from migrator.state import WorkQueue
from migrator.state.schema import SCHEMA_VERSION


def publish_all(q, owner, versions, status="published"):
    return q.finish(owner, [
        VersionResult(v.id, status, assets=[AssetUpdate(a.id, status) for a in v.assets])
        for v in versions])


def test_record_page_is_idempotent_and_checkpoints_the_cursor(queue, repo_id, maven_version):
    queue.begin_crawl(repo_id)
    page = maven_version("com.acme", "app", "1.0") + maven_version("com.acme", "app", "1.1")
    queue.record_page(repo_id, page, cursor="tok-2", done=False)
    assert queue.crawl_state(repo_id) == ("crawling", "tok-2", 1)
    # the page in flight when a crawl died is recorded again on resume: no duplicates
    queue.record_page(repo_id, page, cursor="tok-2", done=False)
    queue.record_page(repo_id, [], cursor=None, done=True)
    assert queue.crawl_state(repo_id).status == "complete"
    counts = queue.counts()["maven-releases"]
    assert counts.assets == {"discovered": 4}
    assert counts.versions == {"discovered": 2}
    assert counts.bytes == {"discovered": 400}


def test_begin_crawl_resumes_an_unfinished_crawl_and_restarts_a_finished_one(
        queue, repo_id, maven_version):
    queue.begin_crawl(repo_id)
    queue.record_page(repo_id, maven_version("g", "a", "1"), cursor="next", done=False)
    assert queue.begin_crawl(repo_id).cursor == "next"  # resume where it stopped
    queue.record_page(repo_id, [], cursor=None, done=True)
    assert queue.begin_crawl(repo_id) == ("crawling", None, 0)  # a new crawl (sync)


def test_excluded_and_refused_items_are_kept_with_their_reasons(queue, repo_id):
    c = Coordinates(Format.MAVEN, "g", "a", "1")
    items = [
        (DiscoveredAsset(path="g/a/1/a-1.jar.sha1", size=40, checksums={}, coordinates=c,
                         kind=AssetKind.CHECKSUM), "checksum sidecar"),
        (DiscoveredAsset(path="../../etc/passwd", size=1, checksums={}, coordinates=None,
                         refused="path escapes the repository ('..' segment)"), None),
    ]
    queue.record_page(repo_id, items, cursor=None, done=True)
    counts = queue.counts()["maven-releases"]
    assert counts.assets == {"excluded": 1, "failed_permanent": 1}
    assert counts.versions == {"excluded": 1}
    failures, total = queue.failures()
    assert total == 1
    assert [f.as_dict() for f in failures] == [{
        "repository": "maven-releases", "path": "../../etc/passwd", "status": "failed_permanent",
        "reason": "path escapes the repository ('..' segment)", "attempts": 0}]
    # nothing excluded or refused is ever claimed
    assert queue.claim("w", limit=10) == []


def test_a_wanted_file_revives_an_excluded_or_finished_version(queue, repo_id, maven_version):
    c = Coordinates(Format.MAVEN, "g", "a", "1")
    sidecar = (DiscoveredAsset(path="g/a/1/a-1.pom.sha1", size=1, checksums={}, coordinates=c,
                               kind=AssetKind.CHECKSUM), "checksum sidecar")
    queue.record_page(repo_id, [sidecar], cursor="p2", done=False)
    assert queue.counts()["maven-releases"].versions == {"excluded": 1}
    queue.record_page(repo_id, maven_version("g", "a", "1", files=("pom",)), cursor=None,
                      done=True)
    assert queue.counts()["maven-releases"].versions == {"discovered": 1}
    # finish it, then a sync finds a new classifier in the same version
    [v] = queue.claim("w", limit=5)
    assert [a.path for a in v.assets] == ["g/a/1/a-1.pom"]  # the excluded sidecar stays out
    publish_all(queue, "w", [v])
    [v] = queue.claim("w", limit=5)
    publish_all(queue, "w", [v], status="verified")
    queue.begin_crawl(repo_id)
    queue.record_page(repo_id, maven_version("g", "a", "1", files=("pom", "sources.jar")),
                      cursor=None, done=True)
    [v] = queue.claim("w", limit=5)
    assert v.claimed_from == "discovered"
    assert {a.path: a.status for a in v.assets} == {"g/a/1/a-1.pom": "verified",
                                                     "g/a/1/a-1.sources.jar": "discovered"}


def test_claim_publish_verify_lifecycle(queue, repo_id, maven_version):
    queue.record_page(repo_id, maven_version("g", "a", "1"), cursor=None, done=True)
    [v] = queue.claim("w1", limit=10)
    assert (v.claimed_from, v.attempts, v.format, v.namespace, v.package, v.version) == (
        "discovered", 1, Format.MAVEN, "g", "a", "1")
    assert queue.claim("w2", limit=10) == []  # leased
    hashes = {"sha256": "b" * 64}
    assert queue.mark_assets("w1", [AssetUpdate(v.assets[0].id, "published",
                                                downloaded=hashes)]) == []
    assert queue.finish("w1", [VersionResult(v.id, "published", assets=[
        AssetUpdate(v.assets[1].id, "published")])]) == []
    [v] = queue.claim("w2", limit=10)  # published versions come back for verification
    assert v.claimed_from == "published"
    assert v.assets[0].downloaded_hashes == hashes
    assert queue.finish("w2", [VersionResult(v.id, "verified", assets=[
        AssetUpdate(a.id, "verified", target=hashes) for a in v.assets])]) == []
    assert queue.claim("w3", limit=10) == []
    assert queue.counts()["maven-releases"].assets == {"verified": 2}


def test_a_published_version_is_claimed_for_verification_once_due_before_new_work(
        queue, repo_id, clock, maven_version):
    """Verification rides beside publishing: a published version comes back from its
    `retry_at` (a moment after the publish), ahead of versions never published."""
    page = [a for i in range(5) for a in maven_version("g", "a", str(i))]
    queue.record_page(repo_id, page, cursor=None, done=True)
    [first] = queue.claim("w", limit=1)
    queue.finish("w", [VersionResult(first.id, "published", retry_at=clock.t + 0.5, assets=[
        AssetUpdate(a.id, "published") for a in first.assets])])
    assert queue.next_due([repo_id]) == clock.t + 0.5
    early = queue.claim("w", limit=1)
    assert [v.claimed_from for v in early] == ["discovered"]  # not due yet
    clock.t += 0.5
    [due, new] = queue.claim("w", limit=2)
    assert (due.id, due.claimed_from) == (first.id, "published")
    assert new.claimed_from == "discovered"


def test_verify_early_claims_a_published_version_before_its_time(queue, repo_id, clock,
                                                                 maven_version):
    """When the run has nothing else left: the version just published, at once."""
    queue.record_page(repo_id, maven_version("g", "a", "1"), cursor=None, done=True)
    [v] = queue.claim("w", limit=1)
    queue.finish("w", [VersionResult(v.id, "published", retry_at=clock.t + 30, assets=[
        AssetUpdate(a.id, "published") for a in v.assets])])
    assert queue.claim("w", limit=5) == []
    [again] = queue.claim("w", limit=5, verify_early=True)
    assert (again.id, again.claimed_from) == (v.id, "published")


def _versions(queue, source: str, count: int, maven_version) -> int:
    rid = queue.upsert_repository(source=source, target=source, format=Format.MAVEN,
                                  repo_type=RepoType.HOSTED, mode="copy")
    page = [a for i in range(count) for a in maven_version("g", source, str(i))]
    queue.record_page(rid, page, cursor=None, done=True)
    return rid


def test_claims_are_shared_out_by_what_each_repository_has_left(queue, maven_version):
    """Not one repository at a time (a narrow quota of its own would hold every slot), and
    not evenly (the largest would finish last, alone): in proportion to what is left."""
    big = _versions(queue, "big", 60, maven_version)
    small = _versions(queue, "small", 20, maven_version)
    claimed = queue.claim("w", limit=8)
    by_repo = {rid: sum(1 for v in claimed if v.repository_id == rid) for rid in (big, small)}
    assert by_repo == {big: 6, small: 2}
    # within a repository, id order; the next claims keep the proportion of what is left
    ids = [v.id for v in claimed if v.repository_id == big]
    assert ids == sorted(ids)
    queue.finish("w", [VersionResult(v.id, "verified") for v in claimed])
    more = queue.claim("w", limit=18)
    assert sum(1 for v in more if v.repository_id == big) in (13, 14)


def test_a_repository_with_fewer_left_than_its_share_leaves_the_rest_to_the_others(
        queue, clock, maven_version):
    big = _versions(queue, "big", 30, maven_version)
    small = _versions(queue, "small", 10, maven_version)
    taken = queue.claim("w", limit=8)  # counts taken now: 30 and 10
    queue.finish("w", [VersionResult(v.id, "verified") for v in taken])
    # Another process claims the rest of "small" meanwhile (the counts are kept a while).
    rest = [v for v in queue.claim("other", limit=40) if v.repository_id == small]
    queue.finish("other", [VersionResult(v.id, "verified") for v in rest])
    queue.release("other")
    claimed = queue.claim("w", limit=10)
    assert len(claimed) == 10 and all(v.repository_id == big for v in claimed)


def test_claim_shares_count_the_claims_already_in_flight(queue, maven_version):
    first = _versions(queue, "first", 40, maven_version)
    second = _versions(queue, "second", 40, maven_version)
    held = queue.claim("w", limit=4)
    assert sorted(v.repository_id for v in held) == [first, first, second, second]
    queue.finish("w", [VersionResult(v.id, "verified") for v in held
                       if v.repository_id == second])
    [one, two] = queue.claim("w", limit=2)  # "second" holds none now: both slots go there
    assert one.repository_id == two.repository_id == second


def test_illegal_transitions_are_refused_and_change_nothing(queue, repo_id, maven_version):
    queue.record_page(repo_id, maven_version("g", "a", "1"), cursor=None, done=True)
    [v] = queue.claim("w", limit=1)
    with pytest.raises(IllegalTransition, match="discovered -> verified"):
        queue.mark_assets("w", [AssetUpdate(v.assets[0].id, "verified")])
    with pytest.raises(IllegalTransition, match="claimed -> discovered_typo"):
        queue.finish("w", [VersionResult(v.id, "discovered_typo")])
    assert queue.counts()["maven-releases"].assets == {"discovered": 2}
    assert queue.counts()["maven-releases"].versions == {"claimed": 1}


def test_an_expired_lease_returns_the_item_and_the_old_holder_loses_it(
        queue, repo_id, clock, maven_version):
    queue.record_page(repo_id, maven_version("g", "a", "1"), cursor=None, done=True)
    [v] = queue.claim("dead", limit=1, lease_seconds=60)
    clock.t += 59
    assert queue.claim("other", limit=1) == []
    clock.t += 2
    [again] = queue.claim("other", limit=1, lease_seconds=60)
    assert (again.id, again.claimed_from, again.attempts) == (v.id, "discovered", 2)
    # the old holder wakes up: its facts are not recorded, nothing is counted twice
    assert queue.mark_assets("dead", [AssetUpdate(v.assets[0].id, "published")]) == [
        v.assets[0].id]
    assert queue.finish("dead", [VersionResult(v.id, "published")]) == [v.id]
    assert queue.finish("other", [VersionResult(v.id, "published", assets=[
        AssetUpdate(a.id, "published") for a in again.assets])]) == []
    assert queue.counts()["maven-releases"].assets == {"published": 2}


def test_renew_keeps_a_lease_alive(queue, repo_id, clock, maven_version):
    queue.record_page(repo_id, maven_version("g", "a", "1"), cursor=None, done=True)
    [v] = queue.claim("w", limit=1, lease_seconds=60)
    clock.t += 50
    assert queue.renew("w", [v.id], 60) == 1
    clock.t += 50
    assert queue.claim("other", limit=1) == []


def test_release_gives_back_claims_and_refunds_attempts(queue, repo_id, maven_version):
    queue.record_page(repo_id, maven_version("g", "a", "1") + maven_version("g", "a", "2"),
                      cursor=None, done=True)
    [v1, v2] = queue.claim("w", limit=5)
    queue.finish("w", [VersionResult(v1.id, "published", assets=[
        AssetUpdate(a.id, "published") for a in v1.assets])])
    [v1] = queue.claim("w", limit=5)
    assert queue.release("w") == 2
    assert queue.counts()["maven-releases"].versions == {"published": 1, "discovered": 1}
    claimed = {v.id: v for v in queue.claim("w", limit=5)}
    assert claimed[v2.id].attempts == 1 and claimed[v2.id].claimed_from == "discovered"
    assert claimed[v1.id].claimed_from == "published"


def test_retryable_failures_wait_for_their_time(queue, repo_id, clock, maven_version):
    queue.record_page(repo_id, maven_version("g", "a", "1"), cursor=None, done=True)
    [v] = queue.claim("w", limit=1)
    queue.finish("w", [VersionResult(v.id, "failed_retryable", reason="HTTP 503",
                                     retry_at=clock.t + 30)])
    assert queue.claim("w", limit=1) == []
    clock.t += 31
    [v] = queue.claim("w", limit=1)
    assert v.claimed_from == "failed_retryable" and v.attempts == 2


def test_requeue_sends_conflicts_back(queue, repo_id, maven_version):
    queue.record_page(repo_id, maven_version("g", "a", "1"), cursor=None, done=True)
    [v] = queue.claim("w", limit=1)
    queue.finish("w", [VersionResult(v.id, "conflict", reason="different bytes", assets=[
        AssetUpdate(v.assets[0].id, "conflict", reason="sha256 differs")])])
    assert queue.requeue(["conflict"]) == 1
    [v] = queue.claim("w", limit=1)
    assert {a.status for a in v.assets} == {"discovered"}
    with pytest.raises(IllegalTransition):
        queue.requeue(["verified_typo"])


def test_claims_can_be_limited_to_repositories(queue, repo_id, maven_version):
    other = queue.upsert_repository(source="npm-internal", target="npm", format=Format.NPM,
                                    repo_type=RepoType.HOSTED, mode="copy", stage=2)
    queue.record_page(repo_id, maven_version("g", "a", "1"), cursor=None, done=True)
    c = Coordinates(Format.NPM, "", "left-pad", "1.0.0")
    queue.record_page(other, [(DiscoveredAsset(path="left-pad/-/left-pad-1.0.0.tgz", size=5,
                                               checksums={}, coordinates=c), None)],
                      cursor=None, done=True)
    [v] = queue.claim("w", limit=10, repository_ids=[other])
    assert (v.source_repository, v.target_repository, v.format) == (
        "npm-internal", "npm", Format.NPM)


def test_the_lock_names_its_holder_and_status_reads_during_a_run(tmp_path):
    path = tmp_path / "s.sqlite"
    with WorkQueue.open(path, lock_for="migrator run demo.toml"):
        with pytest.raises(StateLockedError) as exc:
            WorkQueue.open(path, lock_for="migrator resume")
        message = str(exc.value)
        assert "in use by pid" in message and "migrator run demo.toml" in message
        with WorkQueue.open(path, create=False) as reader:  # status needs no lock
            assert reader.counts() == {}
    with WorkQueue.open(path, lock_for="migrator resume"):  # freed on close
        pass


def test_opening_something_that_is_not_a_state_is_a_clear_error(tmp_path):
    bogus = tmp_path / "notes.sqlite"
    bogus.write_text("hello")
    with pytest.raises(StateError, match="is not a SQLite database, so not a migrator state"):
        WorkQueue.open(bogus)
    assert bogus.read_text() == "hello"
    with pytest.raises(StateError, match="no state file"):
        WorkQueue.open(tmp_path / "missing.sqlite", create=False)


def test_schema_is_versioned(tmp_path):
    with WorkQueue.open(tmp_path / "s.sqlite") as q:
        applied = [r[0] for r in q.conn.execute("SELECT name FROM _sqlite_migrations")]
    assert applied[:2] == ["m001_initial", "m002_format_marker"]
    assert {"m004_sync", "m005_run_samples"} <= set(applied) and len(applied) == SCHEMA_VERSION
    with WorkQueue.open(tmp_path / "s.sqlite") as q:  # reopening applies nothing twice
        assert q.conn.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] == \
            SCHEMA_VERSION
        assert (q.get_meta("format"), q.get_meta("schema_version")) == (
            "migrator-state", str(SCHEMA_VERSION))


def test_meta_round_trip(queue):
    queue.set_meta("manifest", json.dumps({"a": 1}))
    queue.set_meta("manifest", "x")
    assert queue.get_meta("manifest") == "x" and queue.get_meta("nope") is None


def test_excluded_files_without_coordinates_belong_to_no_version(queue, repo_id):
    index = DiscoveredAsset(path="com/acme/app/maven-metadata.xml", size=300, checksums={},
                            coordinates=None, kind=AssetKind.METADATA)
    orphan = DiscoveredAsset(path="README", size=3, checksums={}, coordinates=None)
    queue.record_page(repo_id, [(index, "Maven repository metadata; regenerated"),
                                (orphan, None)], cursor=None, done=True)
    counts = queue.counts()["maven-releases"]
    assert counts.assets == {"excluded": 1, "failed_permanent": 1}
    assert counts.versions == {}
    assert queue.failures()[0][0].reason == "no package coordinates"


def test_excluding_a_version_excludes_its_files(queue, repo_id, maven_version):
    queue.record_page(repo_id, maven_version("g", "a", "1.0-20260101.000000-1"), cursor=None,
                      done=True)
    [vid] = [r[0] for r in queue.conn.execute("SELECT id FROM versions")]
    queue.transition_version(vid, "excluded", "snapshot policy 'latest': superseded")
    counts = queue.counts()["maven-releases"]
    assert counts.assets == {"excluded": 2} and counts.versions == {"excluded": 1}
    assert queue.claim("w", limit=5) == []


def test_counts_by_repository_stage_and_reason_agree_with_the_counting_rule(queue, repo_id,
                                                                             maven_version):
    """The counts come from the index plus the assets of excluded versions moved to
    `excluded`: checked here against the rule written as one join over every asset."""
    page = maven_version("g", "a", "1.0", files=("jar", "pom", "sha1"), size=10)
    page[2] = (page[2][0], "sidecar")  # an asset excluded on its own, in a version excluded
    page += maven_version("g", "b", "2.0", size=7)
    queue.record_page(repo_id, page, cursor=None, done=True)
    other = queue.upsert_repository(source="npm-internal", target="npm", format=Format.NPM,
                                    repo_type=RepoType.HOSTED, mode="copy", stage="pilot")
    queue.begin_crawl(other)
    queue.record_page(other, maven_version("g", "c", "3.0", size=5), cursor=None, done=True)
    vid = queue.conn.execute("SELECT id FROM versions WHERE package = 'a'").fetchone()[0]
    queue.transition_version(vid, "excluded", "snapshot policy 'latest': superseded")
    rule = {}
    for repo, status, n, size in queue.conn.execute(
            "SELECT r.source, CASE WHEN v.status = 'excluded' THEN 'excluded' ELSE a.status "
            "END, count(*), total(a.size) FROM assets a JOIN repositories r ON r.id = "
            "a.repository_id LEFT JOIN versions v ON v.id = a.version_id GROUP BY 1, 2"):
        rule.setdefault(repo, ({}, {}))
        rule[repo][0][status], rule[repo][1][status] = n, int(size)
    counts = queue.counts()
    assert {r: (c.assets, c.bytes) for r, c in counts.items()} == rule
    assert counts["maven-releases"].assets == {"excluded": 3, "discovered": 2}
    assert queue.stage_counts() == {"1": {"discovered": 2, "excluded": 3},
                                    "pilot": {"discovered": 2}}
    # each excluded asset once, under its own reason or else its version's
    assert sorted(queue.exclusion_reasons()) == [
        ("maven-releases", "sidecar", 1),
        ("maven-releases", "snapshot policy 'latest': superseded", 2)]
