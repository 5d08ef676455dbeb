"""`migrator prewarm` end to end: the real CLI against the sandbox, whose external connections
are backed by real registries on loopback (Verdaccio, pypiserver, an nginx Maven directory;
tests/e2e/public_registries.py). The proxy caches of the demo seed go to their mapped
repositories, the sample lockfiles' packages to a team repository whose upstreams are the
repositories that own the external connections; then real pip, npm, pnpm and mvn install the
pre-warmed packages through the team repository.
"""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from migrator.lockfiles import read_lockfiles

from .conftest import start_sandbox, stop_sandbox
from .public_registries import PNPM, need, run, start_public_registries
from .transfer_helpers import codeartifact, isolated_pip_env, state_rows, summary

pytestmark = [pytest.mark.e2e, pytest.mark.realserver]

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "sample-manifests" / "lockfiles"
LOCKFILES = [LOCKS / p for p in (
    "npm/package-lock.json", "pnpm/pnpm-lock.yaml", "yarn-classic/yarn.lock",
    "yarn-berry/yarn.lock", "python/requirements.txt", "python/poetry.lock", "python/uv.lock",
    "python/pylock.toml", "maven/dependency-list.txt", "maven/gradle.lockfile")]
# lockfile entries that are the organisation's own packages in the demo seed (copy mode)
INTERNAL = {"com.acme:greeter:1.1.0", "is-number@7.0.0", "typing-extensions==4.12.2"}
STORES = ("npm-store", "pypi-store", "maven-central-store")
PREWARM = """
[prewarm]
[prewarm.targets]
npm = "team"
pypi = "team"
maven = "team"
"""
# ingestion shows in DescribePackageVersion only after this delay (AWS: about 3 minutes)
INGEST_DELAY = "1.0"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("prewarm")
    regs = start_public_registries(home / "public")
    sb = None
    try:
        work = home / "work"
        work.mkdir()
        sb = start_sandbox(work, "--ingest-delay", INGEST_DELAY, *regs.connections())
        client = codeartifact(sb)
        domain = sb.info["codeartifact"]["domain"]
        for name in ("team", "team-blocked"):
            client.create_repository(domain=domain, repository=name,
                                     upstreams=[{"repositoryName": s} for s in STORES])
        # an internal name published first sets upstream=BLOCK (the ordering trap): here
        # set on purpose, so the public `ms` can never come through this repository
        client.put_package_origin_configuration(
            domain=domain, repository="team-blocked", format="npm", package="ms",
            restrictions={"publish": "ALLOW", "upstream": "BLOCK"})
        sb.manifest.write_text(sb.manifest.read_text() + PREWARM)
        yield sb
    finally:
        if sb is not None:
            stop_sandbox(sb)
        regs.stop()


def versions_in(sb, repository: str) -> dict[tuple[str, str, str, str], str]:
    """(format, namespace, package, version) → origin of every version in a repository."""
    client = codeartifact(sb)
    domain = sb.info["codeartifact"]["domain"]
    out = {}
    for page in client.get_paginator("list_packages").paginate(domain=domain,
                                                               repository=repository):
        for p in page["packages"]:
            ns = p.get("namespace", "")
            for vp in client.get_paginator("list_package_versions").paginate(
                    domain=domain, repository=repository, format=p["format"],
                    package=p["package"], **({"namespace": ns} if ns else {})):
                for v in vp["versions"]:
                    out[(p["format"], ns, p["package"], v["version"])] = \
                        v["origin"]["originType"]
    return out


@pytest.fixture(scope="module")
def prewarmed(world):
    """`migrator prewarm --dry-run`, then `migrator prewarm`, of every sample lockfile (once
    for the module: the client tests install what it pre-warmed)."""
    args = [str(p) for p in LOCKFILES]
    dry = world.migrator("--no-progress", "prewarm", str(world.manifest), *args, "--dry-run",
                         "--json")
    recorded_by_dry_run = state_rows(world.workdir, "SELECT id FROM repositories WHERE "
                                     "source LIKE 'lockfiles:%'")
    proc = world.migrator("--no-progress", "prewarm", str(world.manifest), *args, "--json")
    return dry, recorded_by_dry_run, proc


