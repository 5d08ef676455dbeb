"""Work-queue benchmark: enqueue, claim+complete and `migrator status` on 1,000,000 assets.

Run: `make bench` or `.venv/bin/python bench/workqueue_bench.py [--assets N]`.
Targets on a 2-core machine: enqueue >= 50,000 assets/s, claim+complete >= 10,000 assets/s,
`migrator status` < 1 s, peak memory < 150 MB. The baseline is a bare SQLite table receiving
the same rows through one executemany per page with no index, no constraint, no status
logic: the ratio says what the queue's bookkeeping costs.
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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

FILES = ("jar", "pom", "sources.jar", "module")  # 4 assets per version, like a Maven release
PAGE = 1000


def pages(n_assets: int):
    per_page = PAGE // len(FILES)
    n_versions = n_assets // len(FILES)
    for start in range(0, n_versions, per_page):
        page = []
        for i in range(start, min(start + per_page, n_versions)):
            group, artifact, version = f"com.acme.g{i % 97}", f"lib{i % 1009}", f"1.{i}"
            c = Coordinates(Format.MAVEN, group, artifact, version)
            base = f"{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}"
            for ext in FILES:
                page.append((DiscoveredAsset(
                    path=f"{base}.{ext}", size=1000 + i % 5000,
                    checksums={"sha1": f"{i:040x}", "md5": f"{i:032x}"}, coordinates=c,
                    kind=AssetKind.ARTIFACT), None))
        yield page


def baseline(path: Path, n_assets: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE t (path TEXT, size INTEGER, sha1 TEXT, md5 TEXT, g TEXT, a TEXT, "
                 "v TEXT)")
    elapsed = 0.0
    for page in pages(n_assets):
        t0 = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t VALUES (?,?,?,?,?,?,?)", [
            (a.path, a.size, a.checksums["sha1"], a.checksums["md5"], a.coordinates.namespace,
             a.coordinates.package, a.coordinates.version) for a, _ in page])
        conn.execute("COMMIT")
        elapsed += time.perf_counter() - t0
    conn.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assets", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=500, help="versions per claim")
    ap.add_argument("--quick", action="store_true", help="CI: 20,000 assets")
    args = ap.parse_args()
    n = 20_000 if args.quick else args.assets
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "bench.sqlite"
        base_s = baseline(Path(tmp) / "baseline.sqlite", n)

        q = WorkQueue.open(state)
        rid = q.upsert_repository(source="maven-releases", target="maven", format=Format.MAVEN,
                                  repo_type=RepoType.HOSTED, mode="copy")
        q.begin_crawl(rid)
        # Only record_page is timed: building the pages is the crawler's work, not the queue's.
        enqueue_s = 0.0
        for i, page in enumerate(pages(n)):
            t0 = time.perf_counter()
            q.record_page(rid, page, cursor=f"page-{i + 1}", done=False)
            enqueue_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        q.record_page(rid, [], cursor=None, done=True)
        enqueue_s += time.perf_counter() - t0

        # the real life cycle: claim -> published (each asset) -> claim -> verified
        t0 = time.perf_counter()
        done = 0
        while batch := q.claim("bench", limit=args.batch, lease_seconds=600):
            step = {"discovered": "published", "published": "verified"}
            q.finish("bench", [VersionResult(v.id, step[v.claimed_from], assets=[
                AssetUpdate(a.id, step[v.claimed_from]) for a in v.assets]) for v in batch])
            done += sum(len(v.assets) for v in batch)
        claim_s = time.perf_counter() - t0
        counts = q.counts()["maven-releases"].assets
        q.close()
        assert counts == {"verified": n}, counts
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        cli = [sys.executable, "-m", "migrator", "status", "--state", str(state)]
        subprocess.run(cli, check=True, capture_output=True)  # warm the page cache
        t0 = time.perf_counter()
        subprocess.run(cli, check=True, capture_output=True)
        status_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import migrator.cli"], check=True)
        startup_s = time.perf_counter() - t0
        size_mb = os.path.getsize(state) / 2**20

    rows = [
        ("assets", f"{n:,}", ""),
        ("enqueue (record_page, pages of 1,000)", f"{n / enqueue_s:,.0f} assets/s",
         f"{enqueue_s:.1f} s; bare-table baseline {n / base_s:,.0f} rows/s, "
         f"ratio {base_s / enqueue_s:.2f}"),
        ("claim + publish + claim + verify", f"{2 * done / 2 / claim_s:,.0f} assets/s",
         f"{claim_s:.1f} s for {n:,} assets through both phases"),
        ("migrator status (CLI, whole process)", f"{status_s:.2f} s",
         f"of which interpreter + imports {startup_s:.2f} s"),
        ("peak memory of this process", f"{peak_mb:.0f} MB", ""),
        ("state file", f"{size_mb:.0f} MB", ""),
    ]
    w = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{w}}  {value:>18}  {note}")


if __name__ == "__main__":
    main()
