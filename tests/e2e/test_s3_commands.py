"""Every command that takes a state takes an S3 one (`options.state_url` or `--state s3://`),
against moto's S3 server on loopback, each command in a folder with nothing of the state:

- read-only commands (status, status --watch, report, verify, cutover, prewarm --dry-run)
  read the last checkpoint without the lease (also while a job holds it), say so with the
  time S3 stored it, leave nothing behind and never write the object;
- writing commands (retry, state backup, run --only-failed) hold the lease (refused while a
  job holds it, the holder named), save the state and free the lease;
- `validate` names the s3:// state; `sync` works on it as `run` does;
- shards on S3: `status --merge` / `report --merge` of s3:// states, and one merged CSV fed
  to each shard's `run --only-failed` (the other shard's rows skipped and counted).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import time
from datetime import UTC
from pathlib import Path

import httpx
import pytest

from .conftest import RunningSandbox, start_sandbox, stop_sandbox
from .s3_helpers import KEY, _s3, _s3_endpoint, lease, saved_state  # noqa: F401 (fixtures)
from .s3_helpers import rows as _rows
from .transfer_helpers import MIGRATOR

pytestmark = pytest.mark.e2e

# One file of each of two packages that fall in different shards of two.
CORRUPT = (("npm-internal", "is-number/-/is-number-6.0.0.tgz"),
           ("npm-internal", "left-pad/-/left-pad-1.2.0.tgz"))


def _machine(sb: RunningSandbox, tmp_path: Path, name: str, bucket: str,
             key: str | None = KEY) -> Path:
    """A folder with only the manifest (state_url set when `key`) and an empty TMPDIR."""
    folder = tmp_path / name
    (folder / "tmp").mkdir(parents=True)
    text = sb.manifest.read_text()
    if key is not None:
        text += f'state_url = "s3://{bucket}/{key}"\n'
    (folder / "demo.toml").write_text(text)
    return folder


def _cli(sb: RunningSandbox, folder: Path, endpoint: str, *args: str,
         timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([*MIGRATOR, *args], cwd=folder, capture_output=True, text=True,
                          timeout=timeout, env=_env(sb, folder, endpoint))


def _env(sb: RunningSandbox, folder: Path, endpoint: str) -> dict[str, str]:
    return {**sb.env, "AWS_ENDPOINT_URL_S3": endpoint, "TMPDIR": str(folder / "tmp")}


def _saved_at(client, bucket: str, key: str = KEY) -> str:
    stamp = client.head_object(Bucket=bucket, Key=key)["LastModified"]
    return stamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _etag(client, bucket: str, key: str = KEY) -> str:
    return client.head_object(Bucket=bucket, Key=key)["ETag"]


def _fail_one(client, bucket: str, tmp_path: Path) -> None:
    """Save a new checkpoint in which one verified asset (and its version) failed for good,
    as another job would have recorded it."""
    changed = saved_state(client, bucket, tmp_path, f"changed-{time.monotonic_ns()}")
    con = sqlite3.connect(changed)
    with con:
        (asset, version), = con.execute(
            "SELECT id, version_id FROM assets WHERE status = 'verified' ORDER BY id LIMIT 1")
        con.execute("UPDATE assets SET status = 'failed_permanent', reason = 'x' WHERE id = ?",
                    (asset,))
        con.execute("UPDATE versions SET status = 'failed_permanent' WHERE id = ?", (version,))
    con.close()
    client.upload_file(str(changed), bucket, KEY)


def _live_lease(client, bucket: str, key: str = KEY) -> dict:
    """A lease of another job, alive for ten minutes."""
    body = {"host": "other-pod", "pid": 4242, "run_id": "e" * 32, "command": "run",
            "acquired": time.time(), "expires": time.time() + 600}
    client.put_object(Bucket=bucket, Key=key + ".lock", Body=json.dumps(body).encode())
    return body


def test_every_command_works_on_an_s3_state(tmp_path, s3):
    client, bucket, endpoint = s3
    url = f"s3://{bucket}/{KEY}"
    sb = start_sandbox(tmp_path)
    try:
        first = _machine(sb, tmp_path, "machine-1", bucket)
        v = _cli(sb, first, endpoint, "validate", "demo.toml")
        assert v.returncode == 0, v.stderr
        assert f"state {url};" in v.stdout, v.stdout

        ran = _cli(sb, first, endpoint, "run", "demo.toml", "--json")
        assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
        assert lease(client, bucket) is None
        # A scheduled mirror sync on another machine: the same state, under the lease.
        synced = _cli(sb, _machine(sb, tmp_path, "sync-pod", bucket), endpoint, "sync",
                      "demo.toml", "--state", url, "--json")
        assert synced.returncode == 0, synced.stdout[-2000:] + synced.stderr[-2000:]
        assert lease(client, bucket) is None
        assert _rows(saved_state(client, bucket, tmp_path, "synced"),
                     "SELECT command, exit_code FROM runs ORDER BY id DESC LIMIT 1"
                     ) == [("sync", 0)]
        etag = _etag(client, bucket)

        # -- read-only: a new machine, the last checkpoint, nothing left, nothing written ----
        other = _machine(sb, tmp_path, "machine-2", bucket)
        note = f"state {url}: the last checkpoint, saved {_saved_at(client, bucket)}"
        st = _cli(sb, other, endpoint, "status", "demo.toml")
        assert st.returncode == 0, st.stderr
        assert st.stdout.splitlines()[0] == note, st.stdout
        assert url in st.stdout.splitlines()[1]  # the state is named by its URL
        js = _cli(sb, other, endpoint, "status", "--state", url, "--json")
        assert js.returncode == 0, js.stderr
        data = json.loads(js.stdout)
        assert data["state"] == url and data["totals"]["assets"].get("verified")
        saved = client.head_object(Bucket=bucket, Key=KEY)["LastModified"].timestamp()
        assert data["checkpoints"] == [{"url": url, "saved_at": saved, "in_use_by": None}]

        out = other / "report.json"
        rep = _cli(sb, other, endpoint, "report", "--state", url, "--format", "json",
                   "--out", str(out))
        assert rep.returncode == 0, rep.stderr
        assert note in rep.stderr and rep.stdout == ""
        report = json.loads(out.read_text())
        assert report["state"] == url and report["complete"], report["outcomes"]
        text = _cli(sb, other, endpoint, "report", "demo.toml")
        assert text.returncode == 0 and text.stdout.startswith(note + "\n"), text.stdout[:300]

        ver = _cli(sb, other, endpoint, "verify", "demo.toml", "--json")
        assert ver.returncode == 0, ver.stdout[-1000:] + ver.stderr[-2000:]
        assert note in ver.stderr and json.loads(ver.stdout)["drift"] == []
        kit = _cli(sb, other, endpoint, "cutover", "demo.toml", "--out", str(other / "kit"))
        assert kit.returncode == 0, kit.stderr
        assert kit.stdout.startswith(note + "\n") and any((other / "kit").iterdir())
        dry = _cli(sb, other, endpoint, "prewarm", "demo.toml", "--dry-run", "--json")
        assert dry.returncode == 0, dry.stdout[-1000:] + dry.stderr[-2000:]

        assert _etag(client, bucket) == etag  # none of them wrote the state
        assert lease(client, bucket) is None  # nor took the lease
        assert list((other / "tmp").iterdir()) == []  # the downloaded copies are gone
        assert not (other / "state").exists()  # and nothing was made beside the manifest

        # -- while another job holds the lease: reads go on, writes are refused --------------
        holder = _live_lease(client, bucket)
        busy = _cli(sb, other, endpoint, "status", "demo.toml")
        assert busy.returncode == 0 and "in use by pid 4242 on other-pod" in busy.stdout
        # the live view names the lease's holder as the run going on (not "killed?")
        assert "running: run (pid 4242 on other-pod" in busy.stdout, busy.stdout
        live = json.loads(_cli(sb, other, endpoint, "status", "demo.toml", "--json").stdout)
        assert live["live"]["running"] and live["live"]["holder"]["host"] == "other-pod"
        assert live["checkpoints"][0]["in_use_by"].startswith("pid 4242 on other-pod")
        for args in (("retry", "demo.toml"), ("state", "backup", "demo.toml")):
            refused = _cli(sb, other, endpoint, *args)
            assert refused.returncode == 2, (args, refused.stderr)
            assert "in use by pid 4242 on other-pod" in refused.stderr
            assert "Traceback" not in refused.stderr
        assert lease(client, bucket) == holder and _etag(client, bucket) == etag
        client.delete_object(Bucket=bucket, Key=KEY + ".lock")

        # -- writes: under the lease, saved, the lease freed ---------------------------------
        _fail_one(client, bucket, tmp_path)
        again = _cli(sb, other, endpoint, "retry", "--state", url)
        assert again.returncode == 0, again.stderr
        assert "1 package version(s) back in the queue" in again.stdout
        assert lease(client, bucket) is None
        after = saved_state(client, bucket, tmp_path, "after-retry")
        assert _rows(after, "SELECT count(*) FROM assets WHERE status = 'failed_permanent'"
                     ) == [(0,)]
        bak = _cli(sb, other, endpoint, "state", "backup", "demo.toml", "--json")
        assert bak.returncode == 0, bak.stderr
        made = json.loads(bak.stdout)
        assert made["state"] == url and made["integrity_check"] == "ok"
        assert made["backup"].startswith(f"s3://{bucket}/migrator/demo.")
        assert made["backup"].endswith(".bak.sqlite")
        copy = saved_state(client, bucket, tmp_path, "bak",
                           key=made["backup"].removeprefix(f"s3://{bucket}/"))
        assert _rows(copy, "PRAGMA integrity_check") == [("ok",)]
        local = other / "copy.sqlite"
        here = _cli(sb, other, endpoint, "state", "backup", "demo.toml", "--to", str(local))
        assert here.returncode == 0 and local.is_file(), here.stderr
        twice = _cli(sb, other, endpoint, "state", "backup", "demo.toml", "--to",
                     made["backup"])
        assert twice.returncode == 2 and "already exists" in twice.stderr, twice.stderr
        assert lease(client, bucket) is None
    finally:
        stop_sandbox(sb)


def test_status_watch_reads_each_new_checkpoint(tmp_path, s3):
    client, bucket, endpoint = s3
    sb = start_sandbox(tmp_path)
    try:
        folder = _machine(sb, tmp_path, "machine-1", bucket)
        ran = _cli(sb, folder, endpoint, "run", "demo.toml", "--json")
        assert ran.returncode == 0, ran.stderr[-2000:]
        watcher = _machine(sb, tmp_path, "machine-2", bucket)
        w = subprocess.Popen([*MIGRATOR, "status", "demo.toml", "--json", "--watch=0.2"],
                             cwd=watcher, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=_env(sb, watcher, endpoint))
        try:
            first = json.loads(w.stdout.readline())
            assert "failed_permanent" not in first["totals"]["assets"], first["totals"]
            _fail_one(client, bucket, tmp_path)  # a new checkpoint, as another job saves it
            deadline = time.monotonic() + 60
            while True:
                view = json.loads(w.stdout.readline())
                if view["totals"]["assets"].get("failed_permanent") == 1:
                    break
                assert time.monotonic() < deadline, "the watch never read the new checkpoint"
        finally:
            os.kill(w.pid, signal.SIGINT)
            w.communicate(timeout=30)
        assert w.returncode == 0
        assert list((watcher / "tmp").iterdir()) == []
    finally:
        stop_sandbox(sb)


def test_shards_on_s3_merge_and_one_merged_csv_goes_to_each_shard(tmp_path, s3):
    client, bucket, endpoint = s3
    sb = start_sandbox(tmp_path)
    try:
        knobs = f"{sb.info['nexus']['url']}/_sandbox/knobs"
        corrupt = ["/".join(c) for c in CORRUPT]
        assert httpx.post(knobs, json={"corrupt_checksum": corrupt}).status_code == 200
        urls = [f"s3://{bucket}/migrator/demo.shard-{k}-of-2.sqlite" for k in (1, 2)]
        for k in (1, 2):
            folder = _machine(sb, tmp_path, f"shard-{k}", bucket)
            ran = _cli(sb, folder, endpoint, "run", "demo.toml", "--shard", f"{k}/2",
                       "--json")
            assert ran.returncode == 1, ran.stdout[-2000:] + ran.stderr[-2000:]

        desk = _machine(sb, tmp_path, "desk", bucket, key=None)
        merged = _cli(sb, desk, endpoint, "status", "--merge", *urls, "--json")
        assert merged.returncode == 0, merged.stdout[-2000:] + merged.stderr[-2000:]
        data = json.loads(merged.stdout)
        assert data["consistent"] and data["merged"] == urls
        assert [s["shard"] for s in data["shards"]] == ["1/2", "2/2"]
        assert data["totals"]["assets"].get("failed_permanent") == 2
        assert len(data["checkpoints"]) == 2
        twice = _cli(sb, desk, endpoint, "status", "--merge", urls[0], urls[0])
        assert twice.returncode == 2 and "given twice" in twice.stderr

        failed = desk / "failed.csv"
        rep = _cli(sb, desk, endpoint, "report", "--merge", *urls, "--format", "csv",
                   "--out", str(failed))
        assert rep.returncode == 0, rep.stderr
        rows = list(csv.DictReader(failed.open()))
        assert sorted((r["repository"], r["path"]) for r in rows) == sorted(CORRUPT)

        # The fault fixed at the source: each shard takes its own row of the merged CSV.
        assert httpx.post(knobs, json={"corrupt_checksum": []}).status_code == 200
        for k in (1, 2):
            folder = tmp_path / f"shard-{k}"
            again = _cli(sb, folder, endpoint, "run", "demo.toml", "--shard", f"{k}/2",
                         "--only-failed", str(failed), "--json")
            assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
            assert "1 row(s) belong to other shards" in again.stderr, again.stderr[-2000:]
            assert lease(client, bucket, urls[k - 1].removeprefix(f"s3://{bucket}/")) is None
        after = _cli(sb, desk, endpoint, "report", "--merge", *urls, "--format", "json")
        assert after.returncode == 0, after.stderr
        final = json.loads(after.stdout)
        assert final["complete"] and final["outcomes"]["problems"] == 0
        # a shard's state given without --shard: its recorded shard filters the rows
        state_only = _cli(sb, tmp_path / "shard-1", endpoint, "run", "demo.toml", "--state",
                          urls[0], "--only-failed", str(failed), "--json")
        assert state_only.returncode == 0, state_only.stderr[-2000:]
        assert "1 row(s) belong to other shards" in state_only.stderr
    finally:
        stop_sandbox(sb)
