"""Real package-manager clients against the sandbox: twine + pip, npm, mvn (Debian plugins).

Host isolation as in reference/real-servers.md: pip with PIP_CONFIG_FILE=/dev/null and
--isolated, npm with an explicit --registry, its own userconfig and a fresh cache, mvn with
a file:///usr/share/maven-repo mirror and a throwaway local repository.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from .conftest import DOMAIN, endpoint

pytestmark = pytest.mark.realserver
BIN = Path(sys.executable).parent


def run(cmd: list[str], cwd: Path | None = None, env: dict | None = None,
        check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {})}, text=True,
                          capture_output=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def make_wheel(folder: Path, name: str, version: str, payload: str) -> Path:
    """A minimal valid wheel, written directly (no build backend, no network)."""
    dist = f"{name.replace('-', '_')}-{version}"
    path = folder / f"{dist}-py3-none-any.whl"
    files = {
        f"{name.replace('-', '_')}/__init__.py": payload,
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\n"
                                      f"Version: {version}\nSummary: tiny\n",
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\n"
                                   "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    records = []
    with zipfile.ZipFile(path, "w") as zf:
        for arc, text in files.items():
            data = text.encode()
            zf.writestr(arc, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            records.append(f"{arc},sha256={digest.decode()},{len(data)}")
        records.append(f"{dist}.dist-info/RECORD,,")
        zf.writestr(f"{dist}.dist-info/RECORD", "\n".join(records) + "\n")
    return path


def test_twine_upload_then_isolated_pip_download(client, token, tmp_path):
    client.create_repository(domain=DOMAIN, repository="pypi-internal")
    url = endpoint(client, "pypi-internal", "pypi")
    dist = tmp_path / "dist"
    dist.mkdir()
    wheel = make_wheel(dist, "acme-tiny", "1.0.0", "VALUE = 1\n")
    twine = [str(BIN / "twine"), "upload", "--non-interactive", "--disable-progress-bar",
             "--repository-url", url, "-u", "aws", f"--password={token}"]  # may start with -
    run([*twine, str(wheel)])
    out = tmp_path / "out"
    index = url.replace("http://", f"http://aws:{token}@") + "simple/"
    run([sys.executable, "-m", "pip", "--isolated", "download", "--no-cache-dir", "--no-deps",
         "--index-url", index, "acme-tiny==1.0.0", "-d", str(out)],
        env={"PIP_CONFIG_FILE": "/dev/null", "PIP_FIND_LINKS": "", "PIP_CONSTRAINT": ""})
    assert (out / wheel.name).read_bytes() == wheel.read_bytes()
    desc = client.describe_package_version(domain=DOMAIN, repository="pypi-internal",
                                           format="pypi", package="acme-tiny",
                                           packageVersion="1.0.0")["packageVersion"]
    assert desc["status"] == "Published" and desc["origin"]["originType"] == "INTERNAL"
    # the same filename with different bytes: twine reports the server's 409
    other = tmp_path / "other"
    other.mkdir()
    changed = make_wheel(other, "acme-tiny", "1.0.0", "VALUE = 2\n")
    proc = run([*twine, str(changed)], check=False)
    assert proc.returncode != 0 and "409" in proc.stdout + proc.stderr


def test_npm_publish_then_install_in_fresh_directory(client, token, tmp_path):
    client.create_repository(domain=DOMAIN, repository="npm-internal")
    registry = endpoint(client, "npm-internal", "npm")
    npmrc = tmp_path / "npmrc"
    npmrc.write_text(f"//{registry.split('://', 1)[1]}:_authToken={token}\n")
    common = ["--registry", registry, "--userconfig", str(npmrc), "--no-audit", "--no-fund"]
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "package.json").write_text(
        '{"name": "@acme/tiny-pkg", "version": "1.0.0", "main": "index.js", "license": "MIT"}')
    (pkg / "index.js").write_text('module.exports = () => "hello from tiny";\n')
    run(["npm", "publish", *common, "--cache", str(tmp_path / "cache1")], cwd=pkg)
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / "package.json").write_text('{"name": "consumer", "version": "1.0.0", '
                                           '"private": true}')
    run(["npm", "install", *common, "--cache", str(tmp_path / "cache2"), "@acme/tiny-pkg@1.0.0"],
        cwd=consumer)
    said = run(["node", "-e", 'console.log(require("@acme/tiny-pkg")())'], cwd=consumer)
    assert said.stdout.strip() == "hello from tiny"
    assets = client.list_package_version_assets(
        domain=DOMAIN, repository="npm-internal", format="npm", namespace="acme",
        package="tiny-pkg", packageVersion="1.0.0")["assets"]
    assert [a["name"] for a in assets] == ["package.tgz"]


SETTINGS = """<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
  <localRepository>{local}</localRepository>
  <mirrors><mirror><id>debian-system-repo</id><mirrorOf>central</mirrorOf>
    <url>file:///usr/share/maven-repo</url></mirror></mirrors>
  <servers><server><id>ca</id><username>aws</username><password>{token}</password></server>
  </servers>
