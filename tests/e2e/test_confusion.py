"""Dependency confusion, end to end on the real sandbox process.

A test seed: the demo seed plus an internal npm package `@acme/utils` 1.0.0 (packed by `npm
pack`) whose name the "public" registry behind the sandbox's external connection also offers,
as 9.9.9 only; and the internal PyPI package `jaraco.classes` 3.3.1 whose 3.4.0 is public
only. `target init` builds team repositories whose upstream chains reach the connections;
`plan` lists both names as collisions (read-only: nothing lands in the team repositories);
after `run`, `report` lists both with what protects them, both packages are upstream=BLOCK
in their team repository (`@acme/utils` also covered by the `@acme/*` package group), and
asking the team repository for the public-only versions is refused. Each test runs twice:
against the sandbox's built-in public registry, and with Verdaccio and pypiserver on loopback
behind the external connections.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import boto3
import httpx
import pytest

from migrator.crashpoints import CRASH_ENV

from .conftest import SEED, RunningSandbox, start_sandbox, stop_sandbox
from .public_registries import start_public_registries

pytestmark = pytest.mark.e2e

TOPOLOGY = """
[[target.repositories]]
name = "npm-store"
external_connection = "public:npmjs"

[[target.repositories]]
name = "pypi-store"
external_connection = "public:pypi"

[[target.repositories]]
name = "team-npm"
upstreams = ["npm-store"]

[[target.repositories]]
name = "team-pypi"
upstreams = ["pypi-store"]

[[namespaces]]
format = "npm"
pattern = "@acme/*"

[[repositories]]
source = "npm-internal"
target = "team-npm"

[[repositories]]
source = "pypi-internal"
target = "team-pypi"

