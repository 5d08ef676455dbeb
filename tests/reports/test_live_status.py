"""`migrator status` while a run is going: the samples the writer records, the rates, the
budget, throttling and the ETA computed from them, "not running" when no process holds the
lock, and --watch's two ways of drawing. Everything on real state files, read-only."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys

import pytest

from migrator.models import AssetUpdate, RunSample, VersionResult
from migrator.pipeline.stats import Sampler, Sampling
from migrator.reports.status import render_status, status, watch
from migrator.state import WorkQueue
from migrator.target.ratelimit import RateLimits

from .conftest import Clock, build_state


def test_a_running_process_shows_rates_budget_throttling_and_eta(tmp_path, clock):
    path = build_state(tmp_path / "s.sqlite", {"a": "verified", "b": "discovered",
                                               "c": "discovered"})
    with WorkQueue.open(path, lock_for="run", clock=clock) as q:
        run_id = q.start_run("run")
        q.record_sample(run_id, RunSample(at=clock.t, budget=90.0, write_rate=90.0))
        clock.t += 10
        q.record_sample(run_id, RunSample(at=clock.t, published_assets=20,
                                          published_bytes=20_000, verified_assets=10,
                                          verified_bytes=10_000, settled_assets=8, writes=40,
                                          reads=100, throttled=3, write_rate=45.0,
                                          budget=90.0))
        data = status(path, clock=lambda: clock.t)  # another connection, read-only
    live = data["live"]
    assert live["running"] and live["holder"]["pid"] == os.getpid()
    r = live["rates"]
    assert r["measured_seconds"] == 10
    assert r["published_assets_per_s"] == 2.0 and r["published_bytes_per_s"] == 2000.0
    assert r["verified_assets_per_s"] == 1.0 and r["settled_assets_per_s"] == 0.8
    assert r["writes_per_s"] == 4.0 and r["write_budget_per_s"] == 90.0
    assert r["throttled_in_window"] == 3 and r["write_pace_per_s"] == 45.0
    # 4 assets pending (b and c) at 0.8/s; 4000 bytes to publish at 2000 B/s: the later
    assert live["pending_assets"] == 4 and live["bytes_to_publish"] == 4000
    assert live["eta_seconds"] == 5.0
    assert live["bytes_done"] == 2000 and live["bytes_total"] == 6000
    text = render_status(data)
    assert "running: run (pid" in text and "writes 4.0/s of a 90/s budget (4 %)" in text
    assert "paced down to 45.0/s after throttling" in text and "ETA 5 s" in text


def test_the_rate_is_over_the_window_and_decays_when_nothing_is_committed(tmp_path, clock):
    path = build_state(tmp_path / "s.sqlite", {"a": "discovered"})
    with WorkQueue.open(path, lock_for="run", clock=clock) as q:
        run_id = q.start_run("run")
        for i in range(0, 61, 2):  # 1 asset/s for a minute, then nothing for 20 s
            q.record_sample(run_id, RunSample(at=clock.t + i, settled_assets=i,
                                              published_assets=i))
        clock.t += 60
        r = status(path, clock=lambda: clock.t)["live"]["rates"]
        assert r["measured_seconds"] == 30 and r["settled_assets_per_s"] == 1.0
        clock.t += 20
        r = status(path, clock=lambda: clock.t)["live"]["rates"]
        assert r["settled_assets_per_s"] == pytest.approx(10 / 30)
        clock.t += 100  # the window holds no sample: measured from the last one
        live = status(path, clock=lambda: clock.t)["live"]
        assert live["rates"]["settled_assets_per_s"] == 0.0 and live["eta_seconds"] is None
        data = status(path, clock=lambda: clock.t)
        assert "ETA unknown" in render_status(data) and "nothing committed for" in \
            render_status(data)


def test_not_running_names_how_the_last_run_ended(tmp_path, clock):
    path = build_state(tmp_path / "s.sqlite", {"a": "verified"})
    data = status(path)
    assert not data["live"]["running"] and "not running (no run recorded yet)" in \
        render_status(data)
    with WorkQueue.open(path, lock_for="run", clock=clock) as q:
        q.finish_run(q.start_run("run"), 0)
    data = status(path)
    assert not data["live"]["running"] and "rates" not in data["live"]
    assert "not running: the last run (run) ended" in render_status(data)
    assert "with exit code 0" in render_status(data)


def test_a_killed_run_is_not_running_though_its_lock_record_stays(tmp_path, clock):
    path = build_state(tmp_path / "s.sqlite", {"a": "discovered"})
    code = ("import sys, os\nfrom migrator.state import WorkQueue\n"
            "q = WorkQueue.open(sys.argv[1], lock_for='run')\nq.start_run('run')\n"
            "print('ready', flush=True)\nsys.stdin.readline()\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        live = status(path)["live"]
        assert live["running"] and live["holder"]["pid"] == proc.pid
    finally:
        proc.kill()
        proc.wait()
    assert (path.parent / "s.sqlite.lock").read_text().strip()  # its record is left behind
    data = status(path)
    assert not data["live"]["running"]
    assert "ended without recording its end (killed?)" in render_status(data)


def test_reading_never_blocks_the_writer(tmp_path, clock):
    path = build_state(tmp_path / "s.sqlite", {"a": "discovered"})
    with WorkQueue.open(path, lock_for="run", clock=clock) as writer:
        run_id = writer.start_run("run")
        with WorkQueue.open(path, create=False) as reader, reader.read_snapshot():
            before = reader.samples(run_id)
            writer.conn.execute("PRAGMA busy_timeout = 0")  # a blocked write fails at once
            writer.record_sample(run_id, RunSample(at=clock.t, published_assets=1))
            assert reader.samples(run_id) == before  # the reader's snapshot is stable
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                reader.conn.execute("DELETE FROM run_samples")
        assert len(writer.samples(run_id)) == 1


def test_a_state_without_the_samples_table_reads_as_without_samples(tmp_path):
    path = build_state(tmp_path / "s.sqlite", {"a": "discovered"})
    con = sqlite3.connect(path)
    con.execute("DROP TABLE run_samples")
    con.execute("DELETE FROM _sqlite_migrations WHERE name = 'm005_run_samples'")
    con.commit()
    con.close()
    with WorkQueue.open(path, create=False) as q:
        assert q.samples(None) == []


class _Progress:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def add_bytes(self, n: int) -> None:
        self.calls.append(f"bytes {n}")

    def committed(self, facts) -> None:
        self.calls.append(f"committed {len(list(facts))}")

    def settled(self, results) -> None:
        self.calls.append(f"settled {len(list(results))}")

    def close(self) -> None:
        self.calls.append("close")


def test_the_sampler_counts_committed_facts_and_records_at_its_interval(tmp_path):
    clock = Clock()
    path = build_state(tmp_path / "s.sqlite", {"a": "discovered", "b": "discovered"},
                       size=700)
    limits = RateLimits.from_budget(50)
    with WorkQueue.open(path, lock_for="run", clock=clock) as q:
        run_id = q.start_run("run")
        sampler = Sampler(q, run_id, limits=limits, budget=50, clock=clock, every=2.0)
        progress = _Progress()
        hook = Sampling(progress, sampler)
        sampler.maybe_record()  # the run's first sample, at once
        va, vb = q.claim("w", limit=2)
        hook.add_bytes(700)
        hook.committed(AssetUpdate(a.id, "published") for a in va.assets)
        limits.writes.acquired += 5
        limits.writes.on_throttle()
        limits.publish.on_throttle()  # the same 429, counted by its own quota's bucket too
        limits.reads.on_throttle()
        clock.t += 1  # within the interval: counted, not recorded yet
        hook.committed([AssetUpdate(vb.assets[0].id, "skipped_identical")])
        assert len(q.samples(run_id)) == 1
        clock.t += 1.5
        hook.settled([(VersionResult(va.id, "verified", assets=[
            AssetUpdate(a.id, "verified") for a in va.assets]), 2)])
        first, second = q.samples(run_id)
        assert (first.published_assets, first.at) == (0, 1_700_000_000.0)
        assert (second.published_assets, second.published_bytes) == (3, 2100)
        assert (second.verified_assets, second.verified_bytes, second.settled_assets) == \
            (2, 1400, 2)
        assert (second.writes, second.throttled, second.budget) == (5, 2, 50.0)
        assert second.write_rate == pytest.approx(35.0)  # 0.7 of the budget after the 429
        hook.close()  # the last sample, whatever the interval
        assert len(q.samples(run_id)) == 3
    assert progress.calls == ["bytes 700", "committed 2", "committed 1", "settled 1", "close"]


def test_watch_redraws_in_place_on_a_terminal_and_prints_blocks_otherwise(tmp_path):
    path = build_state(tmp_path / "s.sqlite", {"a": "verified"})
    sleeps: list[float] = []

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    assert watch(lambda: status(path), every=3, out=tty, sleep=sleeps.append, rounds=3) == 0
    frames = tty.getvalue()
    lines_per_view = render_status(status(path)).count("\n") + 2
    assert frames.count("\x1b[J") == 3 and frames.count(f"\x1b[{lines_per_view}F") == 2
    assert sleeps == [3, 3]
    plain = io.StringIO()
    watch(lambda: status(path), every=3, out=plain, sleep=sleeps.append, rounds=2)
    assert "\x1b" not in plain.getvalue() and plain.getvalue().count("-- ") == 2
    js = io.StringIO()
    watch(lambda: status(path), every=3, out=js, as_json=True, sleep=sleeps.append, rounds=2)
    assert [json.loads(line)["totals"]["assets"] for line in js.getvalue().splitlines()] == \
        [{"verified": 2}] * 2


def test_ctrl_c_ends_watching_with_exit_0(tmp_path):
    path = build_state(tmp_path / "s.sqlite", {"a": "verified"})

    def interrupt(_seconds: float) -> None:
        raise KeyboardInterrupt

    out = io.StringIO()
    assert watch(lambda: status(path), every=1, out=out, sleep=interrupt) == 0
    assert out.getvalue().count("state: ") == 1


def test_counts_by_stage_and_format(tmp_path):
    from migrator.models import Format, RepoType

    from .conftest import maven_files

    path = build_state(tmp_path / "s.sqlite", {"a": "verified"})
    with WorkQueue.open(path) as q:
        rid = q.upsert_repository(source="wave-two", target="wave-two", format=Format.GENERIC,
                                  repo_type=RepoType.HOSTED, mode="copy", stage=2)
        q.begin_crawl(rid)
        q.record_page(rid, maven_files("x", "2.0", 10), cursor=None, done=True)
    data = status(path)
    assert data["by_stage"] == {"1": {"assets": {"verified": 2}, "bytes": {"verified": 2000}},
                                "2": {"assets": {"discovered": 2},
                                      "bytes": {"discovered": 20}}}
    assert set(data["by_format"]) == {"maven", "generic"}
    text = render_status(data)
    assert "by stage:\n  1: 2 assets, 2.0 KiB (2 verified)\n  2: 2 assets, 20 B (2 discovered)" \
        in text
    assert "by format:" in text


def test_the_hook_passes_anything_else_to_the_progress_bar(tmp_path):
    path = build_state(tmp_path / "s.sqlite", {"a": "discovered"})
    with WorkQueue.open(path, lock_for="run") as q:
        progress = _Progress()
        progress.to_publish = 7
        hook = Sampling(progress, Sampler(q, q.start_run("run")))
        assert hook.to_publish == 7
        with pytest.raises(AttributeError):
            _ = hook.no_such_thing


def test_a_lock_record_of_another_host_is_believed_and_an_empty_one_is_no_holder(tmp_path):
    from migrator.state.lock import lock_holder

    path = build_state(tmp_path / "s.sqlite", {"a": "discovered"})
    lock = tmp_path / "s.sqlite.lock"
    assert lock_holder(path) is None  # no lock file at all
    lock.write_text("")
    assert lock_holder(path) is None  # released: the holder empties it
    lock.write_text(json.dumps({"pid": 2**22 + 12345, "host": "elsewhere.example",
                                "command": "run", "started": 1.0}))
    assert lock_holder(path)["host"] == "elsewhere.example"  # cannot be checked from here
    data = status(path)
    assert data["live"]["running"] and data["live"]["rates"] is None
    assert "rates: no sample recorded yet" in render_status(data)
