"""The faults matrix: one fault at a time, on the target or the source or the spool's disk, for
a whole `migrator run --verbose` of the demo seed. The run either finishes or stops cleanly
with a documented exit code (0 done, 1 finished with failures, 2 nothing could be done,
3 stopped, resumable), never with a traceback; once the fault is gone, `migrator resume`
(after `migrator retry` where the run gave a version up for good) ends with everything
verified, no conflict, a sound state, and not one credential in any output, log line, state,
spool or report file.

Faults: target 5xx, a 429 storm, connection resets, truncated bodies, slow responses, writes
whose answers are lost, the CodeArtifact token expiring mid-run (the sandbox's clock jumps
12 hours while the run is going), source 5xx, a source that lies about a checksum, a spool on a
full disk (a 16 MB tmpfs: CI runs as root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from .helpers import (
    SOAK,
    engine,
    integrity_ok,
    request_log,
    rows,
    start_sandbox,
    stop_sandbox,
)
from .leaks import assert_no_secrets, distinctive_env

pytestmark = pytest.mark.e2e

CORRUPT = "npm-internal/left-pad/-/left-pad-1.3.0.tgz"
# name → (sandbox serve options, CodeArtifact fault switches set while the run goes, Nexus
# knobs, exit codes the faulted run may end with)
# The soak runs every fault harder (and with more seeds).
_X = 3.0 if SOAK else 1.0
SCENARIOS: dict[str, tuple[list[str], dict, dict, set[int]]] = {
    "target-5xx": (["--error-rate", f"{0.05 * _X}"], {}, {}, {0, 1, 3}),
    # a storm: the write and read quotas at a tenth, so most bursts meet 429s
    "429-storm": (["--quota-scale", "0.1", "--throttle-rate", f"{0.03 * _X}"], {}, {},
                  {0, 1, 3}),
    "connection-resets": (["--reset-rate", f"{0.03 * _X}"], {}, {}, {0, 1, 3}),
    "truncated-bodies": (["--truncate-rate", f"{0.05 * _X}"], {}, {}, {0, 1, 3}),
    "slow-responses": (["--latency", "0.05", "--latency-jitter", "0.15"], {}, {}, {0}),
    "lost-answers": ([], {"lost_answer_rate": 0.15 * _X}, {}, {0, 1, 3}),
    "source-5xx": ([], {}, {"error_rate": 0.05 * _X}, {0, 1, 3}),
    "source-checksum-lie": ([], {}, {"corrupt_checksum": [CORRUPT]}, {1}),
}
CLEAR_TARGET = {"error_rate": 0.0, "throttle_rate": 0.0, "reset_rate": 0.0, "truncate_rate": 0.0,
                "latency": 0.0, "latency_jitter": 0.0, "lost_answer_rate": 0.0}
CLEAR_SOURCE = {"error_rate": 0.0, "corrupt_checksum": []}
SEEDS = (5, 6, 7) if SOAK else (5,)


# Runs at --verbose (botocore logs every request, headers included) where the credential
# checks matter most; the others at the default level, which keeps the matrix within its time.
VERBOSE = {"lost-answers", "target-5xx", "source-5xx"}


def faulted_sandbox(tmp_path: Path, serve: list[str], seed: int):
    # A shorter read lag than the other end-to-end tests: polling is exercised, not waited.
    sb = start_sandbox(tmp_path, "--publish-delay", "0.3", *serve, "--fault-seed", str(seed))
    # Only the copied repositories: pre-warming adds time, not faults.
    text = sb.manifest.read_text()
    blocks = text.split("[[repositories]]")
    kept = [b for b in blocks[1:] if 'mode = "prewarm"' not in b]
    sb.manifest.write_text(blocks[0] + "".join("[[repositories]]" + b for b in kept))
    return sb


def finish_after_the_fault(sb, outputs: list[str], *, retry: bool, reports: bool = True,
                           verbose: bool = True) -> None:
    """Fault gone: (retry and) resume to the end; check the end state and the secrets."""
    if retry:
        # the versions given up go back to the queue; a new plan reads the listing again
        # (what the source says about them now), then the resume migrates them
        r = engine(sb, "retry", "--state", "state/demo.sqlite")
        assert r.returncode == 0, r.stderr[-2000:]
        r = engine(sb, "plan", "demo.toml", "--json")
        assert r.returncode == 0, r.stderr[-2000:]
    r = engine(sb, "resume", "--state", "state/demo.sqlite", "--json",
               *(["--verbose"] if verbose else []), env=distinctive_env())
    outputs.append(r.stdout + r.stderr)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    state = sb.workdir / "state" / "demo.sqlite"
    integrity_ok(state)
    statuses = dict(rows(state, "SELECT a.status, count(*) FROM assets a JOIN versions v ON "
                         "v.id = a.version_id WHERE v.status != 'excluded' GROUP BY a.status"))
    assert set(statuses) <= {"verified", "skipped_identical", "excluded"}, statuses
    for fmt in ("json", "csv", "html") if reports else ():
        out = sb.workdir / f"report.{fmt}"
        r = engine(sb, "report", "--state", "state/demo.sqlite", "--format", fmt, "--out",
                   str(out))
        assert r.returncode == 0 and out.stat().st_size, r.stderr[-2000:]
        outputs.append(r.stdout + r.stderr)
    assert_no_secrets(sb, outputs)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("fault", sorted(SCENARIOS))
def test_fault_then_resume_to_completion(tmp_path, fault, seed):
    serve, target_faults, source_knobs, codes = SCENARIOS[fault]
    sb = faulted_sandbox(tmp_path, serve, seed)
    try:
        ca, nexus = sb.info["codeartifact"]["faults_url"], sb.info["nexus"]["url"]
        if target_faults:
            assert httpx.post(ca, json=target_faults).status_code == 200
        if source_knobs:
            knobs = {**source_knobs, "seed": seed}
            assert httpx.post(f"{nexus}/_sandbox/knobs", json=knobs).status_code == 200
        verbose = ["--verbose"] if fault in VERBOSE else []
        r = engine(sb, "run", "demo.toml", "--json", *verbose, env=distinctive_env(),
                   timeout=300)
        outputs = [r.stdout + r.stderr]
        assert r.returncode in codes, (fault, r.returncode, r.stdout[-2000:], r.stderr[-3000:])
        # a clean end: the JSON summary, or one `error:` line (--verbose logs may hold a
        # debug traceback of a version that failed and was retried)
        assert r.stdout.startswith("{") or r.stderr.strip().splitlines()[-1].startswith(
            "error:"), (r.stdout[-1000:], r.stderr[-1000:])
        if fault == "source-checksum-lie":
            bad = rows(sb.workdir / "state" / "demo.sqlite",
                       "SELECT status, reason FROM assets WHERE path = ?",
                       (CORRUPT.split("/", 1)[1],))
            assert bad[0][0] == "failed_permanent" and "checksum mismatch" in bad[0][1]
        assert httpx.post(ca, json=CLEAR_TARGET).status_code == 200
        assert httpx.post(f"{nexus}/_sandbox/knobs", json=CLEAR_SOURCE).status_code == 200
        finish_after_the_fault(sb, outputs, retry=r.returncode == 1,
                               reports=fault == "lost-answers", verbose=bool(verbose))
        if fault == "lost-answers":
            entries = httpx.get(sb.info["codeartifact"]["requests_url"]).json()["entries"]
            assert [e for e in entries if e.get("fault") == "lost-answer"]
    finally:
        stop_sandbox(sb)


def test_token_expiring_mid_run_is_refreshed_without_stopping(tmp_path):
    """The sandbox's clock jumps past the 12-hour token lifetime once the run has written
    something: the next requests are 401 for that token; the run gets a new one and goes on."""
    sb = faulted_sandbox(tmp_path, ["--latency", "0.03"], 1)
    proc = out_file = err_file = None
    try:
        # Two workers: many writes are still to come when the first one is seen.
        sb.manifest.write_text(sb.manifest.read_text().replace("concurrency = 8",
                                                               "concurrency = 2"))
        env = {**sb.env, **distinctive_env()}
        # Files, not pipes: --verbose writes more than a pipe holds while nobody reads it.
        out_file, err_file = (tmp_path / "run.out").open("w+"), (tmp_path / "run.err").open("w+")
        proc = subprocess.Popen(
            [*_migrator(), "run", "demo.toml", "--json", "--verbose"], cwd=sb.workdir,
            env=env, stdout=out_file, stderr=err_file, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            # the first native write: it was made with the token, which now exists
            if any(e["write"] and e["status"] < 300 and ":" in str(e.get("operation"))
                   for e in httpx.get(sb.info["codeartifact"]["requests_url"]).json()[
                       "entries"]):
                break
            time.sleep(0.05)  # polling the sandbox's log for that write, with a deadline
        assert proc.poll() is None, "the run ended before it wrote anything"
        clock = sb.info["codeartifact"]["endpoint_url"] + "/_sandbox/clock"
        assert httpx.post(clock, json={"advance": 43200 + 60}).status_code == 200
        proc.wait(timeout=240)
        out, err = (tmp_path / "run.out").read_text(), (tmp_path / "run.err").read_text()
        assert proc.returncode == 0, (out[-2000:], [x for x in err.splitlines()
                                                    if " DEBUG " not in x][-20:])
        assert "refused the authorization token" in err  # it expired, and a new one was got
        log = request_log(sb)
        assert log["by_status"].get("401", 0) > 0, log["by_status"]  # the token did expire
        finish_after_the_fault(sb, [out + err], retry=False, reports=False, verbose=False)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        for handle in (out_file, err_file):
            if handle is not None:
                handle.close()
        stop_sandbox(sb)


def _migrator() -> list[str]:
    import sys

    return [sys.executable, "-m", "migrator", "--no-progress"]


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MB tmpfs (below the spool's 64 MB free margin: every download is refused), grown
    to 256 MB by `grow()` once the test wants the fault gone."""
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root (CI runs the suite as root)")
    mount = tmp_path / "spool-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], check=True)

    def grow() -> None:
        subprocess.run(["mount", "-o", "remount,size=256m", str(mount)], check=True)

    try:
        yield mount, grow
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        shutil.rmtree(mount, ignore_errors=True)


def test_full_spool_disk_stops_cleanly_and_resumes_once_there_is_room(tmp_path, small_disk):
    mount, grow = small_disk
    sb = faulted_sandbox(tmp_path, [], 1)
    try:
        text = sb.manifest.read_text().replace("[options]", f'[options]\nspool_dir = "{mount}"')
        sb.manifest.write_text(text)
        r = engine(sb, "run", "demo.toml", "--json", env=distinctive_env())
        outputs = [r.stdout + r.stderr]
        # nothing can be downloaded: the run stops (2: nothing was done yet), naming the spool
        assert r.returncode in (2, 3), (r.returncode, r.stdout[-2000:], r.stderr[-3000:])
        assert "spool" in r.stderr and str(mount) in r.stderr and "Traceback" not in r.stderr
        failed = rows(sb.workdir / "state" / "demo.sqlite",
                      "SELECT count(*) FROM versions WHERE status = 'failed_permanent'")
        assert failed == [(0,)]  # none was given up for a disk that is full
        grow()
        finish_after_the_fault(sb, outputs, retry=False, reports=False, verbose=False)
    finally:
        stop_sandbox(sb)
