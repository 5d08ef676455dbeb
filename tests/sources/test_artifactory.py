"""Artifactory crawler details the sandbox does not exercise, against `MockTransport` fakes."""

from __future__ import annotations

import json
import re

import anyio
import httpx
import pytest

from migrator.errors import SourceError
from migrator.models import Format, RepoType, SourceRepository
from migrator.retry import RetryPolicy
from migrator.sources.artifactory import ArtifactoryCrawler, aql_query

NPM = SourceRepository("npm-local", Format.NPM, RepoType.HOSTED)
REMOTE = SourceRepository("npmjs", Format.NPM, RepoType.PROXY, url="https://registry.npmjs.org")


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def crawler(handler, sleeps: Sleeps | None = None, *, storage_info: bool = False,
            **options) -> ArtifactoryCrawler:
    """A crawler on a fake; `/api/storageinfo` answers 404 (a non-admin) unless `storage_info`."""

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/artifactory/api/storageinfo" and not storage_info:
            return httpx.Response(404, json={"errors": [{"status": 404, "message": "nope"}]})
        return handler(request)

    client = httpx.AsyncClient(base_url="http://art.test/artifactory",
                               transport=httpx.MockTransport(route))
    return ArtifactoryCrawler(client, policy=RetryPolicy(name="t", attempts=3),
                              sleep=sleeps or Sleeps(), **options)


def crawl(c: ArtifactoryCrawler, repo: SourceRepository, cursor: str | None = None):
    async def go():
        return [page async for page in c.crawl(repo, cursor=cursor)]

    return anyio.run(go)


def keyset_after(query: str) -> tuple[str, str] | None:
    """The (path, name) a keyset query asks to start after, or None."""
    criteria = json.loads(re.search(r"items\.find\((\{.*?\})\)\.include", query)[1])
    for part in criteria.get("$and", []):
        if "$or" in part:
            gt, same = part["$or"]
            return gt["path"]["$gt"], same["$and"][1]["name"]["$gt"]
    return None


def aql_rows(query: str, rows: list[dict]) -> httpx.Response:
    """A fake AQL page of `rows` (in path, name order): by keyset criteria, then offset."""
    after = keyset_after(query)
    if after is not None:
        rows = [r for r in rows if (r["path"], r["name"]) > after]
    offset = int(re.search(r"\.offset\((\d+)\)", query)[1])
    limit = int(re.search(r"\.limit\((\d+)\)", query)[1])
    page = rows[offset:offset + limit]
    return httpx.Response(200, json={"results": page, "range": {
        "start_pos": offset, "end_pos": len(page), "total": len(page), "limit": limit}})


def test_aql_query_is_item_fields_only_sorted_and_paged_with_the_key_json_encoded() -> None:
    q = aql_query('we"ird', offset=20, limit=10)
    assert q.startswith('items.find({"repo":"we\\"ird","type":"file"})')
    assert '.sort({"$asc":["path","name"]}).offset(20).limit(10)' in q
    assert "property" not in q and '"sha256"' in q and '"actual_sha1"' in q


def test_oss_file_list_400_falls_back_to_aql_once_and_pages_by_keyset() -> None:
    rows = [{"repo": "npm-local", "path": f"p{i}/-", "name": f"p{i}-1.0.{i}.tgz", "size": i,
             "actual_sha1": "b" * 40, "sha256": None} for i in range(5)]
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path.startswith("/artifactory/api/storage/"):
            return httpx.Response(400, text="This REST API is available only in Artifactory Pro")
        assert request.headers["content-type"] == "text/plain"
        return aql_rows(request.content.decode(), rows)

    c = crawler(handler, page_size=2)
    pages = crawl(c, NPM)
    assert [p.cursor for p in pages] == [
        'aqlk:["p1/-", "p1-1.0.1.tgz"]', 'aqlk:["p3/-", "p3-1.0.3.tgz"]', None]
    assert [a.coordinates.version for p in pages for a, _ in p.items] == [
        f"1.0.{i}" for i in range(5)]
    assert calls.count("/artifactory/api/search/aql") == 3
    crawl(c, NPM)  # the second repository does not probe File List again
    assert sum(p.startswith("/artifactory/api/storage/") for p in calls) == 1
    # Resuming at a saved cursor reads only what follows it; an offset (earlier versions).
    calls.clear()
    assert [a.path for p in crawl(c, NPM, cursor='aqlk:["p3/-", "p3-1.0.3.tgz"]')
            for a, _ in p.items] == ["p4/-/p4-1.0.4.tgz"]
    assert [a.path for p in crawl(c, NPM, cursor="aql:4") for a, _ in p.items] == [
        "p4/-/p4-1.0.4.tgz"]


def test_pro_file_list_is_one_page_and_big_listings_page_with_aql() -> None:
    files = [{"uri": f"/p{i}/-/p{i}-1.0.{i}.tgz", "size": 3, "folder": False,
              "sha1": "c" * 40, "sha2": "d" * 64} for i in range(4)]
    files.append({"uri": "/p0", "size": -1, "folder": True})

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/artifactory/api/storage/"):
            assert request.url.query == (
                b"list&deep=1&listFolders=0&mdTimestamps=0&includeRootPath=0")
            return httpx.Response(200, json={"uri": "x", "files": files})
        return aql_rows(request.content.decode(), [
            {"path": f"p{i}/-", "name": f"p{i}-1.0.{i}.tgz", "size": 3} for i in range(4)])

    (page,) = crawl(crawler(handler), NPM)
    assert page.done and page.cursor is None and len(page.items) == 4
    asset = page.items[0][0]
    assert asset.path == "p0/-/p0-1.0.0.tgz"
    assert asset.checksums == {"sha1": "c" * 40, "sha256": "d" * 64}
    big = crawl(crawler(handler, page_size=3, filelist_max_files=3), NPM)
    assert [p.cursor for p in big] == ['aqlk:["p2/-", "p2-1.0.2.tgz"]', None]


