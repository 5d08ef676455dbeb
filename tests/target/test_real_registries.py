"""The publishers against real registries that speak the same wire protocols, each followed by
a real client install: Verdaccio (npm publish document, 409 → packument hashes, dist-tags,
deprecations; `npm install`), devpi (twine's multipart upload, identical and conflicting
re-uploads; isolated `pip download`), nginx WebDAV (Maven PUTs + metadata; `mvn
dependency:get` with Debian's plugins). Installed by scripts/deps/transfer.sh; every server
listens on 127.0.0.1 on a free port and is stopped by its PID.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from migrator.models import Format
from migrator.target import make_publisher
from migrator.target.http import StaticAuth
from migrator.target.npm import manifest_from_tarball, sort_by_publish_time
from migrator.target.registry import RegistryTarget

from .conftest import SEED, Recorder, claim

pytestmark = pytest.mark.realserver
ROOT = Path(__file__).resolve().parents[2]
VERDACCIO = ROOT / ".cache/verdaccio/node_modules/verdaccio/bin/verdaccio"
DEVPI = ROOT / ".cache/devpi-venv/bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: list[str], cwd: Path | None = None, env: dict | None = None
        ) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {})}, text=True,
                          capture_output=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stdout}\n"
                             f"{proc.stderr}")
    return proc


class Server:
    """A child process stopped by its PID; `wait_for(url)` polls until it answers."""

    def __init__(self, cmd: list[str], log: Path, cwd: Path | None = None) -> None:
        self.log = log.open("w")
        self.proc = subprocess.Popen(cmd, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_for(self, url: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}; see "
                                     f"{self.log.name}")
            try:
                if httpx.get(url, timeout=1.0).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{url} did not answer in {timeout} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, 15)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, 9)
                self.proc.wait(5)
        self.log.close()


def need(*paths: Path | str) -> None:
    for p in paths:
        if not (Path(p).exists() or shutil.which(str(p))):
            # a failure, not a skip: `make test` installs these first, so a missing one is a
            # broken setup that must not pass silently
            pytest.fail(f"{p} is not installed (run scripts/deps/transfer.sh)")


# -- Verdaccio ---------------------------------------------------------------------------------


@pytest.fixture
def verdaccio(tmp_path) -> Iterator[tuple[str, str]]:
    need(VERDACCIO, "node")
    port = free_port()
    home = tmp_path / "verdaccio"
    home.mkdir()
    (home / "config.yaml").write_text(f"""
storage: {home}/storage
auth:
  htpasswd:
    file: {home}/htpasswd
    max_users: 100
uplinks: {{}}
packages:
  '@*/*': {{access: $all, publish: $authenticated, unpublish: $authenticated}}
  '**': {{access: $all, publish: $authenticated, unpublish: $authenticated}}
