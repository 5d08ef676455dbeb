"""Reports that prove completeness, end to end on the demo seed: text, JSON, CSV and HTML
(also as headless Chromium renders it) carry the same numbers; the completeness certificate
re-checks against CodeArtifact, and fails on drift (exit 1) and on an edited line (exit 2);
a failed file goes through `report --format csv` and `run --only-failed` to verified."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import subprocess
import time

import httpx
import pytest

from .conftest import start_sandbox, stop_sandbox
from .transfer_helpers import codeartifact, engine

pytestmark = pytest.mark.e2e

CORRUPT = ("npm-internal", "is-number/-/is-number-6.0.0.tgz")
OUTCOMES = ("done", "excluded", "problems", "pending")


def chromium() -> str:
    found = shutil.which("chromium")
    if not found:
        # a failure, not a skip: `make deps` installs it (scripts/deps/reports.sh)
        pytest.fail("chromium is not installed (run scripts/deps/reports.sh)")
    return found


def report(sb, fmt: str, name: str) -> str:
    out = sb.workdir / name
    r = engine(sb, "report", "demo.toml", "--format", fmt, "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    return out.read_text()


def text_numbers(text: str) -> dict[str, int]:
    m = re.search(r"planned assets: (\d+) = done (\d+) \+ excluded (\d+) \+ problems (\d+) "
                  r"\+ pending (\d+)", text)
    assert m, text
    return dict(zip(("planned", *OUTCOMES), map(int, m.groups()), strict=True))


def html_numbers(html: str) -> dict[str, int]:
    found = {"planned": int(re.search(r'data-planned="(\d+)"', html).group(1))}
    for name in OUTCOMES:
        found[name] = int(re.search(rf'data-outcome-{name}="(\d+)"', html).group(1))
    for status, n in re.findall(r'data-status-([a-z_]+)="(\d+)"', html):
        found[f"status:{status}"] = int(n)
    found["problem-rows"] = int(re.search(r'data-problems="(\d+)"', html).group(1))
    return found


def json_numbers(data: dict) -> dict[str, int]:
    found = {"planned": data["planned_assets"], **data["outcomes"]}
    for status, n in data["totals"]["assets"].items():
        found[f"status:{status}"] = n
    found["problem-rows"] = len(data["problems"])
    return found


def test_formats_agree_chromium_renders_them_and_the_certificate_rechecks(sandbox, tmp_path):
    ran = engine(sandbox, "run", "demo.toml", "--json")
    assert ran.returncode == 0, ran.stderr
    run = json.loads(ran.stdout)

    data = json.loads(report(sandbox, "json", "report.json"))
    text = report(sandbox, "text", "report.txt")
    rows = list(csv.DictReader(io.StringIO(report(sandbox, "csv", "report.csv"))))
    html = report(sandbox, "html", "report.html")
    # stdout is the default: the same text
    shown = engine(sandbox, "report", "demo.toml")
    assert shown.returncode == 0 and text_numbers(shown.stdout) == text_numbers(text)

    # the totals add up to the plan, and to what the run reported
    assert sum(data["totals"]["assets"].values()) == data["planned_assets"] == \
        run["planned_assets"]
    assert sum(data["outcomes"].values()) == data["planned_assets"]
    assert data["totals"] == run["totals"]
    assert data["complete"] and data["outcomes"]["problems"] == 0
    assert data["outcomes"]["excluded"] > 0 and len(data["exclusions"]) == \
        data["outcomes"]["excluded"]
    assert all(e["reason"] for e in data["exclusions"])
    # text, CSV and HTML carry the JSON's numbers
    j = json_numbers(data)
    assert text_numbers(text) == {k: j[k] for k in ("planned", *OUTCOMES)}
    assert len(rows) == data["outcomes"]["problems"] + data["outcomes"]["pending"] == 0
    assert html_numbers(html) == j
    # self-contained: no script or stylesheet from anywhere, no secret
    assert not re.search(r"<(script|link|img)[^>]*(src|href)=", html)
    for secret in sandbox.info["env"].values():
        if "secret" in secret:
            assert secret not in html and secret not in text
    assert "NEXUS_PASSWORD" in html  # the variable's name, which is no secret

    # rendered by a real browser: a screenshot, and the numbers read back from its DOM
    page = f"file://{sandbox.workdir / 'report.html'}"
    shot = tmp_path / "report.png"
    base = [chromium(), "--headless", "--no-sandbox", "--disable-gpu",
            f"--user-data-dir={tmp_path / 'chromium-profile'}"]
    subprocess.run([*base, f"--screenshot={shot}", "--window-size=1280,2000", page],
                   capture_output=True, timeout=120, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    dom = subprocess.run([*base, "--dump-dom", page], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert html_numbers(dom) == j
    assert re.search(r'<td id="status-verified"[^>]*>(\d+)</td>', dom).group(1) == \
        str(data["totals"]["assets"]["verified"])

    # the certificate: one line per migrated asset, then the count and the digest
    cert = sandbox.workdir / "cert.jsonl"
    r = engine(sandbox, "report", "demo.toml", "--format", "certificate", "--out", str(cert))
    assert r.returncode == 0, r.stderr
    lines = cert.read_text().splitlines()
    entries, final = [json.loads(x) for x in lines[:-1]], json.loads(lines[-1])
    assert final["count"] == len(entries) == data["outcomes"]["done"]
    assert {e["status"] for e in entries} <= {"verified", "skipped_identical", "ingested"}
    assert all(e["target_hashes"].get("sha256") for e in entries)
    assert {e["origin"] for e in entries} == {"INTERNAL", "EXTERNAL"}
    ok = engine(sandbox, "verify", "demo.toml", "--certificate", str(cert), "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["assets"] == len(entries)

    # one line edited: the digest no longer matches (exit 2)
    edited = tmp_path / "edited.jsonl"
    first = json.loads(lines[0])
    first["target_hashes"]["sha256"] = "0" * 64
    edited.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    bad = engine(sandbox, "verify", "demo.toml", "--certificate", str(edited))
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert "edited" in bad.stderr

    # a migrated generic asset replaced behind the tool's back (its version deleted, then
    # published again under the same name with other bytes): drift on its hash (exit 1)
    ca = codeartifact(sandbox)
    domain = sandbox.info["codeartifact"]["domain"]
    changed = next(e for e in entries if e["format"] == "generic")
    ca.delete_package_versions(domain=domain, repository=changed["target_repository"],
                               format="generic", namespace=changed["namespace"],
                               package=changed["package"], versions=[changed["version"]])
    other = b"not the bytes that were migrated\n"
    ca.publish_package_version(
        domain=domain, repository=changed["target_repository"], format="generic",
        namespace=changed["namespace"], package=changed["package"],
        packageVersion=changed["version"], assetName=changed["filename"],
        assetContent=other, assetSHA256=hashlib.sha256(other).hexdigest())
    # the sandbox answers reads with a lag, as CodeArtifact does: wait (with a deadline) until
    # the new bytes are what a reader sees, so the check below meets them, not the lag
    coords = {"domain": domain, "repository": changed["target_repository"], "format": "generic",
              "namespace": changed["namespace"], "package": changed["package"],
              "packageVersion": changed["version"]}
    deadline = time.monotonic() + 60
    while True:
        try:
            seen = ca.list_package_version_assets(**coords)["assets"]
        except ca.exceptions.ResourceNotFoundException as exc:  # not readable yet
            seen = [str(exc)]
        if [a.get("size") for a in seen
                if isinstance(a, dict) and a["name"] == changed["filename"]] == [len(other)]:
            break
        assert time.monotonic() < deadline, seen
        time.sleep(0.1)
    replaced = engine(sandbox, "verify", "demo.toml", "--certificate", str(cert), "--json")
    assert replaced.returncode == 1, replaced.stdout + replaced.stderr
    found = json.loads(replaced.stdout)["drift"]
    changed_id = f"{changed['namespace']}:{changed['package']}@{changed['version']}"
    assert [(d["version"], d["asset"]) for d in found] == [(changed_id, changed["filename"])]
    assert f"CodeArtifact {len(other)}" in found[0]["problem"]  # the replaced bytes, named

    # a migrated version deleted behind the tool's back: drift, listed (exit 1)
    gone = next(e for e in entries if e["format"] == "pypi" and e["origin"] == "INTERNAL")
    ca.delete_package_versions(domain=sandbox.info["codeartifact"]["domain"],
                               repository=gone["target_repository"], format="pypi",
                               package=gone["package"], versions=[gone["version"]])
    drift = engine(sandbox, "verify", "demo.toml", "--certificate", str(cert), "--json")
    assert drift.returncode == 1, drift.stdout + drift.stderr
    found = json.loads(drift.stdout)["drift"]
    assert {d["version"] for d in found} == {f"{gone['package']}@{gone['version']}",
                                             changed_id}


def test_a_failed_file_goes_through_the_csv_and_run_only_failed_to_verified(tmp_path):
    sb = start_sandbox(tmp_path)
    try:
        knobs = f"{sb.info['nexus']['url']}/_sandbox/knobs"
        assert httpx.post(knobs, json={"corrupt_checksum": ["/".join(CORRUPT)]}
                          ).status_code == 200
        ran = engine(sb, "run", "demo.toml", "--json")
        assert ran.returncode == 1, ran.stdout[-2000:] + ran.stderr[-2000:]

        failed = sb.workdir / "failed.csv"
        r = engine(sb, "report", "demo.toml", "--format", "csv", "--out", str(failed))
        assert r.returncode == 0, r.stderr
        rows = list(csv.DictReader(failed.open()))
        assert [(x["repository"], x["path"], x["status"]) for x in rows] == \
            [(*CORRUPT, "failed_permanent")]
        # both checksums: the source's (also in its column) and the downloaded bytes'
        reason = rows[0]["reason"]
        assert "checksum mismatch" in reason and "downloaded" in reason
        assert rows[0]["source_sha1"] and f"source says {rows[0]['source_sha1']}" in reason
        before = json.loads(report(sb, "json", "before.json"))
        assert not before["complete"] and before["outcomes"]["problems"] == 1

        # the fault removed at the source; only that version is sent back and migrated
        assert httpx.post(knobs, json={"corrupt_checksum": []}).status_code == 200
        again = engine(sb, "run", "demo.toml", "--only-failed", str(failed), "--json")
        assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
        after = json.loads(report(sb, "json", "after.json"))
        assert after["complete"] and after["outcomes"]["problems"] == 0
        assert after["outcomes"]["done"] == before["outcomes"]["done"] + 1
        assert after["totals"]["assets"].get("verified", 0) == \
            before["totals"]["assets"].get("verified", 0) + 1
        assert report(sb, "csv", "after.csv").splitlines()[1:] == []
    finally:
        stop_sandbox(sb)


def test_only_failed_refuses_rows_the_state_does_not_hold(sandbox):
    ran = engine(sandbox, "run", "demo.toml", "--json")
    assert ran.returncode == 0, ran.stderr
    bogus = sandbox.workdir / "bogus.csv"
    bogus.write_text("repository,path,status\nnpm-internal,no/such/file.tgz,failed_permanent\n")
    r = engine(sandbox, "run", "demo.toml", "--only-failed", str(bogus))
    assert r.returncode == 2 and "not in the state" in r.stderr, r.stderr
