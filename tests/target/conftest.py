"""Fixtures: an in-process CodeArtifact sandbox, claimed versions built from the demo seed."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable
from pathlib import Path

import pytest

from migrator import formats
from migrator.models import (
    HASH_ALGORITHMS,
    AssetResult,
    ClaimedAsset,
    ClaimedVersion,
    Format,
    SpooledFile,
)
from migrator.target.codeartifact import CodeArtifactClient
from migrator_sandbox.codeartifact import Behaviour, QuotaConfig
from migrator_sandbox.serve import ServeOptions, start_in_thread

SEED = Path(__file__).resolve().parents[2] / "migrator_sandbox" / "demo_seed"
DOMAIN, OWNER, REGION = "demo", "111122223333", "us-east-1"
AWS = {"AWS_ACCESS_KEY_ID": "AKIASANDBOXEXAMPLE", "AWS_SECRET_ACCESS_KEY": "sandbox-secret"}
_ids = itertools.count(1)


def file_hashes(path: Path) -> dict[str, str]:
    data = path.read_bytes()
    return {a: hashlib.new(a, data).hexdigest() for a in HASH_ALGORITHMS}


def claim(fmt: Format, source_repo: str, paths: Iterable[str], *, target_repo: str,
          root: Path = SEED, files_from: dict[str, Path] | None = None
          ) -> tuple[ClaimedVersion, list[SpooledFile]]:
    """One claimed version (as the work queue would hand it out) plus its spool files.

    `paths` are relative to `root/source_repo`; `files_from` swaps a path's bytes for another
    file's (a changed source file under the same name)."""
    assets, spooled, coords = [], [], None
    for rel in paths:
        parsed = formats.parse(fmt, rel, repository=source_repo)
        assert parsed.coordinates is not None, (rel, parsed)
        coords = parsed.coordinates
        local = (files_from or {}).get(rel) or root / source_repo / rel
        hashes = file_hashes(local)
        asset = ClaimedAsset(
            id=next(_ids), path=rel, filename=rel.rsplit("/", 1)[-1], kind="artifact",
            size=local.stat().st_size, status="claimed", source_hashes=dict(hashes),
            downloaded_hashes=dict(hashes), target_hashes={}, extra=dict(coords.extra))
        assets.append(asset)
        spooled.append(SpooledFile(asset, local, local.stat().st_size, hashes))
    assert coords is not None
    version = ClaimedVersion(
        id=next(_ids), repository_id=1, source_repository=source_repo,
        target_repository=target_repo, mode="copy", format=fmt, namespace=coords.namespace,
        package=coords.package, version=coords.version, claimed_from="discovered",
        attempts=0, extra={}, assets=assets)
    return version, spooled


class Recorder:
    """A `Report` that keeps every result."""

    def __init__(self) -> None:
        self.results: list[AssetResult] = []

    async def __call__(self, result: AssetResult) -> None:
        self.results.append(result)

    def outcomes(self) -> list[str]:
        return [str(r.outcome) for r in self.results]


@pytest.fixture
def sandbox_factory():
    started = []

    def start(**kwargs):
        kwargs.setdefault("seed", None)
        kwargs.setdefault("sources", False)
        kwargs.setdefault("quotas", QuotaConfig(enabled=False))
        kwargs.setdefault("behaviour", Behaviour())
        cm = start_in_thread(ServeOptions(**kwargs))
        sb = cm.__enter__()
        started.append(cm)
        sb.emulator.ensure_domain(DOMAIN)
        for repo in ("maven-releases", "maven-snapshots", "npm-internal", "pypi-internal",
                     "raw-files"):
            sb.emulator.ensure_repository(DOMAIN, repo)
        return sb

    yield start
    for cm in reversed(started):
        cm.__exit__(None, None, None)


@pytest.fixture
def sandbox(sandbox_factory):
    return sandbox_factory()


@pytest.fixture
def aws_env(monkeypatch):
    for key, value in AWS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def make_client(sandbox, **kwargs) -> CodeArtifactClient:
    kwargs.setdefault("sleep", _fast_sleep)
    return CodeArtifactClient(domain=DOMAIN, domain_owner=OWNER, region=REGION,
                              endpoint_url=sandbox.base_url, **kwargs)


async def _fast_sleep(seconds: float) -> None:
    import anyio

    await anyio.sleep(min(seconds, 0.05))
