"""Maven fidelity, end to end through `migrator run` and the sandbox (issue "Fidelity, round 2"):

- a signed release (jar, pom and their detached `.asc`, signed by `gpg` here) migrates and
  verifies with four assets, each signature PUT after the file it signs, from Nexus and from
  Artifactory;
- a run killed right after a SNAPSHOT build's first asset fact, then resumed, ends with
  `X-SNAPSHOT` Published and every build in its documented status, under both SNAPSHOT models
  of the sandbox;
- two runs (1.0.0, then 1.1.0 added at the source) leave both versions in the artifact-level
  `maven-metadata.xml` whether CodeArtifact serves the uploaded file or its own, and real `mvn`
  resolves the range `[1.0.0,)` to 1.1.0 through the sandbox.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from .conftest import SEED, start_sandbox, stop_sandbox
from .transfer_helpers import (
    asset_statuses,
    codeartifact,
    engine,
    summary,
    token_and_endpoint,
    write_log,
)

pytestmark = pytest.mark.e2e

SIGNED = "com/acme/signed/1.0"
POM = b"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>com.acme</groupId><artifactId>signed</artifactId><version>1.0</version>
<description>a signed release</description></project>
"""
# Used only where gpg is missing: a well-formed ASCII-armoured detached signature (its bytes
# are what is migrated and compared; it is not checked against a key).
FIXED_SIGNATURE = b"""-----BEGIN PGP SIGNATURE-----

iHUEABYKAB0WIQRBqnUBG0rW2w2vbEgM2S8mJ8M2rAUCZcPvAAAKCRAM2S8mJ8M2
rB6fAP9u3d1m4a0mS5gk3+Qx2d5dQ3k9m0m6aG8m2Y7e2c1dTAEA0s8cX3d9pY5B
dJx0d1Cm5xq0Xc3mJbY2t4vC8y1T2Ao=
=q1Zx
-----END PGP SIGNATURE-----
"""


def write_repos(seed: Path, *repos: tuple[str, str]) -> None:
    body = "".join(f'[[repository]]\nname = "{name}"\nformat = "maven2"\ntype = "hosted"\n'
                   f'version_policy = "{policy}"\n\n' for name, policy in repos)
    (seed / "repos.toml").write_text(body)


