"""Real processes: concurrent claimers never share an item; SIGKILL loses and doubles nothing."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from migrator.models import AssetUpdate, Format, RepoType, VersionResult
from migrator.state import WorkQueue

WORKER = textwrap.dedent("""
    import hashlib, json, sys
    from migrator.models import AssetUpdate, VersionResult
    from migrator.state import WorkQueue
    path, owner, out = sys.argv[1], sys.argv[2], sys.argv[3]
    step = {"discovered": "published", "published": "verified"}
    got = []

    def finish(q, batch):
        got.extend((v.id, v.claimed_from) for v in batch)
        # the work a real worker does outside the transaction (hashing a download)
        hashlib.sha256(bytes(256 * 1024)).hexdigest()
        lost = q.finish(owner, [VersionResult(v.id, step[v.claimed_from], assets=[
            AssetUpdate(a.id, step[v.claimed_from]) for a in v.assets]) for v in batch])
        assert not lost, lost

    with WorkQueue.open(path) as q:
        sys.stdin.readline()  # go: every worker is loaded
        first = q.claim(owner, limit=7, lease_seconds=600)
        print(json.dumps([v.id for v in first]), flush=True)
        sys.stdin.readline()  # continue: every worker holds a claim at this moment
        finish(q, first)
        while batch := q.claim(owner, limit=7, lease_seconds=600):
            finish(q, batch)
    with open(out, "w") as f:
        json.dump(got, f)
""")

HOLDER = textwrap.dedent("""
    import sys
    from migrator.models import AssetUpdate
    from migrator.state import WorkQueue
    path = sys.argv[1]
    q = WorkQueue.open(path)
    batch = q.claim("doomed", limit=10, lease_seconds=1)
    # one fact is true and recorded before the crash: the first asset was published
    q.mark_assets("doomed", [AssetUpdate(batch[0].assets[0].id, "published")])
    print(" ".join(str(v.id) for v in batch), flush=True)
    sys.stdin.read()  # hold the claims until killed
""")


def stop_all(procs: list[subprocess.Popen]) -> None:
    """Kill (by PID) every process still running, then reap each one; pipes closed."""
    for p in procs:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
    for p in procs:
        p.wait(timeout=30)
        for pipe in (p.stdin, p.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):  # a dead reader: nothing left to flush to
                    pipe.close()


def fill(path, maven_version, n_versions: int) -> None:
    with WorkQueue.open(path) as q:
        rid = q.upsert_repository(source="r", target="t", format=Format.MAVEN,
                                  repo_type=RepoType.HOSTED, mode="copy")
        page = []
        for i in range(n_versions):
            page += maven_version("g", "a", f"1.{i}")
        q.record_page(rid, page, cursor=None, done=True)


def test_two_processes_claiming_at_once_never_get_the_same_item(tmp_path, maven_version):
    state = tmp_path / "s.sqlite"
    fill(state, maven_version, 400)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    procs: list[subprocess.Popen] = []
    try:
        for i in range(3):
            procs.append(subprocess.Popen([sys.executable, str(script), str(state), f"w{i}",
                                           str(tmp_path / f"out{i}.json")],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          text=True))
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        firsts = [json.loads(p.stdout.readline()) for p in procs]
        # three leases held at once, on disjoint versions
        assert all(len(f) == 7 for f in firsts)
        assert len({v for f in firsts for v in f}) == 21
        for p in procs:
            p.stdin.write("continue\n")
            p.stdin.flush()
        for p in procs:
            assert p.wait(timeout=120) == 0
    finally:
        stop_all(procs)
    claimed = [[tuple(x) for x in json.loads((tmp_path / f"out{i}.json").read_text())]
               for i in range(3)]
    everything = [v for c in claimed for v in c]
    # each version claimed exactly once to publish and once to verify, by anyone
    assert len(everything) == len(set(everything)) == 800
    with WorkQueue.open(state) as q:
        assert q.counts()["r"].assets == {"verified": 800}


def test_sigkill_while_holding_claims_then_resume(tmp_path, maven_version):
    state = tmp_path / "s.sqlite"
    fill(state, maven_version, 25)
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    proc = subprocess.Popen([sys.executable, str(script), str(state)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        held = [int(x) for x in proc.stdout.readline().split()]
        assert len(held) == 10
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        stop_all([proc])
    assert proc.returncode == -signal.SIGKILL

    # the next run sees the dead process's claims come back once their lease expires
    # (1 s lease; the clock is moved instead of waiting)
    with WorkQueue.open(state, clock=lambda: time.time() + 5) as q:
        seen: dict[tuple[int, str], int] = {}
        published_before: set[int] = set()
        step = {"discovered": "published", "published": "verified"}
        while batch := q.claim("resumer", limit=4, lease_seconds=600):
            for v in batch:
                seen[v.id, v.claimed_from] = seen.get((v.id, v.claimed_from), 0) + 1
                if v.claimed_from == "discovered":
                    published_before |= {a.id for a in v.assets if a.status == "published"}
            q.finish("resumer", [VersionResult(v.id, step[v.claimed_from], assets=[
                AssetUpdate(a.id, step[v.claimed_from]) for a in v.assets
                if a.status != step[v.claimed_from]]) for v in batch])
        assert {vid for vid, frm in seen if frm == "discovered"} >= set(held)
        assert len(seen) == 50  # 25 versions, each claimed once to publish, once to verify
        assert max(seen.values()) == 1  # nothing handed out twice
        assert len(published_before) == 1  # the fact recorded before the kill survived
        counts = q.counts()["r"]
        assert counts.assets == {"verified": 50}
        assert counts.versions == {"verified": 25}
