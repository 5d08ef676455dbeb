"""Fixtures for the report tests: states built with the state API (as a run leaves them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.models import (
    AssetKind,
    AssetUpdate,
    Coordinates,
    DiscoveredAsset,
    Format,
    RepoType,
    VersionResult,
)
from migrator.state import WorkQueue


class Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def maven_files(artifact: str, version: str, size: int = 1000):
    c = Coordinates(Format.MAVEN, "com.acme", artifact, version)
    base = f"com/acme/{artifact}/{version}/{artifact}-{version}"
    return [(DiscoveredAsset(path=f"{base}.{ext}", size=size, checksums={"sha1": "a" * 40},
                             coordinates=c, kind=AssetKind.ARTIFACT), None)
            for ext in ("jar", "pom")]


def build_state(path: Path, artifacts: dict[str, str], *, shard: str | None = None,
                clock: Clock | None = None, size: int = 1000) -> Path:
    """A state of one Maven repository holding `artifacts` (artifact -> outcome: verified,
    failed_permanent or discovered), two files of `size` bytes per version."""
    with WorkQueue.open(path, clock=clock or Clock()) as q:
        if shard is not None:
            q.set_meta("shard", shard)
        rid = q.upsert_repository(source="maven-releases", target="maven-releases",
                                  format=Format.MAVEN, repo_type=RepoType.HOSTED, mode="copy")
        q.begin_crawl(rid)
        items = [f for a in artifacts for f in maven_files(a, "1.0", size)]
        q.record_page(rid, items, cursor=None, done=True)
        sha = {"sha256": "b" * 64, "sha1": "a" * 40}
        claimed = {v.package: v for v in q.claim("w", limit=len(artifacts))}
        results = []
        for name, outcome in artifacts.items():
            v = claimed[name]
            if outcome == "verified":
                results.append(VersionResult(v.id, "published", assets=[
                    AssetUpdate(a.id, "published", downloaded=sha) for a in v.assets]))
            elif outcome == "failed_permanent":
                results.append(VersionResult(v.id, "failed_permanent", reason="checksum "
                                             "mismatch", assets=[AssetUpdate(
                                                 a.id, "failed_permanent", "checksum mismatch")
                                                 for a in v.assets]))
        q.finish("w", results)
        q.release("w")
        again = [v for v in q.claim("w", limit=len(artifacts)) if v.claimed_from == "published"]
        q.finish("w", [VersionResult(v.id, "verified", assets=[
            AssetUpdate(a.id, "verified", target=sha) for a in v.assets]) for v in again])
        q.release("w")
    return path


@pytest.fixture
def clock() -> Clock:
    return Clock()
