"""Crawl benchmark: `plan` over a generated Nexus (OrientDB mode) with per-request latency.

    .venv/bin/python bench/crawl.py                     # 10k and 100k assets, 5 ms, 1 repo
    .venv/bin/python bench/crawl.py --sizes 100000 --repos 4 --latency 0.005

The source is a generator that answers `/v1/repositories` and `/v1/assets` exactly like Nexus
in OrientDB mode (10 items per page, opaque continuation tokens, no leading '/', `checksum`
with sha1+md5 only) after sleeping `latency` seconds, served in-process through an async
`httpx.MockTransport`. It holds nothing in memory, so what grows is ours: crawler, planner
and the SQLite state. The sandbox emulator is not used here because it re-reads its seed folder
on every request, which measures the emulator rather than the crawler.

Each size runs in a fresh subprocess, so peak RSS (`ru_maxrss`) belongs to that size alone.
Peak RSS includes SQLite's page cache, which the work queue caps at 16 MiB; `--heap` adds the
Python heap peak (crawler + planner). Memory is flat when those do not grow with the repository.

`--artifactory N` instead crawls one Artifactory repository of N files by AQL, with offset
paging and with keyset paging side by side (each in its own subprocess), as ratios to the
request-latency floor (pages x latency), with the Python heap peak (tracemalloc) and peak RSS:

    .venv/bin/python bench/crawl.py --artifactory 1000000    # 1M items, 1,000 per page
    .venv/bin/python bench/crawl.py --artifactory 1000000 --keyset-only
    .venv/bin/python bench/crawl.py --artifactory 10000 --filelist   # and one File List

`--filelist` adds Pro's File List: the whole repository in one answer (the crawler uses it up
to `filelist_max_files`, 10,000 by default, and pages with AQL beyond; here it is allowed at
any size, to show what one answer costs in time and memory).

The model server generates its rows from the row number (Maven layout, in (path, name)
order) and holds nothing. What a query costs the database is modelled, like the sandbox's
`aql_row_cost`: `--row-cost` seconds per row read, where `.offset(K)` reads K skipped rows plus
the page (SQL OFFSET walks the index) and a keyset page (`$gt` on path, name) seeks the index
by bisection and reads the page. What is measured is the crawler's listing (`crawl()` pages,
assets built), not the state: the Nexus mode above measures `plan()` into SQLite.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

# Run as a script, bench/ would be sys.path[0]; a bench module named like a stdlib one
# would then shadow any same-named stdlib module. Import from the repository root instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import anyio  # noqa: E402  (after the sys.path fix above)
import httpx  # noqa: E402

PAGE = 10  # OrientDB mode
SUFFIXES = (".jar", ".pom", ".jar.sha1", ".pom.sha1", "-sources.jar")


def asset_path(i: int) -> str:
    """A Maven layout: 5 files per version, 10 versions per artifact."""
    artifact = f"lib{i // 50}"
    version = f"1.{(i // 5) % 10}"
    return f"com/acme/bench/{artifact}/{version}/{artifact}-{version}{SUFFIXES[i % 5]}"


def fake_nexus(total: int, repos: int, latency: float) -> httpx.MockTransport:
    per_repo = total // repos
    names = [f"maven-bench-{r}" for r in range(repos)]

    async def handler(request: httpx.Request) -> httpx.Response:
        if latency:
            await anyio.sleep(latency)
        if request.url.path == "/service/rest/v1/repositories":
            return httpx.Response(200, json=[
                {"name": n, "format": "maven2", "type": "hosted", "url": f"http://x/{n}",
                 "attributes": {}} for n in names])
        if request.url.path != "/service/rest/v1/assets":
            return httpx.Response(404)
        repo = request.url.params["repository"]
        token = request.url.params.get("continuationToken")
        start = int(base64.b64decode(token)) if token else 0
        end = min(start + PAGE, per_repo)
        items = []
        for i in range(start, end):
            path = asset_path(i)
            digest = hashlib.sha1(path.encode()).hexdigest()
            items.append({
                "downloadUrl": f"http://public.example/repository/{repo}/{path}",
                "path": path, "id": f"{repo}:{i}", "repository": repo, "format": "maven2",
                "checksum": {"sha1": digest, "md5": digest[:32]},
                "contentType": "application/java-archive",
                "lastModified": "2024-01-02T03:04:05.678+00:00", "fileSize": 1000 + i % 97,
                "maven2": {"groupId": "com.acme.bench", "extension": "jar"},
            })
        more = end < per_repo
        nxt = base64.b64encode(str(end).encode()).decode() if more else None
        return httpx.Response(200, json={"items": items, "continuationToken": nxt})

    return httpx.MockTransport(handler)


def run_one(total: int, repos: int, latency: float, heap: bool = False) -> dict[str, float]:
    """One measurement, in this process: plan() into a fresh state file.

    `heap` also traces Python allocations (tracemalloc; slower): their peak is the memory of the
    crawler and planner alone, without SQLite's page cache (C allocations, not traced), which
    the work queue sizes to 16 MiB and which fills up to that cap as the state file grows.
    """
    from migrator.manifest import load_manifest
    from migrator.pipeline.plan import plan
    from migrator.sources.nexus import NexusCrawler
    from migrator.state import WorkQueue

    with tempfile.TemporaryDirectory() as tmp:
        manifest_path = Path(tmp) / "bench.toml"
        lines = ['[source]', 'kind = "nexus"', 'url = "http://nexus.bench"',
                 '[target]', 'domain = "bench"', 'domain_owner = "111122223333"',
                 'region = "us-east-1"', '[options]', f"source_concurrency = {max(repos, 1)}"]
        for r in range(repos):
            lines += ["[[repositories]]", f'source = "maven-bench-{r}"', 'target = "maven-bench"']
        manifest_path.write_text("\n".join(lines) + "\n")
        manifest = load_manifest(manifest_path)
        transport = fake_nexus(total, repos, latency)

        def factory(settings: object) -> NexusCrawler:
            return NexusCrawler.from_settings("http://nexus.bench", transport=transport)

        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if heap:
            tracemalloc.start()
        started = time.perf_counter()
        with WorkQueue.open(Path(tmp) / "state.sqlite", lock_for="bench") as queue:
            summary = anyio.run(lambda: plan(manifest, queue, crawler_factory=factory))
            stored = queue.conn.execute("SELECT count(*) FROM assets").fetchone()[0]
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        pages = sum(r.pages for r in summary.repositories)
        heap_peak = tracemalloc.get_traced_memory()[1] / 2**20 if heap else float("nan")
        return {"assets": stored, "repos": repos, "pages": pages, "seconds": seconds,
                "heap_peak_mib": heap_peak,
                "assets_per_s": stored / seconds, "rss_before_mib": rss_before / 1024,
                "peak_rss_mib": peak / 1024, "state_mib":
                os.path.getsize(Path(tmp) / "state.sqlite") / 2**20}


# ---- Artifactory: AQL offset paging vs keyset paging ---------------------------------------

ART_SUFFIXES = ("-javadoc.jar", "-sources.jar", ".jar", ".module", ".pom")  # in sort order


class ArtRows:
    """Row i of a repository of `n` files, in (path, name) order, made on demand: a sequence
    `bisect` can search like the database's index on (path, name)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[str, str]:
        artifact, version = f"lib{i // 50:06d}", f"1.{(i // 5) % 10}"
        return (f"com/acme/bench/{artifact}/{version}",
                f"{artifact}-{version}{ART_SUFFIXES[i % 5]}")


