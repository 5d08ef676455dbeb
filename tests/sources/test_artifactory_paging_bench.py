"""bench/crawl.py's Artifactory mode in a small size, so it cannot rot: both paging styles and
the File List list every file, and the model server counts the rows each makes the database
read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("mode", "rows_read"), [
    # OFFSET reads the skipped rows again for every page: 500 + 1,000 + ... + 3,000, and
    # the empty last page skips all 3,000
    ("offset", sum(range(500, 3001, 500)) + 3000),
    ("keyset", 3000),  # each page seeks the index and reads its 500 rows
])
def test_the_crawl_bench_lists_every_file_and_counts_the_rows_read(mode, rows_read):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "crawl.py"), "--one-art", mode,
         "--artifactory", "3000", "--latency", "0", "--row-cost", "0", "--page-size", "500"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["assets"] == 3000
    assert result["pages"] == 7  # six full pages and the empty one that ends the crawl
    assert result["rows_read"] == rows_read


def test_the_crawl_bench_file_list_is_one_answer_with_every_file():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "crawl.py"), "--one-art", "filelist",
         "--artifactory", "3000", "--latency", "0", "--row-cost", "0"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (result["assets"], result["pages"], result["rows_read"]) == (3000, 1, 3000)