</settings>
"""


def test_mvn_deploy_file_then_dependency_get_and_unfinished_is_invisible(client, token,
                                                                         tmp_path):
    client.create_repository(domain=DOMAIN, repository="maven-releases")
    url = endpoint(client, "maven-releases", "maven")
    settings = tmp_path / "settings.xml"
    settings.write_text(SETTINGS.format(local=tmp_path / "m2", token=token))
    mvn = ["mvn", "-B", "-q", "-c", "-s", str(settings)]

    def get(version: str, local: str) -> subprocess.CompletedProcess:
        return run([*mvn, f"-Dmaven.repo.local={tmp_path / local}",
                    "org.apache.maven.plugins:maven-dependency-plugin:3.5.0:get",
                    f"-Dartifact=com.acme:demo:{version}",
                    f"-DremoteRepositories=ca::default::{url}",
                    "-Dtransitive=false"], check=False)

    jar = tmp_path / "demo-1.0.0.jar"
    with zipfile.ZipFile(jar, "w") as zf:
        zf.writestr("dummy.txt", "hello jar\n")
    run([*mvn, "org.apache.maven.plugins:maven-deploy-plugin:3.0.0:deploy-file",
         f"-Dfile={jar}", "-DgroupId=com.acme", "-DartifactId=demo", "-Dversion=1.0.0",
         "-Dpackaging=jar", "-DgeneratePom=true", f"-Durl={url}", "-DrepositoryId=ca"])
    desc = client.describe_package_version(domain=DOMAIN, repository="maven-releases",
                                           format="maven", namespace="com.acme", package="demo",
                                           packageVersion="1.0.0")["packageVersion"]
    assert desc["status"] == "Published"
    fetched = get("1.0.0", "consumer1")
    assert fetched.returncode == 0, fetched.stdout
    cached = tmp_path / "consumer1/com/acme/demo/1.0.0/demo-1.0.0.jar"
    assert cached.read_bytes() == jar.read_bytes()

    # 1.1.0 uploaded file by file without the metadata PUT stays Unfinished and invisible
    auth = ("aws", token)
    for name, data in (("demo-1.1.0.jar", jar.read_bytes()), ("demo-1.1.0.pom", b"<project/>")):
        assert httpx.put(f"{url}com/acme/demo/1.1.0/{name}", content=data,
                         auth=auth).status_code in (200, 201)
    assert get("1.1.0", "consumer2").returncode != 0
    meta = httpx.get(f"{url}com/acme/demo/maven-metadata.xml", auth=auth).text
    meta = meta.replace("<version>1.0.0</version>",
                        "<version>1.0.0</version><version>1.1.0</version>")
    assert httpx.put(f"{url}com/acme/demo/maven-metadata.xml", content=meta,
                     auth=auth).status_code == 200
    assert get("1.1.0", "consumer3").returncode == 0