[options]
rate_budget = 90
"""


def npm_pack(work: Path, version: str, note: str) -> Path:
    """A real npm tarball of @acme/utils, made by `npm pack`."""
    src = work / f"utils-{version}"
    src.mkdir(parents=True)
    (src / "package.json").write_text(json.dumps(
        {"name": "@acme/utils", "version": version, "description": note, "main": "index.js",
         "license": "MIT"}))
    (src / "index.js").write_text(f"module.exports = {json.dumps(note)};\n")
    out = subprocess.run(["npm", "pack", "--json", "--pack-destination", str(work),
                          "--cache", str(work / "npm-cache")], cwd=src, capture_output=True,
                         text=True, timeout=120, check=True)
    return work / json.loads(out.stdout)[0]["filename"]


@pytest.fixture(params=["sandbox", pytest.param("loopback", marks=pytest.mark.realserver)])
def confusion_sandbox(request, tmp_path):
    """The sandbox whose external connections reach its built-in public registry, or
    (`loopback`) real registries on loopback: Verdaccio and pypiserver holding the same
    public packages (tests/e2e/public_registries.py)."""
    if shutil.which("npm") is None:
        pytest.fail("npm is not installed: run scripts/deps/node.sh (make test installs it)")
    seed = tmp_path / "seed"
    shutil.copytree(SEED, seed)
    internal = seed / "npm-internal" / "@acme" / "utils" / "-"
    public = seed / "npm-proxy" / "@acme" / "utils" / "-"
    internal.mkdir(parents=True)
    public.mkdir(parents=True)
    shutil.move(npm_pack(tmp_path / "pack", "1.0.0", "internal"), internal / "utils-1.0.0.tgz")
    shutil.move(npm_pack(tmp_path / "pack", "9.9.9", "public"), public / "utils-9.9.9.tgz")
    # jaraco.classes 3.4.0 exists only in the public registry; 3.3.1 stays internal.
    shutil.move(seed / "pypi-internal/packages/jaraco-classes/3.4.0",
                seed / "pypi-proxy/packages/jaraco-classes/3.4.0")
    regs = start_public_registries(tmp_path / "public", seed) \
        if request.param == "loopback" else None
    try:
        sb = start_sandbox(tmp_path, *(regs.connections() if regs else ()), seed=seed)
        try:
            yield sb
        finally:
            stop_sandbox(sb)
    finally:
        if regs is not None:
            regs.stop()


def manifest(sb: RunningSandbox) -> Path:
    text = sb.manifest.read_text().replace('domain = "demo"', 'domain = "acme"')
    head = text.split("\n[[repositories]]", 1)[0]
    path = sb.workdir / "acme.toml"
    path.write_text(head + "\n" + TOPOLOGY)
    return path


def test_internal_names_that_are_also_public_are_found_and_blocked(confusion_sandbox):
    sb = confusion_sandbox
    m = manifest(sb)
    ca = sb.info["codeartifact"]
    boto = boto3.client("codeartifact", endpoint_url=ca["endpoint_url"], region_name=ca["region"],
                        aws_access_key_id=sb.env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=sb.env["AWS_SECRET_ACCESS_KEY"])
    init = sb.migrator("target", "init", str(m))
    assert init.returncode == 0, init.stdout + init.stderr

    plan = sb.migrator("plan", str(m), "--json")
    assert plan.returncode == 0, plan.stderr
    found = json.loads(plan.stdout)["dependency_confusion"]
    by_name = {f["display"]: f for f in found["findings"]}
    assert set(by_name) == {"@acme/utils", "jaraco-classes"}, found
    assert by_name["@acme/utils"]["public_versions"] == ["9.9.9"]
    assert by_name["@acme/utils"]["connection"] == "public:npmjs"
    assert "package group /npm/acme/*" in by_name["@acme/utils"]["protection"]
    assert by_name["jaraco-classes"]["public_versions"] == ["3.4.0"]
    assert "upstream=BLOCK" in by_name["jaraco-classes"]["protection"]
    # The check read metadata only: nothing was stored in the team repositories.
    for repo in ("team-npm", "team-pypi"):
        assert boto.list_packages(domain="acme", repository=repo)["packages"] == []

    run = sb.migrator("run", str(m), timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr

    report = sb.migrator("report", str(m))
    assert report.returncode == 0, report.stderr
    text = report.stdout
    assert "dependency-confusion findings (2):" in text
    assert "@acme/utils (npm, team-npm): also in public:npmjs" in text
    assert "jaraco-classes (pypi, team-pypi): also in public:pypi" in text
    html = sb.migrator("report", str(m), "--format", "html", "--out", "r.html")
    assert html.returncode == 0, html.stderr
    page = (sb.workdir / "r.html").read_text()
    assert "Dependency-confusion findings (2)" in page
    assert "<td>@acme/utils</td>" in page and "<td>jaraco-classes</td>" in page
    data = json.loads(sb.migrator("report", str(m), "--format", "json").stdout)
    assert {f["display"] for f in data["dependency_confusion"]} == \
        {"@acme/utils", "jaraco-classes"}

    # origin configuration was written for the two public names only (before their first
    # publish); every other internal package has it from its first publish
    log = httpx.get(sb.info["codeartifact"]["requests_url"]).json()["entries"]
    configured = [e for e in log if e["operation"] == "PutPackageOriginConfiguration"]
    assert len(configured) == 2, configured
    for p in boto.list_packages(domain="acme", repository="team-npm")["packages"] + \
            boto.list_packages(domain="acme", repository="team-pypi")["packages"]:
        assert p["originConfiguration"]["restrictions"] == {"publish": "ALLOW",
                                                           "upstream": "BLOCK"}, p
    for fmt, ns, name, repo in (("npm", "acme", "utils", "team-npm"),
                                ("pypi", None, "jaraco-classes", "team-pypi")):
        kw = {"namespace": ns} if ns else {}
        pkg = boto.describe_package(domain="acme", repository=repo, format=fmt, package=name,
                                    **kw)["package"]
        assert pkg["originConfiguration"]["restrictions"] == {"publish": "ALLOW",
                                                             "upstream": "BLOCK"}
    group = boto.get_associated_package_group(domain="acme", format="npm", namespace="acme",
                                              package="utils")["packageGroup"]
    assert group["pattern"] == "/npm/acme/*"
    assert group["originConfiguration"]["restrictions"]["EXTERNAL_UPSTREAM"]["mode"] == "BLOCK"

    # A build asking the team repositories for the public-only versions is refused.
    token = boto.get_authorization_token(domain="acme")["authorizationToken"]
    auth = {"Authorization": f"Bearer {token}"}
    npm = boto.get_repository_endpoint(domain="acme", repository="team-npm",
                                       format="npm")["repositoryEndpoint"]
    with httpx.Client(headers=auth, timeout=30) as http:
        packument = http.get(npm + "@acme%2futils").json()
        assert sorted(packument["versions"]) == ["1.0.0"]
        assert http.get(npm + "@acme/utils/-/utils-9.9.9.tgz").status_code == 404
        assert http.get(npm + "@acme/utils/-/utils-1.0.0.tgz").status_code == 200
    pypi = boto.get_repository_endpoint(domain="acme", repository="team-pypi",
                                        format="pypi")["repositoryEndpoint"]
    with httpx.Client(auth=("aws", token), timeout=30, follow_redirects=True) as http:
        page = http.get(pypi + "simple/jaraco-classes/").text
        assert "jaraco.classes-3.3.1" in page and "3.4.0" not in page
        public_page = http.get(
            boto.get_repository_endpoint(domain="acme", repository="pypi-store",
                                         format="pypi")["repositoryEndpoint"]
            + "simple/jaraco-classes/").text
        assert "jaraco.classes-3.4.0" in public_page  # the name really is public

    # A later plan cannot see @acme/utils upstream any more (the group hides it), but the
    # finding stays, and the plan says why it was not looked up.
    again = json.loads(sb.migrator("plan", str(m), "--json").stdout)["dependency_confusion"]
    assert {f["display"] for f in again["findings"]} == {"@acme/utils", "jaraco-classes"}
    assert [c["display"] for c in again["covered"]] == ["@acme/utils"]


def test_the_plan_orders_a_prewarm_of_an_internal_name_first(confusion_sandbox):
    """The proxy caches hold public versions of both internal names; pre-warming them through
    the same team repositories is asked for too."""
    sb = confusion_sandbox
    m = manifest(sb)
    m.write_text(m.read_text().replace("[options]", """[[repositories]]
