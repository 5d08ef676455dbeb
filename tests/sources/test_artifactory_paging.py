"""Artifactory AQL keyset paging: the query, the cursor, resuming old offset cursors, and a
server that ignores the keyset criteria."""

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

RAW = SourceRepository("generic-local", Format.GENERIC, RepoType.HOSTED)
ROWS = [{"repo": "generic-local", "path": "." if i % 4 == 0 else f"d{i % 3}", "name": f"f{i}",
         "size": 1, "modified": f"2026-11-{1 + i:02d}T00:00:00.000Z"} for i in range(9)]
ROWS.sort(key=lambda r: (r["path"], r["name"]))


def criteria_of(query: str) -> dict:
    return json.loads(re.search(r"items\.find\((\{.*?\})\)\.include", query)[1])


class Server:
    """A fake AQL endpoint over ROWS that honours keyset criteria (unless `ignore_keyset`),
    `modified` criteria and offset/limit, and keeps every query it was sent."""

    def __init__(self, ignore_keyset: bool = False) -> None:
        self.queries: list[str] = []
        self.ignore_keyset = ignore_keyset

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/artifactory/api/storage"):
            return httpx.Response(400, text="This REST API is available only in Artifactory Pro")
        query = request.content.decode()
        self.queries.append(query)
        where = criteria_of(query)
        rows = ROWS
        since = (where.get("modified") or {}).get("$gte")
        if since:
            rows = [r for r in rows if r["modified"] >= since]
        for part in where.get("$and", []):
            if "$or" in part and not self.ignore_keyset:
                gt, same = part["$or"]
                after = (gt["path"]["$gt"], same["$and"][1]["name"]["$gt"])
                rows = [r for r in rows if (r["path"], r["name"]) > after]
        offset = int(re.search(r"\.offset\((\d+)\)", query)[1])
        limit = int(re.search(r"\.limit\((\d+)\)", query)[1])
        return httpx.Response(200, json={"results": rows[offset:offset + limit]})


def crawler(server: Server, page_size: int = 2) -> ArtifactoryCrawler:
    client = httpx.AsyncClient(base_url="http://art.test/artifactory",
                               transport=httpx.MockTransport(server))
    return ArtifactoryCrawler(client, policy=RetryPolicy(name="t", attempts=1),
                              page_size=page_size, listing="aql")


def collect(pages) -> list:
    async def go():
        return [p async for p in pages]

    return anyio.run(go)


def full_path(row: dict) -> str:
    return row["name"] if row["path"] == "." else f"{row['path']}/{row['name']}"


def test_keyset_query_keeps_the_callers_criteria_and_asks_for_the_rows_after() -> None:
    q = aql_query("r", limit=5, after=("a/b", "c.jar"),
                  criteria={"$or": [{"name": "x"}, {"name": "y"}], "$and": [{"size": 1}]})
    where = criteria_of(q)
    assert where["repo"] == "r" and where["type"] == "file"
    assert where["$or"] == [{"name": "x"}, {"name": "y"}]  # the caller's own $or is kept
    assert where["$and"] == [{"size": 1}, {"$or": [
        {"path": {"$gt": "a/b"}}, {"$and": [{"path": "a/b"}, {"name": {"$gt": "c.jar"}}]}]}]
    assert q.endswith('.sort({"$asc":["path","name"]}).offset(0).limit(5)')


def test_every_page_after_the_first_is_a_keyset_page_with_offset_zero() -> None:
    server = Server()
    pages = collect(crawler(server).crawl(RAW))
    assert [a.path for p in pages for a, _ in p.items] == [full_path(r) for r in ROWS]
    assert all(".offset(0)." in q for q in server.queries)
    assert "$and" not in criteria_of(server.queries[0])
    assert all("$and" in criteria_of(q) for q in server.queries[1:])
    last = ROWS[1]
    assert pages[0].cursor == "aqlk:" + json.dumps([last["path"], last["name"]])
    assert pages[-1].done and pages[-1].cursor is None


def test_a_saved_cursor_resumes_after_its_row_and_an_old_offset_cursor_still_resumes() -> None:
    server = Server()
    first = collect(crawler(server).crawl(RAW))
    for i, page in enumerate(first[:-1]):
        # kill -9 after any page, then resume at its cursor: the rest, nothing twice
        rest = collect(crawler(Server()).crawl(RAW, cursor=page.cursor))
        assert [a.path for p in rest for a, _ in p.items] == [
            full_path(r) for r in ROWS[2 * (i + 1):]]
    server = Server()
    rest = collect(crawler(server).crawl(RAW, cursor="aql:4"))
    assert [a.path for p in rest for a, _ in p.items] == [full_path(r) for r in ROWS[4:]]
    assert ".offset(4)." in server.queries[0]  # that page by its offset, the rest by keyset
    assert all(".offset(0)." in q and "$and" in criteria_of(q) for q in server.queries[1:])


def test_a_server_ignoring_the_keyset_criteria_stops_with_an_error_naming_the_repo() -> None:
    server = Server(ignore_keyset=True)
    with pytest.raises(SourceError, match="'generic-local' answered the same page again"):
        collect(crawler(server).crawl(RAW))
    assert len(server.queries) == 2
    with pytest.raises(SourceError, match="same page again"):
        collect(crawler(Server(ignore_keyset=True)).list_paths(RAW))


def test_sync_listings_page_by_keyset_with_their_criteria_on_every_page() -> None:
    server = Server()
    since = "2026-11-04T00:00:00.000Z"
    pages = collect(crawler(server).crawl_modified(RAW, since))
    assert [a.path for p in pages for a, _ in p.items] == [
        full_path(r) for r in ROWS if r["modified"] >= since]
    assert len(server.queries) >= 3
    assert all(criteria_of(q)["modified"] == {"$gte": since} for q in server.queries)
    server = Server()
    paths = collect(crawler(server, page_size=4).list_paths(RAW))
    assert [p for page in paths for p in page] == [full_path(r) for r in ROWS]
    assert all('.include("repo","path","name")' in q for q in server.queries)
