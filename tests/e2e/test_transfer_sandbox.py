"""The demo seed migrated end to end into the CodeArtifact sandbox, then installed from it
by real clients: pip (wheel and sdist), npm (scoped, with the source's dist-tags), mvn (a
classifier). Run again: nothing more is written. `verify` finds no drift."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from .conftest import SEED, start_sandbox, stop_sandbox
from .transfer_helpers import (
    DEMO_WRITE_OPERATIONS,
    asset_statuses,
    engine,
    isolated_pip_env,
    publish_writes,
    request_log,
    seed_with_local_sdist,
    state_rows,
    summary,
    token_and_endpoint,
    write_log,
)

pytestmark = pytest.mark.e2e

COPY_DONE = {"verified"}
PREWARM_DONE = {"ingested"}


def check_all_done(sb) -> dict:
    statuses = asset_statuses(sb.workdir)
    modes = dict(state_rows(sb.workdir, "SELECT source, mode FROM repositories"))
    wanted = {k: s for k, s in statuses.items() if s != "excluded"}
    assert wanted, "nothing was migrated"
    for (repo, path), s in wanted.items():
        expected = COPY_DONE if modes[repo] == "copy" else PREWARM_DONE
        assert s in expected, f"{repo}/{path} is {s}"
    return wanted


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    """The Nexus demo seed migrated once; shared by the checks below."""
    work = tmp_path_factory.mktemp("nexus")
    sb = start_sandbox(work, seed=seed_with_local_sdist(tmp_path_factory.mktemp("seed")))
    try:
        r = engine(sb, "run", "demo.toml", "--json", "--no-progress")
        assert r.returncode == 0, r.stderr
        yield sb, summary(r)
    finally:
        stop_sandbox(sb)


def test_nexus_demo_seed_everything_verified_each_asset_published_once(migrated):
    sb, result = migrated
    wanted = check_all_done(sb)
    copied = [k for k in wanted if k[0] in ("maven-releases", "maven-snapshots",
                                            "npm-internal", "pypi-internal", "raw-files")]
    assert len(copied) == result["assets"]["verified"]
    assert sum(result["assets"].values()) == result["planned_assets"]
    writes = publish_writes(sb)
    assert len(writes) == len(copied), writes
    assert set(writes.values()) == {1}, {k: n for k, n in writes.items() if n != 1}
    # the source's dist-tags and deprecations are back on the target
    tags = result["finalize"]["npm-internal/@types/ms"]["set"]
    assert tags == {"latest": "0.7.34", "next": "2.1.0"}
    assert result["finalize"]["npm-internal/left-pad"]["deprecated"]


def test_run_again_writes_nothing_and_verify_finds_no_drift(migrated):
    sb, _ = migrated
    before = write_log(sb)
    # the probe sees this sandbox's writes: the first run's log holds every kind of them
    assert {e["operation"] for e in before} >= DEMO_WRITE_OPERATIONS, before
    again = engine(sb, "run", "demo.toml", "--json", "--no-progress")
    assert again.returncode == 0, again.stderr
    assert write_log(sb) == before  # not one write request more, of any operation
    r = engine(sb, "verify", "demo.toml", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["drift"] == [] and report["assets"] == summary(again)["assets"]["verified"]
    assert write_log(sb) == before  # verify only reads


def run(cmd, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, **kw)
    assert proc.returncode == 0, f"{cmd[:3]} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_pip_installs_a_migrated_wheel_and_downloads_a_migrated_sdist(migrated, tmp_path):
    sb, _ = migrated
    token, url = token_and_endpoint(sb, "pypi-internal", "pypi")
    index = url.replace("http://", f"http://aws:{token}@") + "simple/"
    pip = [sys.executable, "-m", "pip", "--isolated"]
    env = isolated_pip_env()
    run([*pip, "install", "--no-cache-dir", "--no-deps", "--only-binary", ":all:",
         "--index-url", index, "--target", str(tmp_path / "site"), "typing_extensions==4.12.2"],
        env=env)
    said = run([sys.executable, "-c", "import typing_extensions, sys; "
                "print(typing_extensions.__file__)"],
               env={**env, "PYTHONPATH": str(tmp_path / "site")})
    assert str(tmp_path / "site") in said.stdout
    run([*pip, "download", "--no-cache-dir", "--no-deps", "--no-binary", ":all:",
         "--index-url", index, "-d", str(tmp_path / "sdist"),
         "acme-hello==1.0.0"], env=env)
    seed = next((sb.workdir.parent / "seed0" / "seed" / "pypi-internal" / "packages" /
                 "acme-hello" / "1.0.0").glob("*.tar.gz"))
    assert (tmp_path / "sdist" / seed.name).read_bytes() == seed.read_bytes()


def test_npm_installs_a_migrated_scoped_package_with_the_source_dist_tags(migrated, tmp_path):
    sb, _ = migrated
    token, registry = token_and_endpoint(sb, "npm-internal", "npm")
    npmrc = tmp_path / "npmrc"
    npmrc.write_text(f"//{registry.split('://', 1)[1]}:_authToken={token}\n")
    common = ["--registry", registry, "--userconfig", str(npmrc), "--no-audit", "--no-fund",
              "--cache", str(tmp_path / "cache")]
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / "package.json").write_text('{"name": "c", "version": "1.0.0", "private": true}')
    run(["npm", "install", *common, "@types/ms@0.7.34"], cwd=consumer)
    installed = json.loads((consumer / "node_modules/@types/ms/package.json").read_text())
    assert installed["version"] == "0.7.34"
    view = run(["npm", "view", *common, "@types/ms", "dist-tags", "--json"], cwd=consumer)
    assert json.loads(view.stdout) == {"latest": "0.7.34", "next": "2.1.0"}


SETTINGS = """<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
  <localRepository>{local}</localRepository>
  <mirrors><mirror><id>debian-system-repo</id><mirrorOf>central</mirrorOf>
    <url>file:///usr/share/maven-repo</url></mirror></mirrors>
  <servers><server><id>ca</id><username>aws</username><password>{token}</password></server>
  </servers>
