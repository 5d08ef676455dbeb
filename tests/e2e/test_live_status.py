"""`migrator status` from a second process while `migrator run` goes on against the sandbox
(slowed down: every CodeArtifact request takes 0.2 s more, and some answer 429): the live
view shows the run as running with a non-zero rate and the 429s it met, `--watch` prints a
view per interval and stops with exit 0 on Ctrl-C, and once the run ends the view says "not
running" with its exit code. Nothing sleeps for a time: each wait polls with a deadline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from .conftest import start_sandbox, stop_sandbox

pytestmark = pytest.mark.e2e

MIGRATOR = [sys.executable, "-m", "migrator"]


def _status(sb, *args: str) -> subprocess.CompletedProcess:
    return sb.migrator("status", "demo.toml", *args, timeout=60)


def test_status_from_another_process_shows_the_run_going(tmp_path):
    sb = start_sandbox(tmp_path, "--latency", "0.2", "--throttle-rate", "0.05",
                       "--fault-seed", "7")
    run = None
    try:
        assert sb.migrator("plan", "demo.toml").returncode == 0
        run = subprocess.Popen([*MIGRATOR, "--no-progress", "run", "demo.toml"],
                               cwd=sb.workdir, env=sb.env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        seen_running = seen_rate = seen_throttled = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and run.poll() is None:
            r = _status(sb, "--json")
            assert r.returncode == 0, r.stderr
            live = json.loads(r.stdout)["live"]
            if live["running"]:
                seen_running = seen_running or live
                rates = live.get("rates") or {}
                if rates.get("published_assets_per_s", 0) > 0 and rates.get("writes_per_s"):
                    seen_rate = seen_rate or live
                if rates.get("throttled_total", 0) > 0:
                    seen_throttled = live
            if seen_rate and seen_throttled:
                break
        assert seen_running, "the run was never seen running"
        assert seen_running["holder"]["pid"] == run.pid
        assert seen_rate, "no non-zero rate was seen while the run went on"
        assert seen_rate["rates"]["write_budget_per_s"] == 90.0
        assert seen_throttled, "the sandbox's 429s never showed"
        text = _status(sb)
        if run.poll() is None:
            assert f"running: run (pid {run.pid}" in text.stdout
        # --watch into a pipe: one block per interval, Ctrl-C ends it with exit 0
        watch = subprocess.Popen([*MIGRATOR, "status", "demo.toml", "--watch=0.2"],
                                 cwd=sb.workdir, env=sb.env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        blocks = 0
        deadline = time.monotonic() + 60
        while blocks < 2 and time.monotonic() < deadline:
            line = watch.stdout.readline()
            if not line:
                break
            blocks += line.startswith("-- ")
        os.kill(watch.pid, signal.SIGINT)
        out, err = watch.communicate(timeout=30)
        assert blocks == 2 and watch.returncode == 0, err
        assert "\x1b[" not in out and "Traceback" not in err
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-3000:]
        r = _status(sb)
        assert r.returncode == 0
        assert "not running: the last run (run) ended" in r.stdout
        assert "with exit code 0" in r.stdout
    finally:
        if run is not None and run.poll() is None:
            os.kill(run.pid, signal.SIGKILL)
            run.wait()
        stop_sandbox(sb)
