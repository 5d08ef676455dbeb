"""Real registries on loopback standing in for the public ones behind CodeArtifact's external
connections: Verdaccio (npmjs), pypiserver (PyPI) and an nginx directory (Maven Central),
holding the demo seed's proxy-cached packages and the extra public files the sample
lockfiles name (.cache/prewarm-public, fetched by scripts/deps/prewarm.sh). Each listens on
127.0.0.1 on a free port and is stopped by its PID.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "migrator_sandbox" / "demo_seed"
CACHE = ROOT / ".cache"
VERDACCIO = CACHE / "verdaccio/node_modules/verdaccio/bin/verdaccio"
PYPISERVER = CACHE / "pypiserver-venv/bin/pypi-server"
PNPM = CACHE / "pnpm/node_modules/.bin/pnpm"
PUBLIC = CACHE / "prewarm-public"


def need(*paths: Path | str) -> None:
    for p in paths:
        if not (Path(p).exists() or shutil.which(str(p))):
            # a failure, not a skip: `make test` installs these first
            pytest.fail(f"{p} is not installed (run scripts/deps/prewarm.sh)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: list[str], cwd: Path | None = None, env: dict | None = None,
        check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {})}, text=True,
                          capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stdout}\n"
                             f"{proc.stderr}")
    return proc


class Server:
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
            time.sleep(0.05)  # polling for readiness, bounded by the deadline
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


@dataclass
class PublicRegistries:
    npm: str = ""
    pypi: str = ""
    maven: str = ""
    servers: list[Server] = field(default_factory=list)

    def connections(self) -> list[str]:
        return ["--external-connection", f"public:npmjs={self.npm}",
                "--external-connection", f"public:pypi={self.pypi}",
                "--external-connection", f"public:maven-central={self.maven}"]

    def stop(self) -> None:
        for s in reversed(self.servers):
            s.stop()


def npm_tarballs(seed: Path = SEED) -> list[Path]:
    """The public npm tarballs, oldest version of each package first (npm refuses to
    publish below `latest` without a tag)."""
    files = [*(seed / "npm-proxy").rglob("*.tgz"), *(PUBLIC / "npm").glob("*.tgz")]
    return sorted(files, key=_semver_key)


def start_verdaccio(home: Path, regs: PublicRegistries, seed: Path = SEED) -> None:
    port = free_port()
    home.mkdir(parents=True)
    (home / "config.yaml").write_text(f"""
storage: {home}/storage
auth:
  htpasswd:
    file: {home}/htpasswd
    max_users: 100
uplinks: {{}}
packages:
  '@*/*': {{access: $all, publish: $authenticated}}
  '**': {{access: $all, publish: $authenticated}}
listen: 127.0.0.1:{port}
max_body_size: 100mb
log: {{type: stdout, format: pretty, level: warn}}
web: {{enable: false}}
""")
    server = Server(["node", str(VERDACCIO), "--config", str(home / "config.yaml")],
                    home / "verdaccio.log", cwd=home)
    regs.servers.append(server)
    url = f"http://127.0.0.1:{port}/"
    server.wait_for(url + "-/ping")
    token = httpx.put(url + "-/user/org.couchdb.user:publisher",
                      json={"name": "publisher", "password": "publisher-pw"}).json()["token"]
    npmrc = home / "npmrc"
    npmrc.write_text(f"//127.0.0.1:{port}/:_authToken={token}\n")
    for tgz in npm_tarballs(seed):
        # `npm publish FILE.tgz` uploads the tarball's bytes unchanged
        run(["npm", "publish", str(tgz), "--registry", url, "--userconfig", str(npmrc),
             "--cache", str(home / "npm-cache"), "--access", "public", "--no-provenance",
             "--ignore-scripts"])
    regs.npm = url


def _semver_key(p: Path) -> tuple:
    base, _, version = p.name[:-4].rpartition("-")
    return (base, tuple(int(x) for x in version.split(".")))


def start_pypiserver(home: Path, regs: PublicRegistries, seed: Path = SEED) -> None:
    port = free_port()
    packages = home / "packages"
    packages.mkdir(parents=True)
    for whl in [*(seed / "pypi-proxy").rglob("*.whl"), *(PUBLIC / "pypi").glob("*.whl")]:
        shutil.copy2(whl, packages / whl.name)
    server = Server([str(PYPISERVER), "run", "-i", "127.0.0.1", "-p", str(port), "-a", ".",
                     "-P", ".", "--disable-fallback", str(packages)], home / "pypiserver.log")
    regs.servers.append(server)
    url = f"http://127.0.0.1:{port}/"
    server.wait_for(url + "health")
    regs.pypi = url


MAVEN_METADATA = """<?xml version="1.0" encoding="UTF-8"?>
<metadata>
  <groupId>{group}</groupId>
  <artifactId>{artifact}</artifactId>
  <versioning>
    <latest>{version}</latest>
    <release>{version}</release>
    <versions>
      <version>{version}</version>
    </versions>
    <lastUpdated>20211026000000</lastUpdated>
  </versioning>
</metadata>
"""


def start_nginx(home: Path, regs: PublicRegistries, seed: Path = SEED) -> None:
    port = free_port()
    repo = home / "maven2"
    for sub in ("tmp", "logs"):
        (home / sub).mkdir(parents=True)
    shutil.copytree(seed / "maven-central", repo)
    for version_dir in repo.glob("*/*/*/"):
        artifact_dir = version_dir.parent
        group = str(artifact_dir.parent.relative_to(repo)).replace("/", ".")
        (artifact_dir / "maven-metadata.xml").write_text(MAVEN_METADATA.format(
            group=group, artifact=artifact_dir.name, version=version_dir.name))
    user = "user root root;\n" if os.geteuid() == 0 else ""
    (home / "nginx.conf").write_text(f"""{user}daemon off;
worker_processes 1;
pid {home}/nginx.pid;
error_log {home}/logs/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {home}/logs/access.log;
    client_body_temp_path {home}/tmp;
    proxy_temp_path {home}/tmp;
    fastcgi_temp_path {home}/tmp;
    uwsgi_temp_path {home}/tmp;
    scgi_temp_path {home}/tmp;
    types {{ application/java-archive jar; text/xml pom xml; }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        location /maven2/ {{ alias {repo}/; autoindex on; }}
    }}
}}
""")
    server = Server(["nginx", "-c", str(home / "nginx.conf"), "-p", str(home) + "/"],
                    home / "logs/stdout.log")
    regs.servers.append(server)
    url = f"http://127.0.0.1:{port}/maven2/"
    server.wait_for(url)
    regs.maven = url


def start_public_registries(home: Path, seed: Path = SEED) -> PublicRegistries:
    """The three registries holding the proxy caches of `seed` (default: the demo seed) and
    the sample lockfiles' extra public files."""
    need(VERDACCIO, PYPISERVER, "node", "npm", "nginx", PUBLIC / "npm" / "ms-2.1.2.tgz")
    regs = PublicRegistries()
    try:
        start_verdaccio(home / "verdaccio", regs, seed)
        start_pypiserver(home / "pypiserver", regs, seed)
        start_nginx(home / "nginx", regs, seed)
    except BaseException:
        regs.stop()
        raise
    return regs
