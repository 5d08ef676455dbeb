"""State for ephemeral runners: `options.state_url = "s3://..."` against moto's S3 server
(real HTTP on loopback, real conditional writes), each job in a fresh folder (a new machine):

- a job killed with SIGKILL mid-run is restarted elsewhere: refused while the dead job's
  lease lasts (the holder named), then it takes the expired lease over, resumes from the
  last checkpoint on S3 and publishes nothing twice (the sandbox's request log);
- a second job started while the first runs is refused by the lock, naming the holder; the
  first, stopped by SIGTERM, saves the state and frees the lock (exit 3), and `resume
  --state s3://...` on a machine without the manifest finishes the migration from there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import RunningSandbox, start_sandbox, stop_sandbox
from .s3_helpers import KEY, _s3, _s3_endpoint  # noqa: F401 (the s3, s3_endpoint fixtures)
from .s3_helpers import lease as _lease
from .s3_helpers import rows as _rows
from .s3_helpers import saved_state as _saved_state
from .transfer_helpers import MIGRATOR, publish_writes, summary

pytestmark = pytest.mark.e2e


def _manifest(sb: RunningSandbox, bucket: str, *, rate: float, lease: float = 3) -> str:
    text = sb.manifest.read_text().replace("rate_budget = 90", f"rate_budget = {rate:g}")
    return text + (f'state_url = "s3://{bucket}/{KEY}"\nstate_checkpoint_seconds = 1\n'
                   f"state_lease_seconds = {lease:g}\n")


def _job(sb: RunningSandbox, tmp_path: Path, name: str, manifest: str, endpoint: str,
         *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`migrator run` in a folder of its own: nothing of another job's files is there."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "demo.toml").write_text(manifest)
    return subprocess.Popen(
        [*MIGRATOR, "run", "demo.toml", "--json", *args], cwd=folder,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**sb.env, "AWS_ENDPOINT_URL_S3": endpoint, **(env or {})})


def _finish(p: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


def _poll(condition, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _checkpoint_has_manifest(client, bucket: str, tmp_path: Path) -> bool:
    try:
        path = _saved_state(client, bucket, tmp_path, "checkpoint-poll")
    except client.exceptions.ClientError:
        return False  # nothing saved yet
    return bool(_rows(path, "SELECT 1 FROM meta WHERE key = 'manifest'"))


def _copied_assets(path: Path) -> dict[str, str]:
    return dict(_rows(path, "SELECT r.source || '/' || a.path, a.status FROM assets a JOIN "
                      "repositories r ON r.id = a.repository_id LEFT JOIN versions v ON "
                      "v.id = a.version_id WHERE r.mode = 'copy' AND a.status != 'excluded' "
                      "AND coalesce(v.status, '') != 'excluded'"))


def test_sigkill_then_a_new_machine_takes_over_the_lease_and_publishes_nothing_twice(
        tmp_path, s3):
    client, bucket, endpoint = s3
    sb = start_sandbox(tmp_path)
    try:
        # a lease long enough that the first successor surely meets it alive
        manifest = _manifest(sb, bucket, rate=3, lease=8)
        first = _job(sb, tmp_path, "machine-1", manifest, endpoint,
                     env={"MIGRATOR_TEST_CRASH_AT": "recorded:12"})
        code, out, err = _finish(first)
        assert code == -signal.SIGKILL, (code, err[-3000:])
        dead = _lease(client, bucket)
        assert dead is not None and dead["pid"] == first.pid  # left behind by the dead job
        checkpoint = _saved_state(client, bucket, tmp_path, "checkpoint")
        done_before = {k for k, s in _copied_assets(checkpoint).items()
                       if s in ("published", "verified", "skipped_identical")}
        assert done_before, "the killed job saved no checkpoint with progress in it"

        # A successor while the dead job's lease lasts: refused, the holder named.
        assert dead["expires"] > time.time() + 2
        early = _job(sb, tmp_path, "machine-2", manifest, endpoint)
        code, out, err = _finish(early)
        assert code == 2, err[-2000:]
        assert f"in use by pid {first.pid} on {dead['host']}" in err and "lease until" in err
        assert "Traceback" not in err

        # The lease expires (nobody renews it); the next job takes it over and resumes.
        _poll(lambda: time.time() > dead["expires"], what="the dead job's lease to expire")
        successor = _job(sb, tmp_path, "machine-3", manifest, endpoint)
        code, out, err = _finish(successor)
        assert code == 0, out[-2000:] + err[-3000:]
        assert "took over the expired lease" in err
        result = summary(subprocess.CompletedProcess([], 0, out, ""))
        assert _lease(client, bucket) is None  # released at the end

        final = _saved_state(client, bucket, tmp_path, "final")
        assets = _copied_assets(final)
        assert set(assets.values()) <= {"verified", "skipped_identical"}, assets
        # resumed from the S3 state: the killed run is in its history, and what it had
        # finished before its last checkpoint was not done again
        runs = _rows(final, "SELECT exit_code FROM runs ORDER BY id")
        assert runs[0] == (None,) and runs[-1] == (0,)
        assert result["this_run"]["published"] <= len(assets) - len(done_before), result
        # what the checkpoint missed (published after it) was found in CodeArtifact, not sent
        # again: the request log shows one successful write per asset
        writes = publish_writes(sb)
        assert len(writes) == len(assets)
        assert set(writes.values()) == {1}, {k: n for k, n in writes.items() if n != 1}
    finally:
        stop_sandbox(sb)


def test_a_second_concurrent_job_is_refused_and_sigterm_saves_the_state(tmp_path, s3):
    client, bucket, endpoint = s3
    sb = start_sandbox(tmp_path)
    try:
        manifest = _manifest(sb, bucket, rate=2)
        first = _job(sb, tmp_path, "machine-1", manifest, endpoint)
        _poll(lambda: _lease(client, bucket) is not None or first.poll() is not None,
              what="the first job's lease")
        holder = _lease(client, bucket)
        assert holder is not None and holder["pid"] == first.pid, _finish(first)
        second = _job(sb, tmp_path, "machine-2", manifest, endpoint)
        code, out, err = _finish(second)
        assert code == 2, err[-2000:]
        assert f"in use by pid {first.pid} on {holder['host']}" in err
        assert holder["run_id"][:8] in err
        assert err.count("\n") <= 3 and "Traceback" not in err  # one error and its hint
        # renewed while it runs
        _poll(lambda: (_lease(client, bucket) or holder)["expires"] > holder["expires"],
              what="a renewal of the lease")
        # The resume below reads the manifest `plan` stores in the state: stop the job only
        # once a checkpoint holds it (on a loaded machine the preflight before it takes time).
        _poll(lambda: _checkpoint_has_manifest(client, bucket, tmp_path),
              what="a checkpoint holding the manifest")

        os.kill(first.pid, signal.SIGTERM)
        code, out, err = _finish(first)
        assert code == 3, err[-3000:]
        assert _lease(client, bucket) is None  # freed on the way out
        saved = _saved_state(client, bucket, tmp_path, "after-sigterm")
        assert _rows(saved, "SELECT exit_code FROM runs ORDER BY id DESC LIMIT 1") == [(3,)]

        # A new machine with no manifest at all: `resume --state s3://...` reads the manifest
        # stored in the saved state and finishes the migration.
        folder = tmp_path / "machine-3"
        folder.mkdir()
        third = subprocess.Popen(
            [*MIGRATOR, "resume", "--state", f"s3://{bucket}/{KEY}", "--json"], cwd=folder,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**sb.env, "AWS_ENDPOINT_URL_S3": endpoint})
        code, out, err = _finish(third)
        assert code == 0, out[-2000:] + err[-3000:]
        assets = _copied_assets(_saved_state(client, bucket, tmp_path, "final"))
        assert set(assets.values()) <= {"verified", "skipped_identical"}, assets
        writes = publish_writes(sb)
        assert set(writes.values()) == {1}, {k: n for k, n in writes.items() if n != 1}
    finally:
        stop_sandbox(sb)


def test_a_job_whose_lease_was_taken_over_stops_and_leaves_the_lock_alone(tmp_path, s3):
    client, bucket, endpoint = s3
    sb = start_sandbox(tmp_path)
    try:
        first = _job(sb, tmp_path, "machine-1", _manifest(sb, bucket, rate=2), endpoint)
        _poll(lambda: _lease(client, bucket) is not None or first.poll() is not None,
              what="the first job's lease")
        assert first.poll() is None, _finish(first)
        # Another job took the lease over (as after a stall longer than the lease).
        thief = {"host": "other-pod", "pid": 77, "run_id": "f" * 32, "command": "run",
                 "acquired": time.time(), "expires": time.time() + 600}
        client.put_object(Bucket=bucket, Key=KEY + ".lock", Body=json.dumps(thief).encode())
        code, _out, err = _finish(first)
        assert code == 2, err[-3000:]
        assert "lost the lease" in err and "pid 77 on other-pod" in err
        assert "Traceback" not in err
        assert _lease(client, bucket) == thief  # its conditional delete left the lock alone
    finally:
        stop_sandbox(sb)