def fake_artifactory(total: int, latency: float, row_cost: float,
                     stats: dict[str, int]) -> httpx.MockTransport:
    import bisect
    import re

    rows = ArtRows(total)

    def row(i: int) -> tuple[str, str, str]:
        path, name = rows[i]
        return path, name, hashlib.sha1(f"{path}/{name}".encode()).hexdigest()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/artifactory/api/storage/libs-bench/" and \
                "list" in request.url.params:
            # File List (Pro): the whole repository in one answer; the database reads every
            # row once
            stats["rows_read"] = stats.get("rows_read", 0) + total
            stats["queries"] = stats.get("queries", 0) + 1
            await anyio.sleep(latency + row_cost * total)
            files = []
            for i in range(total):
                path, name, digest = row(i)
                files.append({"uri": f"/{path}/{name}", "size": 1000 + i % 97,
                              "lastModified": "2024-01-02T03:04:05.678Z", "folder": False,
                              "sha1": digest, "sha2": digest + digest[:24]})
            return httpx.Response(200, content=json.dumps({
                "uri": "http://art.bench/artifactory/api/storage/libs-bench", "files": files,
                "created": "2024-01-02T03:04:05.678Z"}).encode(),
                headers={"Content-Type": "application/json"})
        if request.url.path != "/artifactory/api/search/aql":
            return httpx.Response(404)
        query = request.content.decode()
        where = json.loads(re.search(r"items\.find\((\{.*?\})\)\.include", query)[1])
        offset = int(re.search(r"\.offset\((\d+)\)", query)[1])
        limit = int(re.search(r"\.limit\((\d+)\)", query)[1])
        start = 0
        for part in where.get("$and", []):  # keyset criteria: seek the index
            gt, same = part["$or"]
            start = bisect.bisect_right(rows, (gt["path"]["$gt"],
                                               same["$and"][1]["name"]["$gt"]))
        first = min(start + offset, total)
        last = min(first + limit, total)
        read = offset + (last - first)  # OFFSET walks the skipped rows, then the page
        stats["rows_read"] = stats.get("rows_read", 0) + read
        stats["queries"] = stats.get("queries", 0) + 1
        await anyio.sleep(latency + row_cost * read)
        out = []
        for i in range(first, last):
            path, name, digest = row(i)
            out.append({"repo": "libs-bench", "path": path, "name": name, "type": "file",
                        "size": 1000 + i % 97, "created": "2024-01-02T03:04:05.678Z",
                        "modified": "2024-01-02T03:04:05.678Z", "actual_sha1": digest,
                        "actual_md5": digest[:32], "sha256": digest + digest[:24]})
        return httpx.Response(200, content=json.dumps({"results": out, "range": {
            "start_pos": offset, "end_pos": len(out), "total": len(out),
            "limit": limit}}).encode(), headers={"Content-Type": "application/json"})

    return httpx.MockTransport(handler)


