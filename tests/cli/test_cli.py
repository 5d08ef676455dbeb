"""CLI commands over a state: retry."""

from __future__ import annotations

import subprocess
import sys


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "migrator", *args], capture_output=True,
                          text=True, timeout=60)


def test_retry_sends_permanent_failures_back_to_the_queue(tmp_path):
    from migrator.models import (
        AssetUpdate,
        Coordinates,
        DiscoveredAsset,
        Format,
        RepoType,
        VersionResult,
    )
    from migrator.state import WorkQueue

    state = tmp_path / "s.sqlite"
    with WorkQueue.open(state) as q:
        rid = q.upsert_repository(source="npm-internal", target="npm", format=Format.NPM,
                                  repo_type=RepoType.HOSTED, mode="copy")
        c = Coordinates(Format.NPM, "", "left-pad", "1.0.0")
        q.record_page(rid, [(DiscoveredAsset(path="left-pad/-/left-pad-1.0.0.tgz", size=5,
                                             checksums={}, coordinates=c), None)],
                      cursor=None, done=True)
        [v] = q.claim("w", limit=1)
        q.finish("w", [VersionResult(v.id, "failed_permanent", "asset quota", assets=[
            AssetUpdate(v.assets[0].id, "failed_permanent", "asset quota")])])
    r = run_cli("retry", "--state", str(state), "--status", "verified")
    assert r.returncode == 2 and "only failed_permanent and conflict" in r.stderr
    r = run_cli("retry", "--state", str(state), "--repository", "nope")
    assert r.returncode == 2 and "not in this state" in r.stderr
    r = run_cli("retry", "--state", str(state))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("1 package version(s) back in the queue")
    with WorkQueue.open(state) as q:
        assert q.counts()["npm-internal"].assets == {"discovered": 1}
        assert q.counts()["npm-internal"].versions == {"discovered": 1}