class Signer:
    """Detached ASCII-armoured signatures made by a throwaway gpg key (or fixed bytes)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.gpg = shutil.which("gpg")
        if self.gpg:
            home.mkdir(mode=0o700)
            self._gpg("--quick-gen-key", "Migrator Test <test@example.invalid>", "ed25519",
                      "sign", "never")

    def _gpg(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([self.gpg, "--batch", "--homedir", str(self.home),
                               "--pinentry-mode", "loopback", "--passphrase", "", *args],
                              capture_output=True, text=True, timeout=60, check=True)

    def sign(self, path: Path) -> Path:
        out = path.with_name(path.name + ".asc")
        if self.gpg:
            self._gpg("--armor", "--detach-sign", "--output", str(out), str(path))
        else:
            out.write_bytes(FIXED_SIGNATURE)
        return out

    def verify(self, signature: Path, data: Path) -> None:
        if self.gpg:
            self._gpg("--verify", str(signature), str(data))

    def close(self) -> None:
        if self.gpg and shutil.which("gpgconf"):
            subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "gpg-agent"],
                           capture_output=True, timeout=30)


@pytest.fixture
def signer(tmp_path):
    s = Signer(tmp_path / "gnupg")
    yield s
    s.close()


@pytest.mark.parametrize("source", ["nexus", "artifactory"])
def test_signed_release_migrates_and_verifies_with_four_assets(source, tmp_path, signer):
    seed = tmp_path / "seed"
    folder = seed / "maven-releases" / SIGNED
    folder.mkdir(parents=True)
    (folder / "signed-1.0.jar").write_bytes(b"PK\x03\x04 a signed jar\n")
    (folder / "signed-1.0.pom").write_bytes(POM)
    for name in ("signed-1.0.jar", "signed-1.0.pom"):
        signer.sign(folder / name)
    write_repos(seed, ("maven-releases", "RELEASE"))
    work = tmp_path / "work"
    work.mkdir()
    sb = start_sandbox(work, "--manifest-source", source, seed=seed)
    try:
        r = engine(sb, "run", "demo.toml", "--json", "--no-progress")
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        statuses = asset_statuses(sb.workdir)
        assert {p: s for (_, p), s in statuses.items() if s != "excluded"} == {
            f"{SIGNED}/signed-1.0.jar": "verified", f"{SIGNED}/signed-1.0.jar.asc": "verified",
            f"{SIGNED}/signed-1.0.pom": "verified", f"{SIGNED}/signed-1.0.pom.asc": "verified"}
        assert summary(r)["assets"]["verified"] == 4
        ca, domain = codeartifact(sb), sb.info["codeartifact"]["domain"]
        version = ca.describe_package_version(
            domain=domain, repository="maven-releases", format="maven", namespace="com.acme",
            package="signed", packageVersion="1.0")["packageVersion"]
        assert version["status"] == "Published"
        assets = ca.list_package_version_assets(
            domain=domain, repository="maven-releases", format="maven", namespace="com.acme",
            package="signed", packageVersion="1.0")["assets"]
        assert sorted(a["name"] for a in assets) == [
            "signed-1.0.jar", "signed-1.0.jar.asc", "signed-1.0.pom", "signed-1.0.pom.asc"]
        puts = [e["asset"].rsplit("/", 1)[-1] for e in write_log(sb)
                if e["operation"] == "maven:PutAsset"]
        assert puts == ["signed-1.0.jar", "signed-1.0.jar.asc", "signed-1.0.pom",
                        "signed-1.0.pom.asc"]  # each signature after the file it signs
        token, url = token_and_endpoint(sb, "maven-releases", "maven")
        got = tmp_path / "got"
        got.mkdir()
        for name in ("signed-1.0.jar", "signed-1.0.jar.asc"):
            resp = httpx.get(f"{url}{SIGNED}/{name}", auth=("aws", token))
            resp.raise_for_status()
            (got / name).write_bytes(resp.content)
        assert (got / "signed-1.0.jar.asc").read_bytes() == \
            (folder / "signed-1.0.jar.asc").read_bytes()
        signer.verify(got / "signed-1.0.jar.asc", got / "signed-1.0.jar")
    finally:
        stop_sandbox(sb)


def snapshot_versions(sb) -> dict[str, str]:
    ca, domain = codeartifact(sb), sb.info["codeartifact"]["domain"]
    versions = ca.list_package_versions(domain=domain, repository="maven-snapshots",
                                        format="maven", namespace="com.acme",
                                        package="greeter")["versions"]
    return {v["version"]: v["status"] for v in versions}


@pytest.mark.parametrize("model", ["builds", "rolling"])
def test_snapshot_run_killed_after_a_builds_first_put_then_resumed(model, tmp_path):
    seed = tmp_path / "seed"
    shutil.copytree(SEED / "maven-snapshots", seed / "maven-snapshots")
    write_repos(seed, ("maven-snapshots", "SNAPSHOT"))
    work = tmp_path / "work"
    work.mkdir()
    sb = start_sandbox(work, "--behaviour", f"maven_snapshot_model={model}", seed=seed)
    try:
        sb.manifest.write_text(sb.manifest.read_text().replace("concurrency = 8",
                                                               "concurrency = 1"))
        r = engine(sb, "run", "demo.toml", "--no-progress",
                   env={"MIGRATOR_TEST_CRASH_AT": "recorded-maven:1"})
        assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
        build1, build2 = "1.2.0-20261125.185252-1", "1.2.0-20261125.185253-2"
        # the sandbox's publish delay (eventual consistency): a bounded wait for the listing
        deadline = time.monotonic() + 15
        while not (killed := snapshot_versions(sb)) and time.monotonic() < deadline:
            time.sleep(0.2)
        if model == "builds":  # the build exists, Unfinished, from its first PUT
            assert killed == {build1: "Unfinished"}
        else:
            assert killed == {"1.2.0-SNAPSHOT": "Unfinished"}
        r = engine(sb, "resume", "--state", "state/demo.sqlite", "--json", "--no-progress")
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        assert set(asset_statuses(sb.workdir).values()) <= {"verified", "excluded"}
        assert summary(r)["assets"]["verified"] == 6
        if model == "builds":  # UG maven-snapshots: every build Unlisted
            expected = {build1: "Unlisted", build2: "Unlisted", "1.2.0-SNAPSHOT": "Published"}
        else:
            expected = {build1: "Unlisted", "1.2.0-SNAPSHOT": "Published"}
        deadline = time.monotonic() + 15  # the listing lags the writes (publish delay)
        while (after := snapshot_versions(sb)) != expected and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "Unfinished" not in after.values()
        assert after == expected
        token, url = token_and_endpoint(sb, "maven-snapshots", "maven")
        meta = httpx.get(f"{url}com/acme/greeter/1.2.0-SNAPSHOT/maven-metadata.xml",
                         auth=("aws", token)).text
        assert "<buildNumber>2</buildNumber>" in meta
    finally:
        stop_sandbox(sb)


SETTINGS = """<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
  <localRepository>{local}</localRepository>
  <mirrors><mirror><id>debian</id><mirrorOf>central</mirrorOf>
    <url>file:///usr/share/maven-repo</url></mirror></mirrors>
  <servers><server><id>ca</id><username>aws</username><password>{token}</password></server>
  </servers>
