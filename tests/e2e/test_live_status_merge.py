"""Three shard states written by three `migrator run` processes at once against one sandbox,
merged while they run and after: `status --merge` sees the shards running with a write rate
within their summed budget, then totals that add up and equal an unsharded plan of the same
source; `report --merge` gives the same numbers and a certificate that `verify` re-checks.

The shards here split the manifest's repositories three ways (each state is named
`<stem>.shard-K-of-3.sqlite`, as `--shard K/3` names them), which is what merging needs: one
state per shard, no asset in two. Nothing sleeps for a time: waits poll with a deadline."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from .conftest import start_sandbox, stop_sandbox

pytestmark = pytest.mark.e2e

MIGRATOR = [sys.executable, "-m", "migrator", "--no-progress"]


def split_manifest(sb, n: int = 3) -> list[str]:
    """`demo.shard-K-of-N.toml`: the sandbox's manifest with every N-th repository, each with
    1/N of the write budget."""
    text = sb.manifest.read_text()
    head, *repos = re.split(r"(?m)^(?=\[\[repositories\]\])", text)
    last, options = repos[-1].split("[options]", 1)
    repos[-1] = last
    options = re.sub(r"rate_budget = \d+", "rate_budget = 30", options)
    names = []
    for k in range(1, n + 1):
        name = f"demo.shard-{k}-of-{n}.toml"
        body = head + "".join(repos[k - 1::n]) + "[options]" + options
        (sb.workdir / name).write_text(body)
        names.append(name)
    return names


def test_three_shards_running_at_once_merge_into_totals_that_add_up(tmp_path):
    sb = start_sandbox(tmp_path, "--latency", "0.1")
    runs: list[subprocess.Popen] = []
    try:
        manifests = split_manifest(sb)
        states = [f"state/{m.removesuffix('.toml')}.sqlite" for m in manifests]
        runs = [subprocess.Popen([*MIGRATOR, "run", m], cwd=sb.workdir, env=sb.env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for m in manifests]
        seen = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and any(r.poll() is None for r in runs):
            if not all((sb.workdir / s).exists() for s in states):
                # not all created yet: wait on a run's exit (a bounded poll, not a nap)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    runs[0].wait(timeout=0.1)
                continue
            r = sb.migrator("status", "--merge", *states, "--json", timeout=60)
            assert r.returncode in (0, 1), r.stderr
            data = json.loads(r.stdout)
            if data["running_shards"] and data["writes_per_s"] > 0:
                seen = data
                break
        assert seen, "the merged view never showed a running shard writing"
        assert seen["write_budget_per_s"] <= 90 and seen["writes_per_s"] <= 90 * 1.1
        for r in runs:
            _, err = r.communicate(timeout=300)
            assert r.returncode == 0, err[-3000:]

        r = sb.migrator("status", "--merge", *states, "--json")
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr
        merged = json.loads(r.stdout)
        assert merged["consistent"] and merged["overlaps_total"] == 0
        assert [s["shard"] for s in merged["shards"]] == ["1/3", "2/3", "3/3"]
        assert merged["running_shards"] == 0
        # the same source planned unsharded: the same assets, the same bytes
        assert sb.migrator("plan", "demo.toml").returncode == 0
        whole = json.loads(sb.migrator("status", "demo.toml", "--json").stdout)
        assert merged["planned_assets"] == whole["planned_assets"]
        assert sum(merged["totals"]["bytes"].values()) == sum(whole["totals"]["bytes"].values())
        assert set(merged["repositories"]) == set(whole["repositories"])
        text = sb.migrator("status", "--merge", *states).stdout
        assert "no asset is in two shards" in text

        rep = sb.migrator("report", "--merge", *states, "--format", "json")
        assert rep.returncode == 0, rep.stderr
        report = json.loads(rep.stdout)
        assert report["planned_assets"] == merged["planned_assets"] and report["complete"]
        assert report["totals"]["assets"] == merged["totals"]["assets"]
        cert = tmp_path / "merged.jsonl"
        r = sb.migrator("report", "--merge", *states, "--format", "certificate", "--out",
                        str(cert))
        assert r.returncode == 0, r.stderr
        ok = sb.migrator("verify", "demo.toml", "--certificate", str(cert), "--json")
        assert ok.returncode == 0, ok.stdout[-2000:] + ok.stderr[-2000:]
        assert json.loads(ok.stdout)["assets"] == report["outcomes"]["done"]
    finally:
        for r in runs:
            if r.poll() is None:
                os.kill(r.pid, signal.SIGKILL)
                r.wait()
        stop_sandbox(sb)
