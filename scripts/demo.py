"""`make demo`: the main job end to end on the built-in sandbox.

Starts `migrator sandbox serve` (a local CodeArtifact plus Nexus and Artifactory emulators
serving the real packages in migrator_sandbox/demo_seed/), then runs what an operator runs:
validate, plan (the dry run), run, status, verify. Everything happens in a fresh temporary
folder; the sandbox is stopped by its PID at the end, whatever happens.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MIGRATOR = [sys.executable, "-m", "migrator"]


def start_sandbox(workdir: Path, source: str) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(
        [*MIGRATOR, "sandbox", "serve", "--write-manifest", str(workdir / "demo.toml"),
         "--manifest-source", source],
        cwd=workdir, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 0.5)[0]:
            line = proc.stdout.readline()
            if line:
                return proc, json.loads(line)
        if proc.poll() is not None:
            break
    proc.kill()
    sys.exit("the sandbox did not start; see the messages above")


def step(title: str, args: list[str], cwd: Path, env: dict[str, str]) -> int:
    print(f"\n$ migrator {' '.join(args)}    # {title}", flush=True)
    return subprocess.run([*MIGRATOR, *args], cwd=cwd, env=env).returncode


def main() -> int:
    source = sys.argv[1] if len(sys.argv) > 1 else "nexus"
    with tempfile.TemporaryDirectory(prefix="migrator-demo-") as tmp:
        workdir = Path(tmp)
        proc, info = start_sandbox(workdir, source)
        try:
            print(f"sandbox: CodeArtifact {info['codeartifact']['endpoint_url']}, "
                  f"Nexus {info['nexus']['url']}, Artifactory {info['artifactory']['url']}")
            print(f"manifest written to {workdir / 'demo.toml'} (source: {source})")
            env = {**os.environ, **info["env"]}
            codes = [
                step("check the manifest, no network", ["validate", "demo.toml"], workdir, env),
                step("check both systems online, change nothing", ["doctor", "demo.toml"],
                     workdir, env),
                step("the dry run: crawl the source, write nothing to the target",
                     ["plan", "demo.toml"], workdir, env),
                step("migrate: download, publish, verify", ["run", "demo.toml", "--no-progress"],
                     workdir, env),
                step("re-check every verified asset against the target",
                     ["verify", "demo.toml"], workdir, env),
                step("where everything stands", ["status", "demo.toml"], workdir, env),
            ]
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