def test_remote_repositories_are_read_from_their_cache() -> None:
    queries: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/artifactory/api/storage/"):
            assert request.url.path == "/artifactory/api/storage/npmjs-cache/"
            return httpx.Response(400, text="Pro only")
        queries.append(request.content.decode())
        return aql_rows(queries[-1], [])

    crawl(crawler(handler), REMOTE)
    assert '"repo":"npmjs-cache"' in queries[0]
    c = crawler(handler)
    assert c.download_url(REMOTE, "ms/-/ms-2.1.3.tgz") == (
        "http://art.test/artifactory/npmjs-cache/ms/-/ms-2.1.3.tgz")


def test_properties_give_identity_where_the_path_does_not() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/artifactory/api/storage/npm-local/":
            return httpx.Response(400, text="Pro only")
        if path == "/artifactory/api/storage/npm-local/uploads/build-7.tgz":
            return httpx.Response(200, json={"properties": {
                "npm.name": ["@acme/ui"], "npm.version": ["v2.0.0"]}})
        if path.startswith("/artifactory/api/storage/"):
            return httpx.Response(404, json={"errors": [{"status": 404, "message": "No props"}]})
        return aql_rows(request.content.decode(), [
            {"path": "uploads", "name": "build-7.tgz", "size": 1},
            {"path": "uploads", "name": "mystery.tgz", "size": 1},
            {"path": ".", "name": "is-number", "size": 1},
        ])

    (page,) = crawl(crawler(handler), NPM)
    found = {a.path: a for a, _ in page.items}
    ui = found["uploads/build-7.tgz"].coordinates
    assert (ui.namespace, ui.package, ui.version) == ("acme", "ui", "2.0.0")
    assert "npm.name" in found["uploads/mystery.tgz"].refused
    assert found["is-number"].kind.value == "metadata"  # root-level ('.') packument
    assert page.requests == 3  # one AQL page + two property look-ups


def test_aql_429_is_retried_with_retry_after() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "2"}),
                    httpx.Response(200, json={"results": []})])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/artifactory/api/storage/"):
            return httpx.Response(400, text="Pro only")
        return next(answers)

    sleeps = Sleeps()
    crawl(crawler(handler, sleeps), NPM)
    assert sleeps.calls == [2]


@pytest.mark.parametrize("cursor", ["filelist:3", "aql:x", "nonsense", "aqlk:[1, 2]",
                                    "aqlk:not json"])
def test_unknown_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(SourceError, match="not one migrator writes"):
        crawl(crawler(lambda r: httpx.Response(500)), NPM, cursor=cursor)


def test_aql_without_results_is_a_source_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/artifactory/api/storage/"):
            return httpx.Response(400, text="Pro only")
        return httpx.Response(200, content=json.dumps({"range": {}}).encode())

    with pytest.raises(SourceError, match="no 'results' list"):
        crawl(crawler(handler), NPM)


def test_settings_context_path_and_bearer_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[
            {"key": "libs", "type": "LOCAL", "packageType": "Maven", "url": "u"},
            {"key": "npmjs", "type": "REMOTE", "packageType": "Npm",
             "url": "https://registry.npmjs.org"},
            {"key": "all", "type": "VIRTUAL", "packageType": "Npm"},
            {"key": "dock", "type": "LOCAL", "packageType": "Docker"},
        ])

    c = ArtifactoryCrawler.from_settings("https://art.example", token="tok-123",
                                         transport=httpx.MockTransport(handler))
    repos = anyio.run(c.repositories)
    assert str(seen[0].url) == "https://art.example/artifactory/api/repositories"
    assert seen[0].headers["authorization"] == "Bearer tok-123"
    assert [(r.name, r.type, r.url) for r in repos] == [
        ("libs", RepoType.HOSTED, None),
        ("npmjs", RepoType.PROXY, "https://registry.npmjs.org"),
        ("all", RepoType.GROUP, None),
    ]


def test_storage_info_sends_big_repositories_straight_to_aql() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.url.path == "/artifactory/api/storageinfo":
            return httpx.Response(200, json={"repositoriesSummaryList": [
                {"repoKey": "npm-local", "filesCount": 50_000, "repoType": "LOCAL"},
                {"repoKey": "small", "filesCount": "12"}]})
        if request.url.path.startswith("/artifactory/api/storage/"):
            return httpx.Response(200, json={"files": []})
        return aql_rows(request.content.decode(), [])

    c = crawler(handler, storage_info=True)
    crawl(c, NPM)
    assert paths == ["/artifactory/api/storageinfo", "/artifactory/api/search/aql"]
    crawl(c, SourceRepository("small", Format.NPM, RepoType.HOSTED))
    assert paths[2:] == ["/artifactory/api/storage/small/"]  # storage info is read once
