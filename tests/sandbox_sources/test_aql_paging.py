"""The Artifactory emulator's AQL paging: keyset criteria on (path, name) through an index, and
what offset and keyset pages cost the database (`rows_read`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migrator_sandbox import artifactory
from migrator_sandbox.artifactory_items import Item, keyset_bound, parse_aql, run_aql
from tests.sandbox_sources.conftest import ART_AUTH, client, raw_seed

pytestmark = pytest.mark.anyio

FIELDS = '.include("repo","path","name").sort({"$asc":["path","name"]})'


def keyset(path: str, name: str) -> dict:
    return {"$or": [{"path": {"$gt": path}}, {"$and": [{"path": path}, {"name": {"$gt": name}}]}]}


def find(criteria: dict, tail: str) -> str:
    return f"items.find({json.dumps(criteria)}){FIELDS}{tail}"


def items(n: int) -> list[Item]:
    """`n` files over folders of 7 plus some at the root (path '.'), in no particular order."""
    out = []
    for i in reversed(range(n)):
        path = "." if i % 11 == 0 else f"dir{i % 7}/sub"
        out.append(Item("bulk", path, f"f{i:05d}.bin", "file", 1, 0.0, {}, {}))
    return out


def run(query: str, rows: list[Item]) -> tuple[list[tuple[str, str]], int]:
    stats: dict[str, int] = {}
    result = run_aql(parse_aql(query), rows, include_replaces=False, hard_limit=None,
                     visible=lambda i: True, stats=stats)
    return [(r["path"], r["name"]) for r in result["results"]], stats["rows_read"]


def test_keyset_pages_are_the_offset_pages_and_read_only_the_page() -> None:
    rows = items(500)
    every = sorted((i.path, i.name) for i in rows)
    offset_pages, keyset_pages, after = [], [], None
    offset_cost, keyset_cost = [], []
    for start in range(0, 500, 50):
        page, cost = run(find({"repo": "bulk"}, f".offset({start}).limit(50)"), rows)
        offset_pages.append(page)
        offset_cost.append(cost)
        criteria = {"repo": "bulk", **({"$and": [keyset(*after)]} if after else {})}
        page, cost = run(find(criteria, ".offset(0).limit(50)"), rows)
        keyset_pages.append(page)
        keyset_cost.append(cost)
        after = page[-1]
    assert keyset_pages == offset_pages
    assert [p for page in keyset_pages for p in page] == every
    # OFFSET sorts and skips what comes before the page; the keyset seek reads the page.
    assert offset_cost == [start + 50 for start in range(0, 500, 50)]
    assert keyset_cost == [50] * 10


def test_keyset_criteria_combine_with_other_criteria_and_stop_at_the_end() -> None:
    rows = items(100)
    criteria = {"repo": "bulk", "path": {"$match": "dir3*"}, "$and": [keyset("dir3/sub", "f")]}
    page, cost = run(find(criteria, ".offset(0).limit(1000)"), rows)
    assert page == sorted((i.path, i.name) for i in rows if i.path == "dir3/sub")
    assert cost == len(page)
    last = page[-1]
    assert run(find({"repo": "bulk", "$and": [keyset(*last)]}, ".limit(10)"), rows)[0] == [
        p for p in sorted((i.path, i.name) for i in rows) if p > last][:10]
    assert run(find({"repo": "bulk", **keyset("zzz", "")}, ".limit(10)"), rows) == ([], 0)


def test_only_the_exact_keyset_shape_is_taken_for_an_index_seek() -> None:
    assert keyset_bound({"$and": [keyset("a/b", "c.jar")]}) == ("a/b", "c.jar")
    assert keyset_bound(keyset("a", "b")) == ("a", "b")
    # A different path in the tie-break, or extra conditions: evaluated by scanning.
    odd = keyset("a", "b")
    odd["$or"][1]["$and"][0] = {"path": "other"}
    assert keyset_bound(odd) is None
    assert keyset_bound({"$or": [{"path": {"$gt": "a"}}, {"name": "x"}]}) is None
    assert keyset_bound({"repo": "x"}) is None
    # ...and a scan gives the same rows as the seek would, for the odd shape too.
    rows = items(60)
    page, _ = run(find({"repo": "bulk", **odd}, ".limit(100)"), rows)
    assert page == sorted((i.path, i.name) for i in rows if i.path > "a")


async def test_keyset_paging_over_http_and_the_row_cost_switch(tmp_path: Path) -> None:
    seed = raw_seed(tmp_path, 30)
    app = artifactory.build_app(seed, aql_row_cost=1e-9)
    assert app.state.artifactory.aql_row_cost == 1e-9
    names, after = [], None
    async with client(app, auth=ART_AUTH) as c:
        while True:
            criteria = {"repo": "raw-bulk", **({"$and": [keyset(*after)]} if after else {})}
            r = await c.post("/artifactory/api/search/aql",
                             content=find(criteria, ".offset(0).limit(7)"),
                             headers={"Content-Type": "text/plain"})
            assert r.status_code == 200, r.text
            rows = r.json()["results"]
            names += [x["name"] for x in rows]
            if len(rows) < 7:
                break
            after = rows[-1]["path"], rows[-1]["name"]
    assert names == [f"file-{i:04d}.txt" for i in range(30)]
