"""The benchmarks' quick modes run in the suite, so they cannot rot: each must finish, every
asset must end verified (the bench itself refuses to report otherwise), and its figures must
be there and make sense."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def test_mixed_quick_reports_migrator_and_the_sequential_copier(tmp_path):
    out = tmp_path / "figures.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "mixed.py"), "--quick",
                           "--json", str(out)], capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    figures = json.loads(out.read_text())
    [(latency, entry)] = figures["latencies"].items()
    assert latency == "25 ms"
    [run] = entry["migrator"]
    # the floor's writes are a true lower bound: no run makes fewer
    assert figures["floor_writes"] <= run["writes"] <= 1.3 * figures["floor_writes"]
    assert 0 < entry["ratio"] <= 1.0  # nothing beats the quota floor
    assert entry["sequential"]["files"] > 0 and entry["sequential"]["per_file"] > 0
    assert "migrator" in proc.stdout and "sequential copier" in proc.stdout
