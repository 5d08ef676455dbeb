"""The demo seed migrated as 3 shards in 3 processes at once, as a Kubernetes Indexed Job runs
them (`JOB_COMPLETION_INDEX=0..2`, `--shard auto --shards 3`): the union of the shards equals
an unsharded run, no asset is in two shards, the shards' totals add up to the plan, every
asset is written once, and the account's write rate stays within the budget (the sandbox
enforces a write quota of budget + one burst token per shard, and logs every request)."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import httpx
import pytest

from .conftest import start_sandbox, stop_sandbox
from .transfer_helpers import MIGRATOR, engine, publish_writes, summary
from .transfer_helpers import rows as _rows

pytestmark = pytest.mark.e2e

SHARDS = 3
BUDGET = 6  # writes/s for the whole account: 2/s per shard


def _assets(path: Path) -> dict[tuple[str, str], str]:
    rows = _rows(path, "SELECT r.source, a.path, CASE WHEN v.status = 'excluded' THEN "
                 "'excluded' ELSE a.status END FROM assets a JOIN repositories r ON "
                 "r.id = a.repository_id LEFT JOIN versions v ON v.id = a.version_id")
    return {(r, p): s for r, p, s in rows}


def _packages(path: Path) -> set[tuple[str, str, str, str]]:
    return set(_rows(path, "SELECT r.source, v.format, v.namespace, v.package FROM versions v "
                     "JOIN repositories r ON r.id = v.repository_id"))


def _with_budget(manifest: Path) -> None:
    text = manifest.read_text().replace("rate_budget = 90", f"rate_budget = {BUDGET}")
    assert f"rate_budget = {BUDGET}" in text
    manifest.write_text(text)


def test_three_shards_at_once_equal_one_unsharded_run(tmp_path):
    # The reference: one unsharded run of the demo seed into its own sandbox.
    whole_dir = tmp_path / "whole"
    whole_dir.mkdir()
    sb = start_sandbox(whole_dir)
    try:
        _with_budget(sb.manifest)
        planned = summary(engine(sb, "plan", "demo.toml", "--json"))["totals"]
        r = engine(sb, "run", "demo.toml", "--json")
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        whole = _assets(whole_dir / "state" / "demo.sqlite")
    finally:
        stop_sandbox(sb)

    shard_dir = tmp_path / "shards"
    shard_dir.mkdir()
    sb = start_sandbox(shard_dir, "--quota", f"write={BUDGET + SHARDS}")
    try:
        _with_budget(sb.manifest)
        procs = [subprocess.Popen(
            [*MIGRATOR, "run", "demo.toml", "--shard", "auto", "--shards", str(SHARDS),
             "--json"], cwd=shard_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env={**sb.env, "JOB_COMPLETION_INDEX": str(index)})
            for index in range(SHARDS)]
        outputs = []
        for p in procs:
            out, err = p.communicate(timeout=240)
            outputs.append((p.returncode, out, err))
        for code, out, err in outputs:
            assert code == 0, out[-2000:] + err[-3000:]
        log = httpx.get(sb.info["codeartifact"]["requests_url"]).json()
        writes_once = publish_writes(sb)
    finally:
        stop_sandbox(sb)

    states = [shard_dir / "state" / f"demo.shard-{k}-of-{SHARDS}.sqlite"
              for k in range(1, SHARDS + 1)]
    parts = [_assets(s) for s in states]
    # The union equals the unsharded run; no asset is in two shards.
    union: dict[tuple[str, str], str] = {}
    for part in parts:
        for key, status in part.items():
            assert key not in union, f"{key} is in two shards"
            union[key] = status
    assert union == whole
    # A package (every version of it) lives in exactly one shard.
    packages = [_packages(s) for s in states]
    assert sum(len(p) for p in packages) == len(set().union(*packages))
    assert sum(1 for p in packages if p) >= 2  # the demo seed really was split
    # Merged totals equal the plan of the whole.
    statuses = Counter(union.values())
    assert sum(statuses.values()) == planned["assets"] + planned["excluded"] + \
        planned["refused"]
    copied = {k for k, s in whole.items() if s == "verified"}
    assert statuses["verified"] == len(copied)
    # Every asset written once, by the one shard that owns it.
    assert set(writes_once.values()) == {1}, {k: n for k, n in writes_once.items() if n != 1}
    # The account-wide write rate: never throttled, and never above the budget plus the
    # shards' one-token bursts in any one-second window.
    writes = sorted(e["time"] for e in log["entries"] if e["write"])
    throttled = [e for e in log["entries"] if e["status"] == 429]
    assert not throttled, throttled[:3]
    assert writes
    peak = max(sum(1 for t in writes[i:] if t < start + 1.0)
               for i, start in enumerate(writes))
    assert peak <= BUDGET + SHARDS, peak
    # ... and the shares were really applied: the busiest shard, alone at budget/N, needs
    # at least (its writes - 1) / (budget / N) seconds.
    for (_code, out, _err), state in zip(outputs, states, strict=True):
        result = summary(subprocess.CompletedProcess([], 0, out, ""))
        mine = sum(1 for (repo, _p), s in _assets(state).items() if s == "verified")
        if mine > 4:
            assert result["elapsed_seconds"] >= (mine - 1) / (BUDGET / SHARDS) * 0.9, result
