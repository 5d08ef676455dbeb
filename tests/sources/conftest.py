"""Fixtures for the crawler tests: the demo seed, its expected inventory, sandboxed sources.

The expected inventory is computed here from the seed FILES on disk, independently of the
crawlers and of the emulators: Maven coordinates from the path with a small regex, npm identity
from the tarball's own package.json, PyPI identity from the distribution's own metadata
(pkginfo), generic identity from the documented mapping written out by hand.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pkginfo
import pytest
from packaging.utils import canonicalize_name

from migrator.sources import Crawler, crawler_class

SEED = Path(__file__).resolve().parents[2] / "migrator_sandbox" / "demo_seed"
SIDECAR = re.compile(r"\.(md5|sha1|sha256|sha512)$")

# The documented generic mapping (migrator/formats/generic.py), for the seed's raw files.
RAW_EXPECTED = {
    "releases/1.1.0/greeter-1.1.0-dist.zip": ("raw-files", "releases", "1.1.0"),
    "tools/install.sh": ("raw-files", "tools", "unversioned"),
    "docs/RELEASE-NOTES.txt": ("raw-files", "docs", "unversioned"),
}


@dataclass(frozen=True)
class SeedRepo:
    name: str
    format: str  # Nexus naming
    type: str
    server: str | None
    members: tuple[str, ...]


@dataclass
class Expected:
    """What a crawl of one repository must find."""

    artifacts: dict[str, tuple[str, str, str]]  # path -> (namespace, package, version)
    sidecars: set[str]
    files: dict[str, Path]


def seed_repos(server: str) -> list[SeedRepo]:
    doc = tomllib.loads((SEED / "repos.toml").read_text())
    repos = [
        SeedRepo(r["name"], r["format"], r["type"], r.get("server"), tuple(r.get("members", ())))
        for r in doc["repository"]
    ]
    return [r for r in repos if r.server in (None, server)]


def _files(repo: str) -> dict[str, Path]:
    root = SEED / repo
    return {
        p.relative_to(root).as_posix(): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


def _maven(path: str) -> tuple[str, str, str] | None:
    parts = path.split("/")
    if parts[-1].startswith("maven-metadata") or len(parts) < 4:
        return None
    group, artifact, version_dir, name = ".".join(parts[:-3]), parts[-3], parts[-2], parts[-1]
    if version_dir.endswith("-SNAPSHOT"):
        base = version_dir.removesuffix("-SNAPSHOT")
        match = re.match(rf"{re.escape(artifact)}-{re.escape(base)}-(\d{{8}}\.\d{{6}}-\d+)", name)
        assert match, f"seed snapshot file {path} is not timestamped"
        return group, artifact, f"{base}-{match[1]}"
    return group, artifact, version_dir


def _npm(file: Path) -> tuple[str, str, str]:
    with tarfile.open(file) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("package.json")
                      and m.name.count("/") == 1)
        manifest = json.load(tar.extractfile(member))
    scope, _, name = manifest["name"].rpartition("/")
    return scope.lstrip("@"), name, manifest["version"]


def _pypi(file: Path) -> tuple[str, str, str]:
    dist = pkginfo.Wheel(str(file)) if file.name.endswith(".whl") else pkginfo.SDist(str(file))
    return "", canonicalize_name(dist.name), dist.version


def expected(repo: SeedRepo) -> Expected:
    files = _files(repo.name)
    artifacts: dict[str, tuple[str, str, str]] = {}
    sidecars: set[str] = set()
    for path, file in files.items():
        if SIDECAR.search(path):
            sidecars.add(path)
        elif repo.format == "maven2":
            coords = _maven(path)
            if coords:
                artifacts[path] = coords
        elif repo.format == "npm":
            artifacts[path] = _npm(file)
        elif repo.format == "pypi":
            artifacts[path] = _pypi(file)
        else:
            artifacts[path] = RAW_EXPECTED[path]
    if repo.format == "raw":
        assert set(artifacts) == set(RAW_EXPECTED), "seed raw files changed: update RAW_EXPECTED"
    return Expected(artifacts, sidecars, files)


def digest(file: Path, algorithm: str) -> str:
    return hashlib.new(algorithm, file.read_bytes()).hexdigest()


PUBLIC_BASE = "https://public-base-url.example"  # the server's configured Base URL: never used


class RecordingTransport(httpx.AsyncBaseTransport):
    """ASGI transport that also records (method, path, query, body) of every request.

    The emulators' request logs keep method, path and query; an AQL page is identified by its
    body (the offset), so the resume test needs the body too.
    """

    def __init__(self, app: Any, record: list[tuple[str, str, str, bytes]]) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.record = record

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        self.record.append((request.method, request.url.path, request.url.query.decode(), body))
        return await self.inner.handle_async_request(request)


@dataclass
class Source:
    """One emulated server and how to reach it."""

    kind: str  # nexus | artifactory
    label: str
    url: str
    credentials: dict[str, str]
    build: Callable[..., Any]  # (**knobs) -> ASGI app
    requests: list[tuple[str, str, str, bytes]] = field(default_factory=list)

    def app(self, **knobs: Any) -> Any:
        return self.build(**knobs)

    def crawler(self, app: Any, *, username: str | None = None,
                password: str | None = None, **options: Any) -> Crawler:
        user, secret = self.user_and_secret()
        return crawler_class(self.kind).from_settings(
            self.url, username=username or user, password=password or secret,
            transport=RecordingTransport(app, self.requests), **options)

    def user_and_secret(self) -> tuple[str, str]:
        prefix = self.kind.upper()
        return self.credentials[f"{prefix}_USERNAME"], self.credentials[f"{prefix}_PASSWORD"]


def _nexus(mode: str) -> Source:
    from migrator_sandbox import nexus

    return Source("nexus", f"nexus-{mode}", "http://nexus.test", nexus.DEFAULT_CREDENTIALS,
                  lambda **k: nexus.build_app(SEED, mode=mode, base_url=PUBLIC_BASE, **k))


def _artifactory(edition: str) -> Source:
    from migrator_sandbox import artifactory

    return Source("artifactory", f"artifactory-{edition}", "http://artifactory.test",
                  artifactory.DEFAULT_CREDENTIALS,
                  lambda **k: artifactory.build_app(
                      SEED, edition=edition, base_url=f"{PUBLIC_BASE}/artifactory", **k))


SOURCES = {
    "nexus-sql": lambda: _nexus("sql"),
    "nexus-orient": lambda: _nexus("orient"),
    "artifactory-pro": lambda: _artifactory("pro"),
    "artifactory-oss": lambda: _artifactory("oss"),
}


@pytest.fixture(params=sorted(SOURCES))
def source(request: pytest.FixtureRequest) -> Source:
    return SOURCES[request.param]()


