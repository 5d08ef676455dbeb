"""One contract suite over every crawler implementation and server mode, on the sandboxes.

Each source is an emulator app served in-process through `httpx.ASGITransport`; the crawler is
built the way the CLI builds it (`from_settings` with URL and credentials). What a crawl must
find is computed from the seed files on disk (conftest.py), never from a crawler's output.
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from migrator.errors import SourceAuthError, SourceError
from migrator.models import AssetKind, Format, RepoType, SourceRepository
from migrator.sources import Crawler, Page

from .conftest import (
    PUBLIC_BASE,
    SEED,
    SOURCES,
    Expected,
    Source,
    digest,
    expected,
    seed_repos,
)


async def crawl_all(crawler: Crawler, repo: SourceRepository,
                    cursor: str | None = None) -> list[Page]:
    return [page async for page in crawler.crawl(repo, cursor=cursor)]


def crawl_repo(source: Source, app: Any, name: str, **options: Any) -> list[Page]:
    async def go() -> list[Page]:
        crawler = source.crawler(app, **options)
        try:
            repos = {r.name: r for r in await crawler.repositories()}
            return await crawl_all(crawler, repos[name])
        finally:
            await crawler.aclose()

    return anyio.run(go)


def crawled_repositories(source: Source) -> list[SourceRepository]:
    app = source.app()

    async def go() -> list[SourceRepository]:
        crawler = source.crawler(app)
        try:
            return await crawler.repositories()
        finally:
            await crawler.aclose()

    return anyio.run(go)


def content_repos() -> list[str]:
    """Hosted and proxy repositories every server of the seed serves."""
    both = {r.name for r in seed_repos("nexus")} & {r.name for r in seed_repos("artifactory")}
    return [r.name for r in seed_repos("nexus") if r.type != "group" and r.name in both]


# What each server reports for a package file in the listing the crawler reads, by format
# (Nexus naming), written out from ../shared/reference/sources-nexus-artifactory.md, not taken
# from the emulators or the crawlers. A crawler must pass every one of them on, with the size.
_NEXUS_HASHED = frozenset({"md5", "sha1", "sha256", "sha512"})
REPORTED_CHECKSUMS: dict[str, dict[str, frozenset[str]]] = {
    # /v1/assets `checksum` (AssetXO): maven2 md5+sha1, plus sha256+sha512 since 3.29; raw all
    # four in recent versions; npm sha1 (OrientDB) or sha1+md5 (SQL); pypi md5+sha1+sha256
    # (OrientDB) or md5+sha1 (SQL). `fileSize` since 3.38 (the emulators are 3.70).
    "nexus-sql": {"maven2": _NEXUS_HASHED, "raw": _NEXUS_HASHED,
                  "npm": frozenset({"md5", "sha1"}), "pypi": frozenset({"md5", "sha1"})},
    "nexus-orient": {"maven2": _NEXUS_HASHED, "raw": _NEXUS_HASHED,
                     "npm": frozenset({"sha1"}), "pypi": frozenset({"md5", "sha1", "sha256"})},
    # OSS is crawled with AQL: actual_md5, actual_sha1, sha256 for every file, and the size.
    "artifactory-oss": dict.fromkeys(("maven2", "raw", "npm", "pypi"),
                                     frozenset({"md5", "sha1", "sha256"})),
    # Pro is crawled with the File List (one streamed response): `sha1` and `sha2` (SHA-256)
    # only, no md5; see test_artifactory_pro_aql_listing_reports_md5_too for AQL on Pro.
    "artifactory-pro": dict.fromkeys(("maven2", "raw", "npm", "pypi"),
                                     frozenset({"sha1", "sha256"})),
}


def assert_size_and_checksums(asset: Any, file: Any, reported: frozenset[str]) -> None:
    """The size and exactly the server's algorithms, each equal to the hash of the file."""
    assert asset.size == file.stat().st_size, (asset.path, asset.size)
    given = {a: v for a, v in asset.checksums.items() if v}
    assert set(given) == reported, (asset.path, sorted(given), sorted(reported))
    for algorithm, value in given.items():
        assert value == digest(file, algorithm), (asset.path, algorithm)


