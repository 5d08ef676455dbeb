"""Engine fixtures: a state with crawled versions, a MockTransport Nexus, a fake CodeArtifact."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from migrator.models import (
    AssetKind,
    AssetOutcome,
    AssetResult,
    ClaimedAsset,
    ClaimedVersion,
    Coordinates,
    DiscoveredAsset,
    Format,
    RepoType,
    SpooledFile,
    VersionCheck,
)
from migrator.pipeline.engine import Engine
from migrator.pipeline.options import EngineOptions
from migrator.retry import VersionBackoff
from migrator.sources.access import SourceAccess
from migrator.sources.nexus import NexusCrawler
from migrator.state import WorkQueue
from migrator.target.errors import NotFound
from migrator.verification import asset_name

BASE = "http://nexus.test"


def digests(data: bytes) -> dict[str, str]:
    return {a: hashlib.new(a, data).hexdigest() for a in ("md5", "sha1", "sha256", "sha512")}


class FakeSource:
    """Files by repository path; `cut` paths break off after half the body the first time."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[httpx.Request] = []
        self.cut: set[str] = set()
        self.fail: dict[str, int] = {}  # path -> 503s still to answer
        self.range_support = True

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.split("/", 3)[3]  # /repository/<repo>/<path>
        if self.fail.get(path):
            self.fail[path] -= 1
            return httpx.Response(503)
        body = self.files.get(path)
        if body is None:
            return httpx.Response(404)
        rng = request.headers.get("range")
        if rng and self.range_support:
            start = int(rng.split("=")[1].rstrip("-"))
            return httpx.Response(206, content=body[start:], headers={
                "Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"})
        if path in self.cut:
            self.cut.discard(path)
            half = body[: len(body) // 2]

            def stream():
                yield half
                raise httpx.ReadError("connection reset")

            return httpx.Response(200, headers={"Content-Length": str(len(body))},
                                  stream=_Iter(stream()))
        return httpx.Response(200, content=body)


class _Iter(httpx.AsyncByteStream):
    def __init__(self, it) -> None:
        self.it = it

    async def __aiter__(self):
        for chunk in self.it:
            yield chunk


@dataclass
class Stored:
    status: str = "Published"
    origin: str = "INTERNAL"
    assets: dict[str, dict[str, Any]] = field(default_factory=dict)


class FakePublisher:
    def __init__(self, target: FakeTarget, fmt: Format) -> None:
        self.target = target
        self.format = fmt

    async def publish(self, version: ClaimedVersion, files: Sequence[SpooledFile],
                      report) -> None:
        t = self.target
        key = (version.target_repository, version.namespace, version.package, version.version)
        t.publish_calls.append((key, [f.asset.filename for f in files]))
        if t.before_publish is not None:
            await t.before_publish(version, files)
        stored = t.versions.setdefault(key, Stored(status=t.initial_status))
        for f in files:
            data = f.path.read_bytes()
            name = asset_name(version, f.asset)
            d = digests(data)
            assert d == dict(f.hashes)
            old = stored.assets.get(name)
            if old is not None and old["sha256"] != d["sha256"]:
                await report(AssetResult(f.asset.id, AssetOutcome.CONFLICT,
                                         f"sha256 differs: {old['sha256']} vs {d['sha256']}"))
                continue
            t.writes[(*key, name)] = t.writes.get((*key, name), 0) + 1
            stored.assets[name] = {"size": len(data), **d}
            outcome = AssetOutcome.IDENTICAL if old else AssetOutcome.PUBLISHED
            await report(AssetResult(f.asset.id, outcome, target_hashes=d))
        stored.status = "Published"


class FakeTarget:
    def __init__(self) -> None:
        self.versions: dict[tuple, Stored] = {}
        self.writes: dict[tuple, int] = {}
        self.publish_calls: list = []
        self.before_publish: Callable | None = None
        self.initial_status = "Unfinished"
        self.invisible_checks = 0  # first N checks see nothing (eventual consistency)
        self.checks = 0
        self.requested: list[str] = []
        self.restored: list[tuple[str, str, str]] = []
        self.protected: list[tuple[str | None, str, str]] = []
        self.existing_packages: set[str] = set()  # in the target already, with no version
        self.exists_asked: list[str] = []
        # pre-warm: packages the "public registry" lacks (404) and packages whose origin
        # configuration blocks upstream (404 plus a refusal reason)
        self.not_upstream: set[str] = set()
        self.upstream_blocked: set[str] = set()
        self.missing_paths: set[str] = set()  # single files the public registry lacks
        self.ingested_assets: dict[str, dict] = {}  # asset name → hashes CodeArtifact reports

    def publisher(self, fmt: Format) -> FakePublisher:
        return FakePublisher(self, fmt)

    async def check_version(self, v: ClaimedVersion) -> VersionCheck:
        self.checks += 1
        if self.checks <= self.invisible_checks:
            return VersionCheck(status=None, origin=None)
        s = self.versions.get((v.target_repository, v.namespace, v.package, v.version))
        if s is None:
            return VersionCheck(status=None, origin=None)
        return VersionCheck(status=s.status, origin=s.origin, assets=dict(s.assets))

    async def request_asset(self, v: ClaimedVersion, a: ClaimedAsset) -> None:
        self.requested.append(a.path)
        if v.package in self.not_upstream | self.upstream_blocked or a.path in self.missing_paths:
            raise NotFound(f"CodeArtifact: GET {a.path} answered 404 Not Found")
        key = (v.target_repository, v.namespace, v.package, v.version)
        self.versions.setdefault(key, Stored(origin="EXTERNAL",
                                             assets=dict(self.ingested_assets)))

    async def upstream_refusal(self, v: ClaimedVersion) -> str | None:
        return "upstream=BLOCK" if v.package in self.upstream_blocked else None

    async def protect_origin(self, v: ClaimedVersion) -> None:
        self.protected.append((v.target_repository, v.namespace, v.package))

    async def package_exists(self, v: ClaimedVersion) -> bool | None:
        self.exists_asked.append(v.package)
        return any(k[:3] == (v.target_repository, v.namespace, v.package)
                   for k in self.versions) or v.package in self.existing_packages

    async def restore_npm(self, target_repository, source_repository, name):
        self.restored.append((target_repository, source_repository, name))
        return {"set": {"latest": "1.0"}}

    async def aclose(self) -> None:
        return None


@dataclass
class World:
    queue: WorkQueue
    source: FakeSource
    target: FakeTarget
    tmp: Path
    repo_ids: dict[str, int]

    def add_maven(self, group: str, artifact: str, version: str, files: dict[str, bytes],
                  *, repo: str = "maven-releases", checksums: dict | None = None,
                  extra: dict | None = None) -> None:
        c = Coordinates(Format.MAVEN, group, artifact, version, extra=extra or {})
        base = f"{group.replace('.', '/')}/{artifact}/{version}"
        items = []
        for name, data in files.items():
            path = f"{base}/{name}"
            self.source.files[path] = data
            cs = (checksums or {}).get(name) or {"sha1": digests(data)["sha1"],
                                                  "md5": digests(data)["md5"]}
            items.append((DiscoveredAsset(path=path, size=len(data), checksums=cs,
                                          coordinates=c, kind=AssetKind.ARTIFACT), None))
        self.queue.record_page(self.repo_ids[repo], items, cursor=None, done=True)

    def engine(self, *, clock: Callable[[], float] | None = None, progress: Any = None,
               **options: Any) -> Engine:
        """An engine over this world; `options` are EngineOptions, `clock` replaces the
        wall clock of leases and retries (the queue's too), `progress` is its bar."""
        opts = EngineOptions(**{"concurrency": 4, "source_concurrency": 2, "max_attempts": 3,
                                "backoff": VersionBackoff(base=0.01), "verify_timeout": 1.0,
                                "verify_first_wait": 0.01, "confirm_timeout": 0.5,
                                # verified as soon as published: some tests freeze the clock
                                "verify_after": 0.0, **options})
        crawler = NexusCrawler(httpx.AsyncClient(base_url=BASE,
                                                 transport=httpx.MockTransport(
                                                     self.source.handler)))
        access = SourceAccess(crawler=crawler, repositories={},
                              spool_dir=self.tmp / "spool", sleep=_no_sleep)
        (self.tmp / "spool").mkdir(exist_ok=True)
        extra: dict[str, Any] = {"progress": progress}
        if clock is not None:
            self.queue.clock = clock
            extra["clock"] = clock
        return Engine(self.queue, source=access, target=self.target, options=opts,
                      owner="test-owner", handle_signals=False, **extra)

    def statuses(self, table: str = "assets") -> dict[str, int]:
        return dict(self.queue.conn.execute(
            f"SELECT status, count(*) FROM {table} GROUP BY status").fetchall())


async def _no_sleep(_seconds: float) -> None:
    return None


@pytest.fixture
def world(tmp_path):
    q = WorkQueue.open(tmp_path / "state.sqlite")
    ids = {
        "maven-releases": q.upsert_repository(source="maven-releases", target="maven-releases",
                                              format=Format.MAVEN, repo_type=RepoType.HOSTED,
                                              mode="copy"),
    }
    yield World(q, FakeSource(), FakeTarget(), tmp_path, ids)
    q.close()
