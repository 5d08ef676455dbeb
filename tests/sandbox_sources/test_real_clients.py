"""Real clients consume the emulators over loopback: pip checks the `#md5=` fragments of a
Nexus simple page, npm checks the `integrity` of a packument whose tarball URLs come from the
Base URL. Both servers run in a thread on 127.0.0.1 with an ephemeral port."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from migrator_sandbox import artifactory, nexus

from .conftest import SEED

NPM = shutil.which("npm") or "npm"


@contextmanager
def serving(make_app: Callable[[str], object]) -> Iterator[tuple[str, object]]:
    """Serve make_app(base_url) on 127.0.0.1; the socket listens before the thread starts, so
    clients never race the server (no readiness polling)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = make_app(base)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off",
                                           server_header=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield base, app
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, f"{cmd[0]} failed:\n{result.stdout}\n{result.stderr}"


def test_pip_downloads_through_a_nexus_simple_page_and_checks_md5(tmp_path: Path) -> None:
    with serving(lambda base: nexus.build_app(SEED, base_url=base)) as (base, app):
        index = base.replace("http://", "http://migrator:migrator-secret@")
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
              "--isolated", "--disable-pip-version-check", "--only-binary", ":all:",
              "--index-url", f"{index}/repository/pypi-internal/simple/",
              "--dest", str(tmp_path), "jaraco.classes==3.4.0"], cwd=tmp_path)
        paths = [e.path for e in app.state.request_log.entries()]
    # A wheel: an sdist would make pip build metadata, which needs setuptools from an index.
    got = tmp_path / "jaraco.classes-3.4.0-py3-none-any.whl"
    want = SEED / "pypi-internal/packages/jaraco-classes/3.4.0" / got.name
    assert got.read_bytes() == want.read_bytes()
    assert "/repository/pypi-internal/simple/jaraco-classes/" in paths


def test_npm_packs_from_a_nexus_packument_and_checks_integrity(tmp_path: Path) -> None:
    with serving(lambda base: nexus.build_app(SEED, base_url=base)) as (base, _):
        registry = f"{base}/repository/npm-internal/"
        auth = base64.b64encode(b"migrator:migrator-secret").decode()
        npmrc = tmp_path / ".npmrc"
        npmrc.write_text(f"registry={registry}\n//{registry.split('//', 1)[1]}:_auth={auth}\n")
        env = {**os.environ, "npm_config_userconfig": str(npmrc),
               "npm_config_cache": str(tmp_path / "cache"), "npm_config_update_notifier": "false",
               "npm_config_audit": "false", "npm_config_fund": "false"}
        _run([NPM, "pack", "@types/ms@2.1.0", "--pack-destination", str(tmp_path)],
             cwd=tmp_path, env=env)
    got = tmp_path / "types-ms-2.1.0.tgz"
    assert got.read_bytes() == (SEED / "npm-internal/@types/ms/-/ms-2.1.0.tgz").read_bytes()


def test_pip_downloads_through_the_artifactory_pypi_api(tmp_path: Path) -> None:
    with serving(lambda base: artifactory.build_app(SEED, base_url=f"{base}/artifactory")) as (
        base, _,
    ):
        index = base.replace("http://", "http://migrator:migrator-secret@")
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
              "--isolated", "--disable-pip-version-check", "--only-binary", ":all:",
              "--index-url", f"{index}/artifactory/api/pypi/pypi-all/simple/",
              "--dest", str(tmp_path), "six==1.16.0"], cwd=tmp_path)
    got = tmp_path / "six-1.16.0-py2.py3-none-any.whl"
    assert hashlib.sha256(got.read_bytes()).hexdigest() == hashlib.sha256(
        (SEED / "pypi-proxy/packages/six/1.16.0/six-1.16.0-py2.py3-none-any.whl").read_bytes()
    ).hexdigest()


def test_pip_refuses_a_file_whose_reported_md5_is_corrupted(tmp_path: Path) -> None:
    name = "jaraco.classes-3.4.0-py3-none-any.whl"
    target = f"pypi-internal/packages/jaraco-classes/3.4.0/{name}"
    with serving(lambda base: nexus.build_app(SEED, base_url=base,
                                              corrupt_checksum=target)) as (base, _):
        index = base.replace("http://", "http://migrator:migrator-secret@")
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
             "--isolated", "--disable-pip-version-check", "--only-binary", ":all:",
             "--index-url", f"{index}/repository/pypi-internal/simple/",
             "--dest", str(tmp_path), "jaraco.classes==3.4.0"],
            cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    assert "DO NOT MATCH THE HASHES" in result.stderr.upper()
    assert not (tmp_path / name).exists()
