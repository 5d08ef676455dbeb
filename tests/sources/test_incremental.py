"""The listings `migrator sync` and scoping use: Artifactory AQL on `modified` and paths-only
AQL, Nexus `lastDownloaded`/`blobCreated`, timestamps normalised to comparable UTC text."""

from __future__ import annotations

import json
import re

import anyio
import httpx

from migrator.models import Format, RepoType, SourceRepository
from migrator.paths import display_path
from migrator.retry import RetryPolicy
from migrator.sources import listed_path, utc_iso
from migrator.sources.artifactory import ArtifactoryCrawler, aql_query
from migrator.sources.nexus import NexusCrawler

RAW = SourceRepository("generic-local", Format.GENERIC, RepoType.HOSTED)


def _aql_handler(rows: list[dict], seen: list[str]):
    def handle(request: httpx.Request) -> httpx.Response:
        query = request.content.decode()
        seen.append(query)
        criteria = json.loads(re.search(r"items\.find\((\{.*?\})\)\.include", query)[1])
        since = (criteria.get("modified") or {}).get("$gte")
        picked = [r for r in rows if since is None or r["modified"] >= since]
        for part in criteria.get("$and", []):  # keyset: the rows after (path, name)
            gt, same = part["$or"]
            after = (gt["path"]["$gt"], same["$and"][1]["name"]["$gt"])
            picked = [r for r in picked if (r["path"], r["name"]) > after]
        offset = int(re.search(r"\.offset\((\d+)\)", query)[1])
        limit = int(re.search(r"\.limit\((\d+)\)", query)[1])
        fields = json.loads("[" + re.search(r"\.include\((.*?)\)\.sort", query)[1] + "]")
        page = [{k: r[k] for k in fields if k in r} for r in picked[offset:offset + limit]]
        return httpx.Response(200, json={"results": page, "range": {"total": len(page)}})

    return handle


def _crawler(handler, **options) -> ArtifactoryCrawler:
    client = httpx.AsyncClient(base_url="http://art.test/artifactory",
                               transport=httpx.MockTransport(handler))
    return ArtifactoryCrawler(client, policy=RetryPolicy(name="t", attempts=1), **options)


ROWS = [{"repo": "generic-local", "path": "tools", "name": f"t{i}.sh", "size": 3,
         "modified": f"2026-11-{10 + i:02d}T00:00:00.000Z",
         "created": "2026-01-01T00:00:00.000Z", "actual_sha1": "a" * 40} for i in range(5)]


def test_the_modified_since_query_is_json_encoded_item_fields_only_and_paged():
    q = aql_query("generic-local", offset=0, limit=2,
                  criteria={"modified": {"$gte": "2026-11-12T00:00:00.000Z"}})
    assert q.startswith('items.find({"repo":"generic-local","type":"file","modified":'
                        '{"$gte":"2026-11-12T00:00:00.000Z"}})')
    assert ".sort(" in q and q.endswith(".offset(0).limit(2)")
    assert "property." not in q and "stat." not in q


def test_crawl_modified_lists_only_files_modified_since_and_pages():
    seen: list[str] = []
    c = _crawler(_aql_handler(ROWS, seen), page_size=2)

    async def go():
        return [p async for p in c.crawl_modified(RAW, "2026-11-12T00:00:00.000Z")]

    pages = anyio.run(go)
    paths = [a.path for p in pages for a, _ in p.items]
    assert paths == ["tools/t2.sh", "tools/t3.sh", "tools/t4.sh"]
    assert len(seen) == 2 and all('"modified":{"$gte"' in q for q in seen)
    assert pages[0].items[0][0].created == "2026-01-01T00:00:00.000Z"


def test_list_paths_asks_for_paths_only_and_reads_every_page():
    seen: list[str] = []
    c = _crawler(_aql_handler(ROWS, seen), page_size=2)

    async def go():
        return [p async for p in c.list_paths(RAW)]

    pages = anyio.run(go)
    assert [p for page in pages for p in page] == [f"tools/t{i}.sh" for i in range(5)]
    assert len(seen) == 3
    assert all('.include("repo","path","name")' in q for q in seen)


def test_nexus_listing_carries_last_downloaded_and_blob_created():
    body = {"items": [{"path": "/docs/a.txt", "id": "x", "repository": "raw", "format": "raw",
                       "checksum": {"sha1": "b" * 40}, "fileSize": 3,
                       "lastModified": "2026-11-01T10:00:00.000+00:00",
                       "lastDownloaded": "2026-11-20T10:00:00.123+01:00",
                       "blobCreated": "2026-10-01T00:00:00.000+00:00"}],
            "continuationToken": None}
    client = httpx.AsyncClient(base_url="http://nx.test", transport=httpx.MockTransport(
        lambda r: httpx.Response(200, json=body)))
    c = NexusCrawler(client, policy=RetryPolicy(name="t", attempts=1))
    repo = SourceRepository("raw", Format.GENERIC, RepoType.HOSTED)

    async def go():
        return [p async for p in c.crawl(repo)]

    [page] = anyio.run(go)
    asset = page.items[0][0]
    assert asset.last_downloaded == "2026-11-20T09:00:00.123Z"  # UTC, comparable as text
    assert asset.created == "2026-10-01T00:00:00.000Z"


def test_timestamps_normalise_to_utc_text_and_bad_ones_are_unknown():
    assert utc_iso("2026-11-20T10:00:00Z") == "2026-11-20T10:00:00.000Z"
    assert utc_iso("2026-11-20T10:00:00.5-02:00") == "2026-11-20T12:00:00.500Z"
    assert utc_iso("yesterday") is None and utc_iso(None) is None and utc_iso(17) is None
    assert listed_path("a/b.txt") == "a/b.txt"
    # a refused path is recorded by its display form, as the plan records it
    assert listed_path("../../etc/passwd") == display_path("../../etc/passwd")
