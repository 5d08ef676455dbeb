"""`plan` over every sandboxed source: state contents, the summary, policies, and resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from migrator.errors import ConfigError, SourceAuthError
from migrator.manifest import load_manifest
from migrator.pipeline.plan import PlanSummary, plan
from migrator.state import WorkQueue

from .conftest import Source, expected, seed_repos

TARGETS = {
    "maven-releases": "maven-internal",
    "maven-snapshots": "maven-internal",
    "maven-central": "maven-upstream",
    "maven-public": "maven-public",
    "npm-internal": "npm-internal",
    "npm-proxy": "npm-upstream",
    "pypi-internal": "pypi-internal",
    "raw-files": "generic-files",
}


def write_manifest(tmp_path: Path, source: Source, *, options: str = "",
                   repos: dict[str, str] | None = None, extra: dict[str, str] | None = None) -> Any:
    prefix = source.kind.upper()
    lines = [
        "[source]", f'kind = "{source.kind}"', f'url = "{source.url}"',
        f'username_env = "{prefix}_USERNAME"', f'password_env = "{prefix}_PASSWORD"',
        "[target]", 'domain = "acme"', 'domain_owner = "111122223333"', 'region = "us-east-1"',
        "[options]", options,
    ]
    for name, target in (repos or TARGETS).items():
        lines += ["[[repositories]]", f'source = "{name}"', f'target = "{target}"',
                  (extra or {}).get(name, "")]
    path = tmp_path / "demo.toml"
    path.write_text("\n".join(lines) + "\n")
    return load_manifest(path)


def run_plan(manifest: Any, state: Path, source: Source, app: Any, *, on_page=None,
             **crawler_options: Any) -> PlanSummary:
    def factory(settings: Any):
        return source.crawler(app, **crawler_options)

    with WorkQueue.open(state, lock_for="plan") as queue:
        return anyio.run(lambda: plan(manifest, queue, crawler_factory=factory, on_page=on_page))


def small_pages(source: Source) -> dict[str, Any]:
    # Artifactory pages are ours to size: small pages give the resume test several of them.
    return {"page_size": 3, "filelist_max_files": 0} if source.kind == "artifactory" else {}


def test_plan_summary_counts_come_from_the_seed(tmp_path: Path, source: Source) -> None:
    summary = run_plan(write_manifest(tmp_path, source), tmp_path / "s.sqlite", source,
                       source.app())
    by_repo = {r.source: r for r in summary.repositories}
    seed = {r.name: r for r in seed_repos(source.kind)}
    assert set(by_repo) == set(TARGETS) - {"maven-public"}
    assert summary.not_crawled == [("maven-public", "group/virtual repository: only repeats its "
                                    "members, which are crawled instead")]
    for name, plan_row in by_repo.items():
        want = expected(seed[name])
        assert plan_row.crawl == "complete"
        assert plan_row.assets == len(want.artifacts), name
        assert plan_row.versions == len(set(want.artifacts.values())), name
        assert plan_row.bytes == sum(want.files[p].stat().st_size for p in want.artifacts), name
        assert plan_row.refused == {}, name
        if seed[name].type == "proxy":
            assert (plan_row.mode, plan_row.prewarm_items, plan_row.writes) == (
                "prewarm", len(want.artifacts), 0)
        else:
            assert plan_row.mode == "copy" and plan_row.prewarm_items == 0
    # Write counts follow the publish protocols (see planner._writes).
    maven = by_repo["maven-releases"]
    assert maven.writes == maven.assets + maven.versions
    npm = by_repo["npm-internal"]
    packages = {(ns, pkg) for ns, pkg, _ in expected(seed["npm-internal"]).artifacts.values()}
    assert npm.writes == npm.versions + len(packages)
    assert by_repo["pypi-internal"].writes == by_repo["pypi-internal"].assets
    assert by_repo["raw-files"].writes == by_repo["raw-files"].assets
    assert summary.estimated_seconds == pytest.approx(summary.writes / 90.0)
    sidecars = by_repo["maven-releases"].excluded.get(
        "checksum sidecar; CodeArtifact computes its own", 0)
    # Nexus lists stored sidecars as assets; Artifactory's are virtual and never listed.
    want_sidecars = len(expected(seed["maven-releases"]).sidecars)
    assert sidecars == (want_sidecars if source.kind == "nexus" else 0)
    data = summary.as_dict()
    assert data["totals"]["writes"] == summary.writes
    assert data["repositories"][0]["estimated_seconds"] == round(
        data["repositories"][0]["writes"] / 90.0, 1)
    assert json.loads(json.dumps(data)) == data  # --json is plain JSON
    text = summary.render()
    assert "maven-releases → maven-internal" in text and "nothing was written" in text


@pytest.mark.parametrize("concurrency", [1, 4])
def test_resume_after_an_interrupted_crawl_fetches_no_page_twice(
        tmp_path: Path, source: Source, concurrency: int) -> None:
    """Stop the crawl after 4 recorded pages, plan again: no listing page is read twice.

    With one repository at a time nothing is in flight when the crawl stops. With four, each
    repository chain may have had one request in flight (cancelled before it was recorded):
    those, and only those, are read again.
    """
    manifest = write_manifest(tmp_path, source, options=f"source_concurrency = {concurrency}")
    # In-process requests never wait on I/O, so a cancelled crawl would finish its page anyway;
    # a little emulated network latency makes the parallel requests really in flight.
    app = source.app(latency=0.002 if concurrency > 1 else 0.0)
    state = tmp_path / "s.sqlite"
    seen: list[tuple[str, int]] = []

    class Killed(Exception):
        pass

    def kill_after_four(repo: str, page_number: int, page: Any) -> None:
        seen.append((repo, page_number))
        if len(seen) == 4:
            raise Killed

    with pytest.raises(Killed):
        run_plan(manifest, state, source, app, on_page=kill_after_four, **small_pages(source))
    with WorkQueue.open(state) as queue:
        unfinished = [r for r in queue.repositories() if r["crawl_status"] != "complete"]
        assert unfinished, "the crawl must have been stopped mid-way"
    resumed = run_plan(manifest, state, source, app, **small_pages(source))

    def repeated(keys: list) -> list:
        return [k for k in set(keys) if keys.count(k) > 1]

    # The sandbox's own request log (method, path, query)...
    logged = [(e.method, e.path, e.query) for e in app.state.request_log.entries()
              if e.path.endswith("/v1/assets") or e.query.startswith("list")]
    # ...and, since an AQL page is named by its body (the offset), what the client sent.
    sent = [r for r in source.requests
            if r[1].endswith(("/v1/assets", "/api/search/aql")) or r[2].startswith("list")]
    assert len(sent) >= 4
    for keys in (logged, sent):
        twice = repeated(keys)
        if concurrency == 1:
            assert twice == [], "a page was fetched twice"
        else:
            assert len(twice) <= concurrency and all(keys.count(k) == 2 for k in twice)
    # Same final state as a crawl that was never interrupted.
    fresh = run_plan(manifest, tmp_path / "fresh.sqlite", source, source.app(),
                     **small_pages(source))
    assert [r.as_dict() | {"pages": 0} for r in resumed.repositories] == [
        r.as_dict() | {"pages": 0} for r in fresh.repositories]


def test_include_exclude_globs_and_snapshot_policies(tmp_path: Path, source: Source) -> None:
    repos = {"maven-releases": "maven-internal", "maven-snapshots": "maven-internal"}
    extra = {"maven-releases": 'exclude = ["**/*-sources.jar"]'}
    latest = run_plan(write_manifest(tmp_path, source, options='snapshots = "latest"',
                                     repos=repos, extra=extra),
                      tmp_path / "latest.sqlite", source, source.app())
    rows = {r.source: r for r in latest.repositories}
    assert rows["maven-releases"].excluded["matched by exclude '**/*-sources.jar'"] == 2
    assert rows["maven-releases"].assets == 4
    snaps = rows["maven-snapshots"]
    assert snaps.versions == 1 and snaps.assets == 3
    (reason, n), = [(k, v) for k, v in snaps.excluded.items() if k.startswith("snapshot policy")]
    assert reason == "snapshot policy 'latest': superseded by 1.2.0-20261125.185253-2" and n == 3

    none = run_plan(write_manifest(tmp_path, source, options='snapshots = "none"', repos=repos),
                    tmp_path / "none.sqlite", source, source.app())
    snaps = {r.source: r for r in none.repositories}["maven-snapshots"]
    assert snaps.assets == 0 and snaps.excluded["snapshot policy 'none'"] == 6


def test_skip_mode_and_unknown_repositories_are_reported_not_crawled(tmp_path: Path,
                                                                     source: Source) -> None:
    manifest = write_manifest(tmp_path, source,
                              repos={"raw-files": "generic-files", "no-such-repo": "x-repo"},
                              extra={"raw-files": 'mode = "skip"'})
    summary = run_plan(manifest, tmp_path / "s.sqlite", source, source.app())
    assert summary.repositories == []
    reasons = dict(summary.not_crawled)
    assert reasons["raw-files"] == "mode = 'skip' in the manifest"
    assert reasons["no-such-repo"].startswith("not found on the")
    # a skipped mapping is a choice; a repository that does not exist is a mistake (exit 2)
    assert [name for name, _ in summary.mapping_errors] == ["no-such-repo"]
    with pytest.raises(ConfigError) as err:
        summary.raise_for_mapping_errors(manifest)
    assert err.value.exit_code == 2 and "no-such-repo: not found" in str(err.value)


def test_a_source_auth_error_surfaces_as_itself(tmp_path: Path, source: Source) -> None:
    manifest = write_manifest(tmp_path, source)
    app = source.app()

    def factory(settings: Any):
        user, _ = source.user_and_secret()
        return source.crawler(app, username=user, password="not-the-password")

    with WorkQueue.open(tmp_path / "s.sqlite") as queue, pytest.raises(SourceAuthError):
        anyio.run(lambda: plan(manifest, queue, crawler_factory=factory))


def test_plan_after_a_finished_plan_crawls_again_and_changes_nothing(tmp_path: Path,
                                                                      source: Source) -> None:
    manifest = write_manifest(tmp_path, source)
    app = source.app()
    first = run_plan(manifest, tmp_path / "s.sqlite", source, app)
    before = len(source.requests)
    second = run_plan(manifest, tmp_path / "s.sqlite", source, app)
    assert len(source.requests) > before  # a sync reads the source again
    assert [r.as_dict() for r in second.repositories] == [r.as_dict() for r in first.repositories]
    with WorkQueue.open(tmp_path / "s.sqlite") as queue:
        paths = queue.conn.execute("SELECT count(*), count(DISTINCT repository_id || path) "
                                   "FROM assets").fetchone()
    assert paths[0] == paths[1]