def test_prewarm_dry_run_then_every_cached_and_locked_package_is_external(world, prewarmed):
    dry, recorded_by_dry_run, proc = prewarmed
    assert dry.returncode == 0, dry.stderr
    planned = summary(dry)
    assert planned["dry_run"] and planned["run"] is None
    assert set(planned["lockfiles"]["internal"]) == INTERNAL
    assert planned["lockfiles"]["requests"]["total"] > 0
    assert not recorded_by_dry_run  # a dry run records nothing

    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = summary(proc)
    assert set(out["lockfiles"]["internal"]) == INTERNAL
    # every item ended ingested, except the internal names (excluded, never requested)
    assets = out["run"]["assets"]
    assert set(assets) == {"ingested", "excluded"}, assets
    excluded = state_rows(world.workdir, "SELECT a.path, a.reason FROM assets a JOIN "
                          "repositories r ON r.id = a.repository_id WHERE a.status = "
                          "'excluded' AND r.source LIKE 'lockfiles:%'")
    assert excluded and all("internal package" in reason for _, reason in excluded)

    team = versions_in(world, "team")
    locked = [p for p in read_lockfiles(LOCKFILES) if p.display not in INTERNAL]
    for p in locked:
        key = (str(p.format), p.namespace, p.name, p.version)
        assert team.get(key) == "EXTERNAL", (p.display, sorted(team))
    # the internal names were not fetched from the public registries into the team repo
    assert not {k for k in team if k[2] in ("greeter", "is-number", "typing-extensions")}
    # every version of every proxy cache went to its own repository, EXTERNAL too
    cached = state_rows(world.workdir, "SELECT r.target, v.format, v.namespace, v.package, "
                        "v.version FROM versions v JOIN repositories r ON r.id = "
                        "v.repository_id WHERE r.mode = 'prewarm' AND r.source NOT LIKE "
                        "'lockfiles:%' AND v.status != 'excluded'")
    assert len(cached) >= 4
    targets = {t: versions_in(world, t) for t in {row[0] for row in cached}}
    for target, fmt, ns, name, version in cached:
        key = (fmt, ns or "", canonicalize_name(name) if fmt == "pypi" else name, version)
        assert targets[target].get(key) == "EXTERNAL", (target, key, sorted(targets[target]))
    for repo, key in (("npm-proxy", ("npm", "", "ms", "2.0.0")),
                      ("npm-proxy", ("npm", "isaacs", "string-locale-compare", "1.1.0")),
                      ("pypi-proxy", ("pypi", "", "six", "1.16.0")),
                      ("maven-central", ("maven", "commons-cli", "commons-cli", "1.5.0"))):
        assert versions_in(world, repo).get(key) == "EXTERNAL", (repo, key)

    # CodeArtifact's hashes are the pinned ones (the engine compared them; spot-check one)
    client = codeartifact(world)
    assets = client.list_package_version_assets(
        domain="demo", repository="team", format="npm", package="ms",
        packageVersion="2.1.2")["assets"]
    pinned = next(p for p in locked if p.name == "ms" and p.version == "2.1.2")
    assert assets[0]["hashes"]["SHA-512"].lower() == pinned.hashes["sha512"]

    # the state's totals add up (report refuses otherwise) and the ingested items re-check
    report = world.migrator("report", str(world.manifest), "--format", "json")
    assert report.returncode == 0, report.stderr
    assert summary(report)["outcomes"]["problems"] == 0
    verify = world.migrator("--no-progress", "verify", str(world.manifest), "--json")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def _team(world, fmt: str) -> tuple[str, str]:
    client = codeartifact(world)
    token = client.get_authorization_token(domain="demo")["authorizationToken"]
    url = client.get_repository_endpoint(domain="demo", repository="team",
                                         format=fmt)["repositoryEndpoint"]
    return token, url if url.endswith("/") else url + "/"