</settings>
"""


def test_mvn_gets_a_migrated_artifact_with_a_classifier(migrated, tmp_path):
    sb, _ = migrated
    token, url = token_and_endpoint(sb, "maven-releases", "maven")
    settings = tmp_path / "settings.xml"
    settings.write_text(SETTINGS.format(local=tmp_path / "m2", token=token))
    run(["mvn", "-B", "-q", "-c", "-s", str(settings),
         "org.apache.maven.plugins:maven-dependency-plugin:3.5.0:get",
         "-Dartifact=com.acme:greeter:1.1.0:jar:sources",
         f"-DremoteRepositories=ca::default::{url}", "-Dtransitive=false"])
    name = "com/acme/greeter/1.1.0/greeter-1.1.0-sources.jar"
    got = tmp_path / "m2" / name
    assert got.read_bytes() == (SEED / "maven-releases" / name).read_bytes()


def test_artifactory_demo_seed_everything_verified(tmp_path):
    sb = start_sandbox(tmp_path, "--manifest-source", "artifactory")
    try:
        r = engine(sb, "run", "demo.toml", "--json", "--no-progress")
        assert r.returncode == 0, r.stdout + r.stderr
        check_all_done(sb)
        assert set(publish_writes(sb).values()) == {1}
    finally:
        stop_sandbox(sb)


# Longer than the client's completion wait (CodeArtifactClient visibility_waits: 0.25 + 0.5 +
# 1 + 2 s), so the Maven and generic completion cannot see the versions it has just published.
LONG_PUBLISH_DELAY = 5.0


def test_read_lag_longer_than_the_completion_wait_still_ends_verified(tmp_path):
    """Every end-to-end run has a publish delay (conftest.PUBLISH_DELAY); here it outlasts the
    completion wait: complete_version sees nothing, gives the version to verification, whose
    polling (with back-off) waits the lag out, and every asset still ends verified, each
    published once."""
    sb = start_sandbox(tmp_path, "--publish-delay", str(LONG_PUBLISH_DELAY))
    try:
        r = engine(sb, "run", "demo.toml", "--json", "--no-progress")
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        check_all_done(sb)
        result = summary(r)
        entries = httpx.get(sb.info["codeartifact"]["requests_url"]).json()["entries"]
        describes = [e["status"] for e in entries if e["operation"] == "DescribePackageVersion"]
        completing = state_rows(sb.workdir, "SELECT count(*) FROM versions v JOIN repositories "
                                "r ON r.id = v.repository_id WHERE r.mode = 'copy' AND "
                                "v.status = 'verified' AND r.source = 'maven-snapshots'")[0][0]
        # the completion wait (5 looks) ran out for every SNAPSHOT build, whose status decides
        # what happens next (a release's is left to the verification) ...
        assert completing and describes.count(404) >= 5 * completing, \
            (describes.count(404), completing)
        # ... and verification polled on until the versions showed (check_all_done: every
        # one verified; a version's status comes from its own DescribePackageVersion, or from
        # one ListPackageVersions for several versions of a package): no describe found a
        # version before the lag had passed since the first publish
        publishing = {"PutAsset", "Upload", "PublishPackageVersion"}
        first_publish = min(e["time"] for e in entries if e["write"] and 200 <= e["status"] < 300
                            and (e["operation"] or "").rsplit(":", 1)[-1] in publishing)
        found = [e["time"] for e in entries
                 if e["status"] == 200 and e["operation"] == "DescribePackageVersion"]
        assert found and min(found) >= first_publish + LONG_PUBLISH_DELAY - 0.1
        assert result["versions"]["verified"] > 0
        assert set(publish_writes(sb).values()) == {1}
    finally:
        stop_sandbox(sb)


def test_migrated_internal_packages_block_upstream(migrated):
    """origin_control = block-upstream (the default): every package migrated by copy ends
    with publish ALLOW, upstream BLOCK, so the internal name never resolves from a public
    registry. A name the dependency-confusion check found public gets it written before its
    first publish (nothing can be ingested under it in between); the others get it from
    CodeArtifact's default for a package created by a direct publish, without a write."""
    import json

    import boto3

    sb, _ = migrated
    packages = state_rows(sb.workdir, "SELECT DISTINCT r.target, r.format, v.namespace, "
                          "v.package FROM versions v JOIN repositories r ON r.id = "
                          "v.repository_id WHERE r.mode = 'copy' AND v.status = 'verified'")
    [(findings,)] = state_rows(sb.workdir, "SELECT value FROM meta WHERE key = ?",
                               ("confusion.findings",))
    public = {(f["repository"], f["format"], f["namespace"] or "", f["package"])
              for f in json.loads(findings)}
    public_migrated = {p for p in public
                       if p in {(r, f, ns or "", n) for r, f, ns, n in packages}}
    # none in the demo (tests/e2e/test_confusion.py has public ones): not one write
    calls = request_log(sb)["by_operation"].get("PutPackageOriginConfiguration", 0)
    assert calls == len(public_migrated) == 0 and packages
    ca = sb.info["codeartifact"]
    client = boto3.client("codeartifact", endpoint_url=ca["endpoint_url"],
                          region_name=ca["region"],
                          aws_access_key_id=sb.info["env"]["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=sb.info["env"]["AWS_SECRET_ACCESS_KEY"])
    for repo, fmt, namespace, package in packages:
        kw = {"namespace": namespace} if namespace else {}
        desc = client.describe_package(domain=ca["domain"], domainOwner=ca["domain_owner"],
                                       repository=repo, format=fmt, package=package, **kw)
        restrictions = desc["package"]["originConfiguration"]["restrictions"]
        assert restrictions == {"publish": "ALLOW", "upstream": "BLOCK"}, (repo, package)