</settings>
"""
CONSUMER = """<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
  <groupId>com.example</groupId><artifactId>consumer</artifactId><version>1</version>
  <repositories><repository><id>ca</id><url>{url}</url></repository></repositories>
  <dependencies><dependency><groupId>com.acme</groupId><artifactId>greeter</artifactId>
    <version>[1.0.0,)</version></dependency></dependencies>
</project>
"""


@pytest.mark.parametrize("served", ["generated", "uploaded"])
def test_two_runs_leave_both_versions_listed_and_mvn_resolves_the_range(served, tmp_path):
    # installed by scripts/deps/codeartifact.sh (`make test`): missing is a failure, not a skip
    assert shutil.which("mvn") and Path(
        "/usr/share/maven-repo/org/apache/maven/plugins/maven-dependency-plugin/3.5.0"
    ).is_dir(), "mvn with Debian's maven-dependency-plugin 3.5.0 is missing: run `make deps`"
    seed = tmp_path / "seed"
    releases = seed / "maven-releases" / "com/acme/greeter"
    (releases / "1.0.0").mkdir(parents=True)
    for f in (SEED / "maven-releases/com/acme/greeter/1.0.0").glob("greeter-1.0.0*"):
        shutil.copy(f, releases / "1.0.0" / f.name)
    write_repos(seed, ("maven-releases", "RELEASE"))
    work = tmp_path / "work"
    work.mkdir()
    sb = start_sandbox(work, "--behaviour", f"maven_metadata_served={served}", seed=seed)
    try:
        r = engine(sb, "run", "demo.toml", "--json", "--no-progress")
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        shutil.copytree(SEED / "maven-releases/com/acme/greeter/1.1.0", releases / "1.1.0")
        assert engine(sb, "plan", "demo.toml").returncode == 0  # the crawl finds 1.1.0
        r = engine(sb, "run", "demo.toml", "--json", "--no-progress")
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        assert set(asset_statuses(sb.workdir).values()) <= {"verified", "excluded"}
        token, url = token_and_endpoint(sb, "maven-releases", "maven")
        meta = httpx.get(f"{url}com/acme/greeter/maven-metadata.xml", auth=("aws", token)).text
        assert "<version>1.0.0</version>" in meta and "<version>1.1.0</version>" in meta
        if served == "uploaded":  # our own file: latest/release by Maven's order
            assert "<latest>1.1.0</latest>" in meta and "<release>1.1.0</release>" in meta
        settings = tmp_path / "settings.xml"
        settings.write_text(SETTINGS.format(local=tmp_path / "m2", token=token))
        project = tmp_path / "consumer"
        project.mkdir()
        (project / "pom.xml").write_text(CONSUMER.format(url=url))
        out = subprocess.run(
            ["mvn", "-B", "-c", "-s", str(settings),
             "org.apache.maven.plugins:maven-dependency-plugin:3.5.0:copy-dependencies",
             f"-DoutputDirectory={tmp_path / 'libs'}"],
            cwd=project, capture_output=True, text=True, timeout=180,
            env={**os.environ, "MAVEN_OPTS": ""})
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        assert sorted(p.name for p in (tmp_path / "libs").iterdir()) == ["greeter-1.1.0.jar"]
    finally:
        stop_sandbox(sb)