# -- the contract -----------------------------------------------------------------------------


def test_repositories_are_the_seeds_with_types_formats_and_upstreams(source: Source) -> None:
    got = {r.name: r for r in crawled_repositories(source)}
    seed = {r.name: r for r in seed_repos(source.kind)}
    assert set(got) == set(seed)
    for name, repo in seed.items():
        assert got[name].format is Format.from_source(repo.format)
        assert got[name].type is RepoType.from_source(repo.type)
        if repo.type == "proxy":
            assert got[name].url, f"{name}: a proxy must say which upstream it caches"


@pytest.mark.parametrize("repo_name", content_repos())
def test_crawl_finds_exactly_the_seed_inventory(source: Source, repo_name: str) -> None:
    repo = next(r for r in seed_repos(source.kind) if r.name == repo_name)
    want: Expected = expected(repo)
    pages = crawl_repo(source, source.app(), repo_name)
    assert pages[-1].done and pages[-1].cursor is None
    assert all(not p.done and p.cursor for p in pages[:-1])
    found = [item for page in pages for item in page.items]
    paths = [asset.path for asset, _ in found]
    assert len(paths) == len(set(paths)), "a crawl must not report a file twice"

    wanted = {
        asset.path: (asset.coordinates.namespace, asset.coordinates.package,
                     asset.coordinates.version)
        for asset, skip in found
        if asset.refused is None and skip is None and asset.kind is AssetKind.ARTIFACT
    }
    assert wanted == want.artifacts
    reported = REPORTED_CHECKSUMS[source.label][repo.format]
    for asset, skip in found:
        if asset.path in want.artifacts:
            assert_size_and_checksums(asset, want.files[asset.path], reported)
        elif asset.path not in wanted:
            # Everything else a server lists is a sidecar or an index, recognised as such.
            assert asset.refused is None, (asset.path, asset.refused)
            assert asset.kind in (AssetKind.CHECKSUM, AssetKind.METADATA), asset.path
            assert skip, asset.path
    for sidecar in want.sidecars & set(paths):
        kind = next(a.kind for a, _ in found if a.path == sidecar)
        assert kind is AssetKind.CHECKSUM


def test_download_urls_are_built_from_our_base_url_and_serve_the_seed_bytes(
        source: Source) -> None:
    app = source.app()
    repo = next(r for r in seed_repos(source.kind) if r.name == "maven-releases")
    path = "com/acme/greeter/1.0.0/greeter-1.0.0.jar"

    async def go() -> tuple[str, bytes]:
        crawler = source.crawler(app)
        try:
            repos = {r.name: r for r in await crawler.repositories()}
            url = crawler.download_url(repos[repo.name], path)
        finally:
            await crawler.aclose()
        user, secret = source.user_and_secret()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     auth=(user, secret)) as client:
            response = await client.get(url)
        assert response.status_code == 200, url
        return url, response.content

    url, body = anyio.run(go)
    assert url.startswith(source.url) and PUBLIC_BASE not in url
    assert body == (SEED / repo.name / path).read_bytes()


def test_group_repositories_are_never_crawled(source: Source) -> None:
    app = source.app()
    group = next(r for r in seed_repos(source.kind) if r.type == "group")

    async def go() -> None:
        crawler = source.crawler(app)
        try:
            repos = {r.name: r for r in await crawler.repositories()}
            await crawl_all(crawler, repos[group.name])
        finally:
            await crawler.aclose()

    with pytest.raises(SourceError, match="crawl its members instead"):
        anyio.run(go)


def test_hostile_listing_paths_become_refused_rows_not_errors(source: Source) -> None:
    pages = crawl_repo(source, source.app(hostile_paths=True), "raw-files")
    refused = {a.path: a.refused for page in pages for a, _ in page.items if a.refused}
    assert len(refused) >= 5
    assert all(reason.startswith("unsafe path: ") for reason in refused.values())
    assert not any("\n" in path or "\x00" in path for path in refused)
    good = {a.path for page in pages for a, _ in page.items if not a.refused}
    raw_files = next(r for r in seed_repos(source.kind) if r.name == "raw-files")
    assert set(expected(raw_files).artifacts) <= good