listen: 127.0.0.1:{port}
max_body_size: 100mb
log: {{type: stdout, format: pretty, level: warn}}
web: {{enable: false}}
""")
    server = Server(["node", str(VERDACCIO), "--config", str(home / "config.yaml")],
                    home / "verdaccio.log", cwd=home)
    try:
        url = f"http://127.0.0.1:{port}/"
        server.wait_for(url + "-/ping")
        token = httpx.put(url + "-/user/org.couchdb.user:tester",
                          json={"name": "tester", "password": "testpass123"}).json()["token"]
        yield url, token
    finally:
        server.stop()


class Packuments:
    """`SourceMetadata` built from the seed tarballs, with the seed's dist-tags and
    deprecations (what Nexus would serve)."""

    def __init__(self, tags: dict, deprecated: dict | None = None) -> None:
        self.tags, self.deprecated = tags, deprecated or {}

    async def npm_packument(self, repository: str, name: str) -> dict:
        folder = SEED / repository / name / "-"
        versions, times = {}, {}
        for i, tgz in enumerate(sorted(folder.glob("*.tgz"))):
            manifest = manifest_from_tarball(tgz.read_bytes())
            if manifest["version"] in self.deprecated:
                manifest["deprecated"] = self.deprecated[manifest["version"]]
            versions[manifest["version"]] = manifest
            times[manifest["version"]] = f"2020-01-0{i + 1}T00:00:00.000Z"
        return {"name": name, "dist-tags": self.tags, "versions": versions, "time": times}


def test_npm_publisher_on_verdaccio_then_npm_install(verdaccio, tmp_path):
    url, token = verdaccio
    source = Packuments({"latest": "0.7.34", "next": "2.1.0"},
                        {"0.7.31": "use a newer @types/ms"})
    names = ["ms-2.1.0.tgz", "ms-0.7.31.tgz", "ms-0.7.34.tgz"]

    async def go():
        async with RegistryTarget("Verdaccio", {"npm": url},
                                  auth=StaticAuth(token=token)) as target:
            publisher = make_publisher(Format.NPM, target, source_metadata=source)
            claimed = [claim(Format.NPM, "npm-internal", [f"@types/ms/-/{n}"],
                             target_repo="npm") for n in names]
            packument = await source.npm_packument("npm-internal", "@types/ms")
            by_version = {v.version: (v, f) for v, f in claimed}
            ordered = sort_by_publish_time([v for v, _ in claimed], packument)
            first = Recorder()
            for v in ordered:
                await publisher.publish(v, by_version[v.version][1], first)
            tags = await publisher.restore_dist_tags("npm", "npm-internal", "@types/ms")
            again = Recorder()
            v, f = claim(Format.NPM, "npm-internal", ["@types/ms/-/ms-0.7.34.tgz"],
                         target_repo="npm")
            await publisher.publish(v, f, again)  # Verdaccio answers 409
            conflict = Recorder()
            v, f = claim(Format.NPM, "npm-internal", ["@types/ms/-/ms-0.7.34.tgz"],
                         target_repo="npm", files_from={
                             "@types/ms/-/ms-0.7.34.tgz":
                                 SEED / "npm-internal/@types/ms/-/ms-2.1.0.tgz"})
            await publisher.publish(v, f, conflict)
            return [v.version for v in ordered], first, tags, again, conflict

    order, first, tags, again, conflict = anyio.run(go)
    assert order == ["0.7.31", "0.7.34", "2.1.0"]
    assert first.outcomes() == ["published"] * 3
    assert tags.set == {"next": "2.1.0", "latest": "0.7.34"}
    assert tags.deprecated == {"0.7.31": "use a newer @types/ms"}
    assert again.outcomes() == ["skipped_identical"]
    assert conflict.outcomes() == ["conflict"] and "sha256" not in conflict.results[0].reason
    doc = httpx.get(url + "@types%2fms").json()
    assert doc["dist-tags"]["latest"] == "0.7.34" and doc["dist-tags"]["next"] == "2.1.0"
    assert doc["versions"]["0.7.31"]["deprecated"] == "use a newer @types/ms"
    tgz = (SEED / "npm-internal/@types/ms/-/ms-0.7.34.tgz").read_bytes()
    assert doc["versions"]["0.7.34"]["dist"]["shasum"] == hashlib.sha1(tgz).hexdigest()

    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / "package.json").write_text('{"name":"consumer","version":"1.0.0",'
                                           '"private":true}')
    (consumer / ".npmrc").write_text("")
    run(["npm", "install", "--registry", url, "--cache", str(tmp_path / "npm-cache"),
         "--userconfig", str(consumer / ".npmrc"), "--no-audit", "--no-fund",
         "@types/ms@0.7.34"], cwd=consumer)
    installed = json.loads((consumer / "node_modules/@types/ms/package.json").read_text())
    assert installed["version"] == "0.7.34"


# -- devpi ---------------------------------------------------------------------------------------


@pytest.fixture
def devpi(tmp_path) -> Iterator[str]:
    need(DEVPI / "devpi-server", DEVPI / "devpi-init", DEVPI / "devpi")
    port = free_port()
    serverdir = tmp_path / "devpi-server"
    run([str(DEVPI / "devpi-init"), "--serverdir", str(serverdir), "--no-root-pypi",
         "--root-passwd", "rootpw"])
    server = Server([str(DEVPI / "devpi-server"), "--serverdir", str(serverdir), "--host",
                     "127.0.0.1", "--port", str(port), "--offline-mode"],
                    tmp_path / "devpi.log")
    try:
        url = f"http://127.0.0.1:{port}"
        server.wait_for(url + "/+api", timeout=60)
        env = {"DEVPI_CLIENTDIR": str(tmp_path / "devpi-client")}
        devpi_cmd = str(DEVPI / "devpi")
        run([devpi_cmd, "use", url], env=env)
        run([devpi_cmd, "user", "-c", "alice", "password=alicepw", "email=a@x"], env=env)
        run([devpi_cmd, "login", "alice", "--password", "alicepw"], env=env)
        run([devpi_cmd, "index", "-c", "dev", "bases=", "volatile=False"], env=env)
        yield url + "/alice/dev/"
    finally:
        server.stop()


def _changed_wheel(original: Path, out: Path) -> Path:
    import zipfile

    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(original) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        dst.writestr("jaraco/changed.txt", "other bytes\n")
    return out


def test_pypi_publisher_on_devpi_then_pip_download(devpi, tmp_path):
    rel = "packages/jaraco-classes/3.4.0/"
    paths = [rel + "jaraco.classes-3.4.0-py3-none-any.whl", rel + "jaraco.classes-3.4.0.tar.gz"]
    wheel = SEED / "pypi-internal" / paths[0]
    changed = _changed_wheel(wheel, tmp_path / "changed" / wheel.name)

    async def go():
        async with RegistryTarget("devpi", {"pypi": devpi}, simple_url=devpi + "+simple/",
                                  auth=StaticAuth("alice", "alicepw")) as target:
            publisher = make_publisher(Format.PYPI, target)
            first, again, conflict, conflict409 = Recorder(), Recorder(), Recorder(), Recorder()
            v, f = claim(Format.PYPI, "pypi-internal", paths, target_repo="dev")
            await publisher.publish(v, f, first)
            v, f = claim(Format.PYPI, "pypi-internal", paths, target_repo="dev")
            await publisher.publish(v, f, again)  # found on the simple page, not re-sent
            v, f = claim(Format.PYPI, "pypi-internal", paths[:1], target_repo="dev",
                         files_from={paths[0]: changed})
            await publisher.publish(v, f, conflict)
            # Without the look-up, devpi itself answers 409 for the other bytes.
            blind = make_publisher(Format.PYPI, target, check_first=False)
            await blind.publish(v, f, conflict409)
            identical = Recorder()
            v, f = claim(Format.PYPI, "pypi-internal", paths[:1], target_repo="dev")
            await blind.publish(v, f, identical)  # devpi: 200 for the same bytes
            return first, again, conflict, conflict409, identical

    first, again, conflict, conflict409, identical = anyio.run(go)
    assert first.outcomes() == ["published", "published"]
    assert again.outcomes() == ["skipped_identical", "skipped_identical"]
    ours = hashlib.sha256(changed.read_bytes()).hexdigest()
    theirs = hashlib.sha256(wheel.read_bytes()).hexdigest()
    for rec in (conflict, conflict409):
        [result] = rec.results
        assert str(result.outcome) == "conflict"
        assert ours in result.reason and theirs in result.reason
    assert identical.outcomes() == ["published"]

    out = tmp_path / "pip-out"
    run([sys.executable, "-m", "pip", "--isolated", "download", "--no-cache-dir", "--no-deps",
         "--only-binary", ":all:", "--index-url", devpi + "+simple/", "jaraco.classes==3.4.0",
         "-d", str(out)],
        env={"PIP_CONFIG_FILE": "/dev/null", "PIP_FIND_LINKS": "", "PIP_CONSTRAINT": ""})
    assert (out / wheel.name).read_bytes() == wheel.read_bytes()


# -- nginx WebDAV + mvn ------------------------------------------------------------------------


@pytest.fixture
def nginx(tmp_path) -> Iterator[tuple[str, tuple[str, str]]]:
    need("nginx", "openssl")
    port = free_port()
    home = tmp_path / "nginx"
    for sub in ("repo", "tmp", "logs", "client_body"):
        (home / sub).mkdir(parents=True)
    digest = run(["openssl", "passwd", "-apr1", "deploypw"]).stdout.strip()
    (home / "htpasswd").write_text(f"deployer:{digest}\n")
    user = "user root root;\n" if os.geteuid() == 0 else ""  # tmp_path is not nobody's
    (home / "nginx.conf").write_text(f"""{user}daemon off;
