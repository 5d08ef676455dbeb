"""Helpers of the transfer end-to-end tests: run the engine, read the logs and the state."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import boto3
import httpx

from .conftest import SEED, RunningSandbox

MIGRATOR = [sys.executable, "-m", "migrator", "--no-progress"]


def engine(sb: RunningSandbox, *args: str, env: dict[str, str] | None = None,
           timeout: float = 180) -> subprocess.CompletedProcess:
    """`migrator --no-progress ARGS` (run, resume, verify) in the sandbox's folder."""
    args = tuple(a for a in args if a != "--no-progress")
    return subprocess.run([*MIGRATOR, *args], cwd=sb.workdir, env={**sb.env, **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


def request_log(sb: RunningSandbox) -> dict:
    return httpx.get(sb.info["codeartifact"]["requests_url"], params={"entries": 0}).json()


# Write operations of one demo-seed migration, native and control plane (the names the
# CodeArtifact sandbox logs: migrator_sandbox/codeartifact/{maven,npm,pypi}.py, control.py).
# No PutPackageOriginConfiguration: none of the demo's internal names is public, so each
# package gets publish=ALLOW, upstream=BLOCK from its first publish (Engine._protect_origin).
DEMO_WRITE_OPERATIONS = frozenset({
    "maven:PutAsset", "maven:PutMetadata", "npm:Publish", "npm:DistTagsPut", "pypi:Upload",
    "PublishPackageVersion",
})


def write_log(sb: RunningSandbox) -> list[dict]:
    """Every write request the CodeArtifact sandbox has answered so far (any operation,
    any status), in order, from its request-log endpoint."""
    entries = httpx.get(sb.info["codeartifact"]["requests_url"]).json()["entries"]
    return [e for e in entries if e["write"]]


def publish_writes(sb: RunningSandbox) -> dict[str, int]:
    """Asset key → successful write requests, leaving out the Maven metadata PUTs."""
    log = request_log(sb)
    return {k: v["writes_ok"] for k, v in log["by_asset"].items()
            if v["writes_ok"] and not k.endswith("maven-metadata.xml")}


def rows(path: Path, sql: str, args: tuple = ()) -> list[tuple]:
    """The rows of one query on a state file."""
    con = sqlite3.connect(path)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def state_rows(workdir: Path, sql: str, args: tuple = ()) -> list[tuple]:
    return rows(workdir / "state" / "demo.sqlite", sql, args)


def asset_statuses(workdir: Path) -> dict[tuple[str, str], str]:
    """(repository, path) → effective status (an excluded version's assets are excluded)."""
    rows = state_rows(workdir, "SELECT r.source, a.path, CASE WHEN v.status = 'excluded' "
                      "THEN 'excluded' ELSE a.status END FROM assets a JOIN repositories r ON "
                      "r.id = a.repository_id LEFT JOIN versions v ON v.id = a.version_id")
    return {(r, p): s for r, p, s in rows}


def codeartifact(sb: RunningSandbox):
    ca = sb.info["codeartifact"]
    env = sb.info["env"]
    return boto3.client("codeartifact", endpoint_url=ca["endpoint_url"],
                        region_name=ca["region"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])


def token_and_endpoint(sb: RunningSandbox, repository: str, fmt: str) -> tuple[str, str]:
    client = codeartifact(sb)
    domain = sb.info["codeartifact"]["domain"]
    token = client.get_authorization_token(domain=domain)["authorizationToken"]
    url = client.get_repository_endpoint(domain=domain, repository=repository,
                                         format=fmt)["repositoryEndpoint"]
    return token, url if url.endswith("/") else url + "/"


def summary(proc: subprocess.CompletedProcess) -> dict:
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"no JSON summary (rc {proc.returncode}):\n{proc.stdout}\n"
                             f"{proc.stderr}") from None


def isolated_pip_env() -> dict[str, str]:
    return {**os.environ, "PIP_CONFIG_FILE": "/dev/null", "PIP_FIND_LINKS": "",
            "PIP_CONSTRAINT": "", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


BACKEND = """
import os

def get_requires_for_build_wheel(config_settings=None):
    return []

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    name = "acme_hello-1.0.0.dist-info"
    os.makedirs(os.path.join(metadata_directory, name))
    with open(os.path.join(metadata_directory, name, "METADATA"), "w") as fh:
        fh.write(open("PKG-INFO").read())
    return name

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise RuntimeError("download only")
"""


def seed_with_local_sdist(dest: Path) -> Path:
    """The demo seed plus `acme-hello` 1.0.0 as an sdist with an in-tree build backend that
    needs no package, so pip can prepare its metadata from an isolated index; the seed's own
    sdists need setuptools_scm / flit_core, which an index holding only them cannot give."""
    import io
    import shutil
    import tarfile

    seed = dest / "seed"
    shutil.copytree(SEED, seed)
    out = seed / "pypi-internal" / "packages" / "acme-hello" / "1.0.0"
    out.mkdir(parents=True)
    files = {
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "hello_backend"\n'
                          'backend-path = ["."]\n',
        "PKG-INFO": "Metadata-Version: 2.1\nName: acme-hello\nVersion: 1.0.0\n"
                    "Summary: a migrated sdist\n",
        "hello_backend.py": BACKEND,
    }
    with tarfile.open(out / "acme_hello-1.0.0.tar.gz", "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"acme_hello-1.0.0/{name}")
            info.size, info.mtime = len(data), 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return seed