source = "npm-proxy"
target = "team-npm"
mode = "prewarm"

[[repositories]]
source = "pypi-proxy"
target = "team-pypi"
mode = "prewarm"

[options]"""))
    assert sb.migrator("target", "init", str(m)).returncode == 0
    plan = sb.migrator("plan", str(m))
    assert plan.returncode == 0, plan.stderr
    assert ("order: jaraco-classes in team-pypi: pre-warm its public versions first, then "
            "publish the internal ones") in plan.stdout
    assert ("order: @acme/utils in team-npm: cannot be pre-warmed: package group /npm/acme/* "
            "blocks external upstreams") in plan.stdout

    # The run acts on that order: jaraco-classes 3.4.0 is pre-warmed through team-pypi before
    # 3.3.1 is published there; @acme/utils 9.9.9 is refused (the group), with the reason.
    run = sb.migrator("run", str(m), timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr  # the refused pre-warm is a problem
    assert "pre-warm first: jaraco-classes in team-pypi" in run.stderr
    assert ("@acme/utils in team-npm: cannot be pre-warmed: package group /npm/acme/*"
            in run.stderr)
    db = sqlite3.connect(sb.workdir / "state" / "acme.sqlite")
    rows = {(r, p, v): (s, why, t) for r, p, v, s, why, t in db.execute(
        "SELECT r.source, v.package, v.version, v.status, v.reason, v.updated_at FROM versions"
        " v JOIN repositories r ON r.id = v.repository_id WHERE v.package IN "
        "('jaraco-classes', 'jaraco.classes', 'utils')")}
    db.close()
    internal = rows[("pypi-internal", "jaraco-classes", "3.3.1")]
    public = rows[("pypi-proxy", "jaraco-classes", "3.4.0")]
    assert internal[0] == "verified" and public[0] == "ingested", rows
    assert public[2] < internal[2]  # ingested (final) before the internal one was verified
    assert rows[("npm-internal", "utils", "1.0.0")][0] == "verified"
    blocked = rows[("npm-proxy", "utils", "9.9.9")]
    assert blocked[0] == "blocked_by_origin_control" and blocked[1], rows
    ca = sb.info["codeartifact"]
    boto = boto3.client("codeartifact", endpoint_url=ca["endpoint_url"], region_name=ca["region"],
                        aws_access_key_id=sb.env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=sb.env["AWS_SECRET_ACCESS_KEY"])
    origins = {v["version"]: v["origin"]["originType"] for v in boto.list_package_versions(
        domain="acme", repository="team-pypi", format="pypi",
        package="jaraco-classes")["versions"]}
    assert origins == {"3.3.1": "INTERNAL", "3.4.0": "EXTERNAL"}
    pkg = boto.describe_package(domain="acme", repository="team-pypi", format="pypi",
                                package="jaraco-classes")["package"]
    # the internal name is protected from now on; the ingested public version stays
    assert pkg["originConfiguration"]["restrictions"] == {"publish": "ALLOW",
                                                         "upstream": "BLOCK"}


PREWARM_MAPPINGS = """[[repositories]]
source = "npm-proxy"
target = "team-npm"
mode = "prewarm"

[[repositories]]
source = "pypi-proxy"
target = "team-pypi"
mode = "prewarm"

[options]"""


def test_kill_9_in_the_prewarm_pass_publishes_nothing_and_a_rerun_ends_the_same(
        confusion_sandbox):
    sb = confusion_sandbox
    m = manifest(sb)
    m.write_text(m.read_text().replace("[options]", PREWARM_MAPPINGS))
    assert sb.migrator("target", "init", str(m)).returncode == 0
    # killed right after the first pre-warm GET, before it is recorded
    killed = sb.migrator("--no-progress", "run", str(m), env={**sb.env, CRASH_ENV: "requested:1"},
                         timeout=300)
    assert killed.returncode == -9, killed.stdout + killed.stderr
    state = sb.workdir / "state" / "acme.sqlite"
    db = sqlite3.connect(state)
    started = db.execute(
        "SELECT count(*) FROM versions v JOIN repositories r ON r.id = v.repository_id WHERE "
        "r.mode = 'copy' AND r.format = 'pypi' AND (v.status != 'discovered' OR v.attempts > 0)"
    ).fetchone()[0]
    db.close()
    assert started == 0  # no internal PyPI version was touched while the pre-warm ran
    again = sb.migrator("--no-progress", "run", str(m), timeout=300)
    assert again.returncode == 1, again.stdout + again.stderr  # only @acme/utils 9.9.9 refused
    db = sqlite3.connect(state)
    statuses = dict(((r, v), s) for r, v, s in db.execute(
        "SELECT r.source, v.version, v.status FROM versions v JOIN repositories r ON r.id = "
        "v.repository_id WHERE v.package IN ('jaraco-classes', 'utils')"))
    db.close()
    assert statuses == {("pypi-internal", "3.3.1"): "verified",
                        ("pypi-proxy", "3.4.0"): "ingested",
                        ("npm-internal", "1.0.0"): "verified",
                        ("npm-proxy", "9.9.9"): "blocked_by_origin_control"}