worker_processes 1;
pid {home}/nginx.pid;
error_log {home}/logs/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {home}/logs/access.log;
    client_body_temp_path {home}/client_body;
    proxy_temp_path {home}/tmp;
    fastcgi_temp_path {home}/tmp;
    uwsgi_temp_path {home}/tmp;
    scgi_temp_path {home}/tmp;
    types {{ application/java-archive jar; text/xml pom xml; text/plain sha1 md5; }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 512m;
        location /maven/ {{
            alias {home}/repo/;
            autoindex on;
            dav_methods PUT DELETE MKCOL;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
            limit_except GET HEAD {{ auth_basic "deploy";
                                     auth_basic_user_file {home}/htpasswd; }}
        }}
    }}
}}
""")
    server = Server(["nginx", "-c", str(home / "nginx.conf"), "-p", str(home) + "/"],
                    home / "logs/stdout.log")
    try:
        url = f"http://127.0.0.1:{port}/maven/"
        server.wait_for(url)
        yield url, ("deployer", "deploypw")
    finally:
        server.stop()


def test_maven_publisher_on_nginx_webdav_then_mvn_dependency_get(nginx, tmp_path):
    need("mvn", "/usr/share/maven-repo/org/apache/maven/plugins/maven-dependency-plugin/3.5.0")
    url, (user, password) = nginx
    releases = [[f"com/acme/greeter/{v}/greeter-{v}{s}" for s in (".pom", ".jar",
                                                                  "-sources.jar")]
                for v in ("1.0.0", "1.1.0")]
    jar = SEED / "maven-releases" / releases[1][1]
    changed = tmp_path / "changed" / jar.name
    changed.parent.mkdir()
    changed.write_bytes(jar.read_bytes() + b"other")

    async def go():
        async with RegistryTarget("nginx", {"maven": url},
                                  auth=StaticAuth(user, password)) as target:
            publisher = make_publisher(Format.MAVEN, target, upload_checksums=True)
            first, again, conflict = Recorder(), Recorder(), Recorder()
            for paths in releases:
                v, f = claim(Format.MAVEN, "maven-releases", paths, target_repo="releases")
                await publisher.publish(v, f, first)
            v, f = claim(Format.MAVEN, "maven-releases", releases[1], target_repo="releases")
            await publisher.publish(v, f, again)
            v, f = claim(Format.MAVEN, "maven-releases", releases[1][1:2],
                         target_repo="releases", files_from={releases[1][1]: changed})
            await publisher.publish(v, f, conflict)  # found first: nginx would overwrite
            return first, again, conflict

    first, again, conflict = anyio.run(go)
    assert first.outcomes() == ["published"] * 6
    assert again.outcomes() == ["skipped_identical"] * 3
    assert conflict.outcomes() == ["conflict"]
    meta = httpx.get(url + "com/acme/greeter/maven-metadata.xml").text
    assert "<version>1.0.0</version>" in meta and "<release>1.1.0</release>" in meta
    assert httpx.get(url + releases[1][1] + ".sha1").text == hashlib.sha1(
        jar.read_bytes()).hexdigest()
    assert httpx.get(url + releases[1][1]).content == jar.read_bytes()  # not overwritten

    settings = tmp_path / "settings.xml"
    settings.write_text("""<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
  <mirrors><mirror><id>debian</id><mirrorOf>central</mirrorOf>
    <url>file:///usr/share/maven-repo</url></mirror></mirrors>
</settings>
""")
    local = tmp_path / "m2"
    run(["mvn", "-B", "-q", "-c", "-s", str(settings), f"-Dmaven.repo.local={local}",
         "org.apache.maven.plugins:maven-dependency-plugin:3.5.0:get",
         "-Dartifact=com.acme:greeter:1.1.0", f"-DremoteRepositories=nginx::default::{url}",
         "-Dtransitive=false"])
    got = local / "com/acme/greeter/1.1.0/greeter-1.1.0.jar"
    assert got.read_bytes() == jar.read_bytes()