def run_artifactory(mode: str, total: int, latency: float, row_cost: float,
                    page_size: int, heap: bool = False) -> dict[str, float]:
    """One crawl of `total` files, in this process, by `mode` ("offset", "keyset", or
    "filelist": one File List answer, as on Pro, allowed up to any size here);
    `heap` traces Python allocations (tracemalloc: about 3x slower)."""
    from contextlib import aclosing

    from migrator.models import Format, RepoType, SourceRepository
    from migrator.sources.artifactory import ArtifactoryCrawler

    stats: dict[str, int] = {}
    crawler = ArtifactoryCrawler.from_settings(
        "http://art.bench/artifactory", token="bench",
        transport=fake_artifactory(total, latency, row_cost, stats),
        listing="filelist" if mode == "filelist" else "aql", page_size=page_size,
        filelist_max_files=max(total, 1))
    repo = SourceRepository("libs-bench", Format.MAVEN, RepoType.HOSTED)
    counted = {"assets": 0, "pages": 0}

    async def keyset() -> None:
        async for page in crawler.crawl(repo):
            counted["assets"] += len(page.items)
            counted["pages"] += 1

    async def offset() -> None:
        # What the crawler did before keyset paging: every page by `.offset(K)` (an `aql:K`
        # cursor is still read that way; one page each, the same parsing and assets).
        start = 0
        while True:
            async with aclosing(crawler.crawl(repo, cursor=f"aql:{start}")) as pages:
                page = await anext(pages)
            counted["assets"] += len(page.items)
            counted["pages"] += 1
            start += len(page.items)
            if len(page.items) < page_size:
                return

    if heap:
        tracemalloc.start()
    started = time.perf_counter()
    cpu = time.process_time()
    anyio.run(offset if mode == "offset" else keyset)  # File List: one page, the same loop
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    heap_peak = tracemalloc.get_traced_memory()[1] / 2**20 if heap else float("nan")
    floor = counted["pages"] * latency
    # What the model server spent: the latency of each request and the rows it read.
    server = stats.get("queries", 0) * latency + row_cost * stats.get("rows_read", 0)
    return {"mode": mode, **counted, "seconds": seconds, "floor": floor, "cpu": cpu,
            "server": server,
            "ratio": seconds / floor if floor else float("nan"),
            "rows_read": stats.get("rows_read", 0), "heap_peak_mib": heap_peak,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main_artifactory(args: argparse.Namespace) -> None:
    rows = []
    modes = ("keyset",) if args.keyset_only else ("offset", "keyset")
    if args.filelist:
        modes = (*modes, "filelist")
    for mode in modes:
        out = subprocess.run(
            [sys.executable, __file__, "--one-art", mode, "--artifactory", str(args.artifactory),
             "--latency", str(args.latency), "--row-cost", str(args.row_cost),
             "--page-size", str(args.page_size), *(["--heap"] if args.heap else [])],
            check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"Artifactory AQL, one repository of {args.artifactory:,} files, {args.page_size} "
          f"per page, {args.latency * 1000:g} ms per request, {args.row_cost * 1e6:g} us per "
          "row the database reads")
    print("paging | pages | seconds | floor s (pages x latency) | ratio to floor | server s "
          "| crawler CPU s | rows read | py heap peak MiB | peak RSS MiB")
    for r in rows:
        print(" | ".join([r["mode"], f"{r['pages']}", f"{r['seconds']:.1f}", f"{r['floor']:.1f}",
                          f"{r['ratio']:.2f}", f"{r['server']:.1f}", f"{r['cpu']:.1f}",
                          f"{r['rows_read']:,}",
                          f"{r['heap_peak_mib']:.1f}", f"{r['peak_rss_mib']:.1f}"]))
    by = {r["mode"]: r for r in rows}
    if "offset" in by and "keyset" in by:
        print(f"offset / keyset: {by['offset']['seconds'] / by['keyset']['seconds']:.1f}x the "
              f"time, {by['offset']['rows_read'] / by['keyset']['rows_read']:.0f}x the rows "
              "read")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repos", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.005)
    parser.add_argument("--quick", action="store_true", help="CI: 2,000 assets")
    parser.add_argument("--heap", action="store_true",
                        help="also measure the Python heap peak (tracemalloc; slower)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--artifactory", type=int, metavar="N",
                        help="crawl one Artifactory repository of N files by AQL, offset vs "
                        "keyset paging (--quick: 20,000)")
    parser.add_argument("--row-cost", type=float, default=1e-6,
                        help="Artifactory: seconds per row the database reads (default 1 us)")
    parser.add_argument("--page-size", type=int, default=1000, help="Artifactory: AQL limit")
    parser.add_argument("--keyset-only", action="store_true",
                        help="Artifactory: skip the offset crawl (O(N^2) server time)")
    parser.add_argument("--filelist", action="store_true",
                        help="Artifactory: also one File List of the whole repository (Pro)")
    parser.add_argument("--one-art", choices=("offset", "keyset", "filelist"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.artifactory is not None or args.one_art:
        if args.quick:
            args.artifactory = 20_000
        if args.one_art:
            print(json.dumps(run_artifactory(args.one_art, args.artifactory, args.latency,
                                             args.row_cost, args.page_size, args.heap)))
        else:
            main_artifactory(args)
        return
    if args.quick:
        args.sizes = "2000"
    if args.one is not None:
        print(json.dumps(run_one(args.one, args.repos, args.latency, args.heap)))
        return
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(size), "--repos", str(args.repos),
             "--latency", str(args.latency), *(["--heap"] if args.heap else [])],
            check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    head = ("assets", "repos", "pages", "seconds", "assets/s", "RSS before MiB", "peak RSS MiB",
            "py heap peak MiB", "state MiB")
    print(f"Nexus orient mode, {PAGE}/page, {args.latency * 1000:g} ms per request")
    print(" | ".join(head))
    for r in rows:
        print(" | ".join([f"{r['assets']:>6}", f"{r['repos']}", f"{r['pages']}",
                          f"{r['seconds']:.1f}", f"{r['assets_per_s']:.0f}",
                          f"{r['rss_before_mib']:.1f}", f"{r['peak_rss_mib']:.1f}",
                          f"{r['heap_peak_mib']:.1f}", f"{r['state_mib']:.1f}"]))


if __name__ == "__main__":
    main()
