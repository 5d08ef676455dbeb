"""`Crawler.probe` (preflight of a source) and `reported_file_count`, against the in-process
emulators of every source and `MockTransport` fakes for what they cannot do."""

from __future__ import annotations

import re
from typing import Any

import anyio
import httpx
import pytest

from migrator.manifest import RepositoryMapping
from migrator.models import Check, CheckStatus, Format, RepoType, SourceRepository
from migrator.retry import PREFLIGHT
from migrator.sources import SourceProbe, crawler_class
from migrator.sources.artifactory import ArtifactoryCrawler
from migrator.sources.nexus import NexusCrawler

from .conftest import SEED, Source

HOSTED = ("maven-releases", "npm-internal", "pypi-internal", "raw-files")


def mapping(source: str, fmt: Format | None = None, mode: str = "copy") -> RepositoryMapping:
    return RepositoryMapping(source=source, target=source, format=fmt, mode=mode)


def probe(source: Source, app: Any, mappings: list[RepositoryMapping], **kwargs: Any
          ) -> SourceProbe:
    crawler = source.crawler(app, policy=PREFLIGHT, **kwargs)

    async def go() -> SourceProbe:
        try:
            return await crawler.probe(mappings, credentials="SRC_USER/SRC_PASSWORD")
        finally:
            await crawler.aclose()

    return anyio.run(go)


def lines(result: SourceProbe, status: CheckStatus) -> list[str]:
    return [c.message for c in result.checks if c.status is status]


def by_subject(result: SourceProbe) -> dict[str, Check]:
    return {c.subject: c for c in result.checks}


def test_every_mapped_hosted_repository_is_found(source: Source) -> None:
    result = probe(source, source.app(), [mapping(n) for n in HOSTED])
    assert lines(result, CheckStatus.FAILURE) == []
    checks = by_subject(result)
    assert checks["reachable"].status is CheckStatus.OK
    assert checks["credentials"].status is CheckStatus.OK
    assert "SRC_USER/SRC_PASSWORD" in checks["credentials"].message
    for name in HOSTED:
        assert checks[f"repository {name}"].status is CheckStatus.OK, name
    assert set(HOSTED) <= set(result.repositories)


def test_a_typo_gets_did_you_mean_from_the_servers_list(source: Source) -> None:
    result = probe(source, source.app(), [mapping("maven-relases")])
    [line] = lines(result, CheckStatus.FAILURE)
    assert line.startswith(f"{crawler_class(source.kind).system} repository 'maven-relases' "
                           "does not exist at")
    assert "did you mean 'maven-releases'?" in line
    assert "fix [[repositories]] source" in line


def test_a_name_nothing_like_any_repository_has_no_suggestion(source: Source) -> None:
    [line] = lines(probe(source, source.app(), [mapping("zzzz")]), CheckStatus.FAILURE)
    assert "did you mean" not in line and "fix [[repositories]] source" in line


def test_a_wrong_format_in_the_mapping_is_a_failure(source: Source) -> None:
    [line] = lines(probe(source, source.app(), [mapping("npm-internal", Format.PYPI)]),
                   CheckStatus.FAILURE)
    assert "'npm-internal' holds npm packages but the manifest says format pypi" in line
    assert "fix [[repositories]] format" in line


def test_a_group_is_a_warning_because_plan_skips_it(source: Source) -> None:
    result = probe(source, source.app(), [mapping("maven-public")])
    assert lines(result, CheckStatus.FAILURE) == []
    [warning] = [c for c in result.checks if c.subject == "repository maven-public"]
    assert warning.status is CheckStatus.WARNING
    assert "group/virtual repository: plan skips it" in warning.message


def test_a_wrong_password_is_one_failure_naming_the_variables(source: Source) -> None:
    user, _ = source.user_and_secret()
    result = probe(source, source.app(), [mapping("raw-files")], username=user,
                   password="not-the-password")
    [line] = lines(result, CheckStatus.FAILURE)
    assert "rejected the credentials from SRC_USER/SRC_PASSWORD" in line
    assert "not-the-password" not in line
    assert "repository raw-files" not in by_subject(result)  # nothing after a refusal


def test_an_unreachable_server_is_one_failure_with_the_root_cause() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("All connection attempts failed", request=request) from (
            ConnectionRefusedError(111, "Connection refused"))

    crawler = NexusCrawler(httpx.AsyncClient(base_url="http://nexus.test",
                                             transport=httpx.MockTransport(refuse)),
                           policy=PREFLIGHT)
    result = anyio.run(lambda: crawler.probe([mapping("raw-files")], credentials="X/Y"))
    [check] = result.checks
    assert check.status is CheckStatus.FAILURE
    assert check.message.startswith(
        "Nexus at http://nexus.test is unreachable: ConnectError: [Errno 111] Connection "
        "refused to http://nexus.test/service/rest/v1/status; check [source] url")


