"""Waves by name and scoping by use, end to end against the sandbox: `--stage NAME` runs and
syncs one wave, `status` breaks down by stage; `downloaded_within_days` migrates only the
versions used lately (Nexus `lastDownloaded`, Artifactory `stat.downloaded`), whole, and
lists the others with their reason."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import pytest

from .conftest import SEED, start_sandbox, stop_sandbox
from .transfer_helpers import engine, state_rows, summary

pytestmark = pytest.mark.e2e


def with_stages(text: str) -> str:
    """maven-releases in the wave "pilot", every other mapping in wave 2."""
    out = []
    for line in text.splitlines():
        out.append(line)
        if line.startswith("mode = "):
            pilot = out[-3] == 'source = "maven-releases"'
            out.append('stage = "pilot"' if pilot else "stage = 2")
    return "\n".join(out) + "\n"


def test_a_named_wave_is_run_synced_and_counted_on_its_own(tmp_path):
    sb = start_sandbox(tmp_path)
    try:
        sb.manifest.write_text(with_stages(sb.manifest.read_text()))
        r = engine(sb, "run", "demo.toml", "--stage", "pilot", "--json")
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        done = dict(state_rows(sb.workdir, "SELECT r.source, count(*) FROM versions v JOIN "
                               "repositories r ON r.id = v.repository_id WHERE v.status = "
                               "'verified' GROUP BY 1"))
        assert set(done) == {"maven-releases"}
        status = json.loads(engine(sb, "status", "demo.toml", "--json").stdout)
        assert status["stages"]["pilot"].get("verified", 0) > 0
        assert "verified" not in status["stages"]["2"]
        text = engine(sb, "status", "demo.toml").stdout
        assert "by stage (assets):" in text and "stage pilot:" in text
        r = engine(sb, "sync", "demo.toml", "--stage", "pilot", "--json")
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        out = summary(r)
        assert set(out["sync"]) == {"maven-releases"} and out["nothing_changed"] is True
        r = engine(sb, "run", "demo.toml", "--stage", "wave-9")
        assert r.returncode == 2
        assert "at stage wave-9 (its stages: 2, pilot)" in r.stderr
        assert "Traceback" not in r.stderr
    finally:
        stop_sandbox(sb)


@pytest.mark.parametrize("kind", ["nexus", "artifactory"])
def test_only_versions_downloaded_lately_are_migrated_whole(tmp_path, kind):
    seed = tmp_path / "seed"
    shutil.copytree(SEED, seed)
    recent = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    toml = (seed / "repos.toml").read_text()
    # one file of greeter 1.1.0 (its POM) was downloaded two days ago; nothing else ever was
    toml = toml.replace('version_policy = "RELEASE"\n', 'version_policy = "RELEASE"\n\n'
                        '[repository.downloaded]\n'
                        f'"com/acme/greeter/1.1.0/greeter-1.1.0.pom" = "{recent}"\n', 1)
    (seed / "repos.toml").write_text(toml)
    work = tmp_path / "work"
    work.mkdir()
    sb = start_sandbox(work, "--manifest-source", kind, seed=seed)
    try:
        sb.manifest.write_text(sb.manifest.read_text().replace(
            "[options]\n", "[options]\ndownloaded_within_days = 30\n"))
        r = engine(sb, "run", "demo.toml", "--json")
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        versions = dict(((src, ver), status) for src, ver, status in state_rows(
            sb.workdir, "SELECT r.source, v.version, v.status FROM versions v JOIN "
            "repositories r ON r.id = v.repository_id WHERE r.mode = 'copy'"))
        assert versions[("maven-releases", "1.1.0")] == "verified"  # the whole version
        assert versions[("maven-releases", "1.0.0")] == "excluded"
        copied = {k for k, s in versions.items() if s == "verified"}
        assert copied == {("maven-releases", "1.1.0")}
        jars = dict(state_rows(sb.workdir, "SELECT a.path, a.status FROM assets a JOIN "
                               "repositories r ON r.id = a.repository_id WHERE r.source = "
                               "'maven-releases' AND a.path LIKE '%1.1.0/greeter-1.1.0%.jar'"))
        assert set(jars.values()) == {"verified"} and len(jars) == 2  # jar and sources jar
        report = json.loads(engine(sb, "report", "demo.toml", "--format", "json").stdout)
        reasons = {e["reason"] for e in report["exclusions"]
                   if e["repository"] == "maven-releases" and "/1.0.0/" in e["path"]
                   and not e["path"].endswith((".md5", ".sha1"))}  # sidecars: their own
        assert reasons and all("downloaded within 30 days" in why for why in reasons), reasons
        status = engine(sb, "status", "demo.toml").stdout
        assert "left out (assets, by reason):" in status
        assert "maven-releases: out of scope: no file of this version was downloaded within " \
            "30 days" in status
    finally:
        stop_sandbox(sb)
