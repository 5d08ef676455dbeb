"""End-to-end fixtures: the real `migrator sandbox serve` process, stopped by its PID."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "migrator_sandbox" / "demo_seed"


@dataclass
class RunningSandbox:
    proc: subprocess.Popen
    info: dict
    manifest: Path
    workdir: Path

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, **self.info["env"]}

    def migrator(self, *args: str, env: dict[str, str] | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "migrator", *args], cwd=self.workdir,
                              env=env or self.env, capture_output=True, text=True,
                              timeout=timeout)


# Eventual consistency is on in every end-to-end run: a publish shows in the list and describe
# APIs only after this many seconds, as on AWS ("usually under 1 s", UG packages-overview), so
# the tool's polling paths are what the tests exercise. A test may pass its own
# `--publish-delay` (0 to switch it off).
PUBLISH_DELAY = 1.0
# Likewise a version fetched through an external connection shows in DescribePackageVersion
# only after this delay (about 3 minutes on AWS): pre-warming polls through it.
INGEST_DELAY = 0.5


def start_sandbox(workdir: Path, *args: str, seed: Path = SEED) -> RunningSandbox:
    manifest = workdir / "demo.toml"
    if "--publish-delay" not in args:
        args = ("--publish-delay", str(PUBLISH_DELAY), *args)
    if "--ingest-delay" not in args:
        args = ("--ingest-delay", str(INGEST_DELAY), *args)
    proc = subprocess.Popen(
        [sys.executable, "-m", "migrator", "sandbox", "serve", "--seed", str(seed),
         "--write-manifest", str(manifest), *args],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if line:
                return RunningSandbox(proc, json.loads(line), manifest, workdir)
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"sandbox did not start: {proc.stderr.read()}")


def stop_sandbox(sb: RunningSandbox) -> None:
    if sb.proc.poll() is None:
        os.kill(sb.proc.pid, signal.SIGTERM)
        try:
            sb.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(sb.proc.pid, signal.SIGKILL)
            sb.proc.wait(timeout=20)


@pytest.fixture
def sandbox(tmp_path):
    sb = start_sandbox(tmp_path)
    yield sb
    stop_sandbox(sb)