def test_a_url_that_is_not_the_api_says_what_the_url_should_be() -> None:
    client = httpx.AsyncClient(base_url="http://art.test",
                               transport=httpx.MockTransport(lambda r: httpx.Response(404)))
    result = anyio.run(lambda: ArtifactoryCrawler(client, policy=PREFLIGHT).probe(
        [mapping("libs")], credentials="T"))
    [check] = result.checks
    assert check.status is CheckStatus.FAILURE
    assert "is not the server's API (HTTP 404)" in check.message
    assert "e.g. https://artifactory.example.com/artifactory" in check.message


# -- can the crawl identity read everything? ----------------------------------------------------


def _artifactory(**app_options: Any) -> tuple[Source, Any]:
    from migrator_sandbox import artifactory

    src = Source("artifactory", "artifactory-pro", "http://artifactory.test",
                 artifactory.DEFAULT_CREDENTIALS,
                 lambda **k: artifactory.build_app(SEED, **k))
    return src, src.app(**app_options)


def test_artifactory_storage_info_gives_the_count_the_crawl_is_checked_against() -> None:
    src, app = _artifactory()
    checks = by_subject(probe(src, app, [mapping("maven-releases"), mapping("maven-central")]))
    ok = checks["read access maven-releases"]
    assert ok.status is CheckStatus.OK
    assert re.search(r"reports \d+ files in 'maven-releases' \(filesCount\); the crawl's "
                     r"count is checked against it", ok.message)
    # a remote repository is counted under its cache key
    assert "in 'maven-central-cache'" in checks["read access maven-central"].message


def test_artifactory_without_storage_info_warns_naming_the_permission() -> None:
    src, app = _artifactory(storageinfo_admin_only=True)
    result = probe(src, app, [mapping("maven-releases")])
    assert lines(result, CheckStatus.FAILURE) == []
    [warning] = lines(result, CheckStatus.WARNING)
    assert warning.startswith("Artifactory: cannot tell that the crawl user may read every file "
                              "of 'maven-releases'")
    assert "after applying the page limit" in warning
    assert "the Read permission on the whole repository" in warning
    assert "include pattern '**' and no exclude pattern" in warning


def test_artifactory_admin_reads_storage_info_even_when_it_is_admin_only() -> None:
    src, app = _artifactory(storageinfo_admin_only=True)
    result = probe(src, app, [mapping("maven-releases")], username="admin",
                   password="password")
    assert lines(result, CheckStatus.WARNING) == []


def test_nexus_warns_unless_the_user_administers_the_repository() -> None:
    from migrator_sandbox import nexus

    src = Source("nexus", "nexus-sql", "http://nexus.test", nexus.DEFAULT_CREDENTIALS,
                 lambda **k: nexus.build_app(SEED, mode="sql", **k))
    app = src.app()
    [warning] = lines(probe(src, app, [mapping("maven-releases")]), CheckStatus.WARNING)
    assert "cannot tell that the crawl user may read every file of 'maven-releases'" in warning
    assert "Nexus reports no file count" in warning
    assert "nx-repository-view-maven2-maven-releases-read with no content selector" in warning
    admin = probe(src, app, [mapping("maven-releases")], username="admin", password="admin123")
    assert lines(admin, CheckStatus.WARNING) == []
    assert "administers 'maven-releases'" in by_subject(admin)[
        "read access maven-releases"].message


# -- reported_file_count --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["maven-releases", "npm-internal", "maven-central"])
def test_reported_file_count_matches_what_a_full_crawl_lists(source: Source, name: str) -> None:
    app = source.app()
    crawler = source.crawler(app)
    repo = SourceRepository(name, Format.NPM if name.startswith("npm") else Format.MAVEN,
                            RepoType.PROXY if name == "maven-central" else RepoType.HOSTED)

    async def go() -> tuple[int | None, int]:
        try:
            listed = 0
            async for page in crawler.crawl(repo):
                listed += len(page.items)
            return await crawler.reported_file_count(repo), listed
        finally:
            await crawler.aclose()

    count, listed = anyio.run(go)
    if source.kind == "nexus":
        assert count is None and crawler.file_count_field is None
    else:
        assert (count, crawler.file_count_field) == (listed, "filesCount")


@pytest.mark.parametrize("status", [401, 403, 404])
def test_reported_file_count_is_none_when_storage_info_is_refused(status: int) -> None:
    client = httpx.AsyncClient(
        base_url="http://art.test/artifactory",
        transport=httpx.MockTransport(lambda r: httpx.Response(status, json={"errors": []})))
    crawler = ArtifactoryCrawler(client, policy=PREFLIGHT)
    repo = SourceRepository("libs", Format.MAVEN, RepoType.HOSTED)
    assert anyio.run(crawler.reported_file_count, repo) is None