def test_real_clients_install_the_prewarmed_packages_through_the_team_repository(
        world, prewarmed, tmp_path):
    need(PNPM, "mvn")
    assert prewarmed[2].returncode == 0, prewarmed[2].stdout + prewarmed[2].stderr
    token, pypi = _team(world, "pypi")
    index = pypi.replace("http://", f"http://aws:{token}@") + "simple/"
    site = tmp_path / "site"
    # packaging 24.1 is only in the lockfiles (no proxy cache has it); six is in both
    run([sys.executable, "-m", "pip", "--isolated", "install", "--no-cache-dir", "--no-deps",
         "--target", str(site), "--index-url", index, "packaging==24.1", "six==1.16.0"],
        env=isolated_pip_env())
    said = run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); "
                "import packaging, six; print(packaging.__file__.startswith(sys.path[0]), "
                "packaging.__version__, six.__version__)"])
    assert said.stdout.split() == ["True", "24.1", "1.16.0"]

    token, npm = _team(world, "npm")
    npmrc = tmp_path / "npmrc"
    npmrc.write_text(f"//{npm.split('://', 1)[1]}:_authToken={token}\n")
    common = ["--registry", npm, "--userconfig", str(npmrc)]
    app = tmp_path / "web-shop"
    shutil.copytree(LOCKS / "npm", app)
    # npm ci installs exactly the lockfile (integrity checked); registry.npmjs.org in its
    # `resolved` URLs is replaced by --registry (npm's replace-registry-host default)
    run(["npm", "ci", *common, "--cache", str(tmp_path / "npm-cache"), "--no-audit",
         "--no-fund"], cwd=app)
    said = run(["node", "-e", 'console.log(require("ms")("2h"), require("legacy-debug/'
                'package.json").version, typeof require("@isaacs/string-locale-compare"))'],
               cwd=app)
    assert said.stdout.split() == ["7200000", "2.1.2", "function"]

    docs = tmp_path / "docs-site"
    shutil.copytree(LOCKS / "pnpm", docs)
    run([str(PNPM), "install", "--frozen-lockfile", "--registry", npm,
         f"--config.userconfig={npmrc}", "--store-dir", str(tmp_path / "pnpm-store")],
        cwd=docs, env={"npm_config_userconfig": str(npmrc)})
    said = run(["node", "-e", 'console.log(require("ms")("1m"))'], cwd=docs)
    assert said.stdout.strip() == "60000"

    token, maven = _team(world, "maven")
    settings = tmp_path / "settings.xml"
    settings.write_text(f"""<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
  <mirrors><mirror><id>debian-system-repo</id><mirrorOf>central</mirrorOf>
    <url>file:///usr/share/maven-repo</url></mirror></mirrors>
  <servers><server><id>team</id><username>aws</username><password>{token}</password></server>
  </servers>
</settings>
""")
    local = tmp_path / "m2"
    run(["mvn", "-B", "-q", "-c", "-s", str(settings), f"-Dmaven.repo.local={local}",
         "org.apache.maven.plugins:maven-dependency-plugin:3.5.0:get",
         "-Dartifact=commons-cli:commons-cli:1.5.0", f"-DremoteRepositories=team::default::"
         f"{maven}", "-Dtransitive=false"])
    jar = local / "commons-cli/commons-cli/1.5.0/commons-cli-1.5.0.jar"
    seed = ROOT / "migrator_sandbox/demo_seed/maven-central/commons-cli/commons-cli/1.5.0"
    assert jar.read_bytes() == (seed / jar.name).read_bytes()


def test_not_found_upstream_and_blocked_by_origin_control(world, tmp_path):
    lock = tmp_path / "package-lock.json"
    integrity = "sha512-" + base64.b64encode(b"\0" * 64).decode()
    lock.write_text(json.dumps({"lockfileVersion": 3, "packages": {
        "": {"name": "x"},
        "node_modules/ms": {"version": "2.1.3", "integrity": integrity},
        "node_modules/acme-not-public": {"version": "1.0.0"},
    }}))
    manifest = tmp_path / "blocked.toml"
    manifest.write_text(world.manifest.read_text().replace('npm = "team"',
                                                           'npm = "team-blocked"'))
    state = tmp_path / "blocked.sqlite"
    proc = world.migrator("--no-progress", "prewarm", str(manifest), str(lock), "--state",
                          str(state), "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    con = sqlite3.connect(state)
    try:
        rows = dict(con.execute("SELECT a.path, a.status || ': ' || a.reason FROM assets a "
                                "JOIN repositories r ON r.id = a.repository_id WHERE r.source "
                                "= 'lockfiles:npm'").fetchall())
    finally:
        con.close()
    assert rows["ms/-/ms-2.1.3.tgz"].startswith("blocked_by_origin_control: ")
    assert "upstream=BLOCK" in rows["ms/-/ms-2.1.3.tgz"]
    assert rows["acme-not-public/-/acme-not-public-1.0.0.tgz"].startswith(
        "not_found_upstream: ")
    totals = summary(proc)["run"]["assets"]
    assert totals["blocked_by_origin_control"] == 1 and totals["not_found_upstream"] == 1