def test_wrong_credentials_are_a_source_auth_error_without_the_secret(source: Source) -> None:
    app = source.app()
    user, _ = source.user_and_secret()

    async def go() -> None:
        crawler = source.crawler(app, username=user, password="wrong-secret-xyz")
        try:
            await crawler.repositories()
        finally:
            await crawler.aclose()

    with pytest.raises(SourceAuthError) as info:
        anyio.run(go)
    assert "wrong-secret-xyz" not in str(info.value)
    assert str(info.value).startswith({"nexus": "Nexus", "artifactory": "Artifactory"}[source.kind])


def test_a_flaky_source_still_yields_the_exact_inventory(source: Source) -> None:
    """Injected 5xx/429 on a third of the requests: retried (no real sleep), nothing lost."""
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    repo = next(r for r in seed_repos(source.kind) if r.name == "maven-releases")
    pages = crawl_repo(source, source.app(error_rate=0.3, seed=7), repo.name, sleep=no_sleep)
    wanted = {a.path for page in pages for a, skip in page.items
              if skip is None and a.refused is None}
    assert wanted == set(expected(repo).artifacts)
    assert waits, "the sandbox should have failed some requests"


@pytest.mark.parametrize("repo_name", ["maven-releases", "npm-internal", "pypi-internal",
                                       "raw-files"])
def test_artifactory_pro_aql_listing_reports_md5_too(repo_name: str) -> None:
    """Pro crawled with AQL (listing="aql", for huge repositories): md5, sha1 and sha256."""
    source = SOURCES["artifactory-pro"]()
    repo = next(r for r in seed_repos(source.kind) if r.name == repo_name)
    want = expected(repo)
    pages = crawl_repo(source, source.app(), repo_name, listing="aql")
    found = {a.path: a for page in pages for a, skip in page.items
             if skip is None and a.refused is None and a.path in want.artifacts}
    assert set(found) == set(want.artifacts)
    for path, asset in found.items():
        assert_size_and_checksums(asset, want.files[path], frozenset({"md5", "sha1", "sha256"}))


def _scoped_packument(source: Source, app: Any, tmp_path) -> dict:
    from migrator.sources.access import SourceAccess

    async def go() -> dict:
        access = SourceAccess(crawler=source.crawler(app), repositories={}, spool_dir=tmp_path)
        try:
            return dict(await access.npm_packument("npm-internal", "@types/ms"))
        finally:
            await access.aclose()

    return anyio.run(go)


def test_a_scoped_packument_is_read_from_every_source(source, tmp_path):
    doc = _scoped_packument(source, source.app(), tmp_path)
    on_disk = {p.name for p in (SEED / "npm-internal" / "@types" / "ms" / "-").glob("*.tgz")}
    assert doc["name"] == "@types/ms"
    assert {f"ms-{v}.tgz" for v in doc["versions"]} == on_disk


@pytest.mark.parametrize("encoded_slash", ["decode", "reject"])
def test_a_scoped_packument_is_read_whichever_way_nexus_takes_an_escaped_slash(
        encoded_slash, tmp_path):
    """`@scope%2fname` first (what the npm CLI sends), `@scope/name` when the server refuses
    (Jetty 10 and later: 400) or misses the escaped form; which one a Nexus release does is
    not documented."""
    source = SOURCES["nexus-sql"]()
    app = source.app()

    async def knob() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url=source.url) as c:
            r = await c.post("/_sandbox/knobs", json={"encoded_slash": encoded_slash})
            r.raise_for_status()

    async def answers() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url=source.url) as c:
            log = (await c.get("/_sandbox/requests")).json()
        return [e["status"] for e in log if "/npm-internal/@types" in e["path"]]

    anyio.run(knob)
    doc = _scoped_packument(source, app, tmp_path)
    assert set(doc["versions"]) == {"0.7.31", "0.7.34", "2.1.0"}
    assert anyio.run(answers) == ([400, 200] if encoded_slash == "reject" else [200])
