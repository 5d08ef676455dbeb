"""Fixtures for the state tests: a controllable clock, page builders, a fresh queue."""

from __future__ import annotations

import pytest

from migrator.models import AssetKind, Coordinates, DiscoveredAsset, Format, RepoType
from migrator.state import WorkQueue


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def maven_version(group: str, artifact: str, version: str, *, files=("jar", "pom"),
                  size: int = 100) -> list[tuple[DiscoveredAsset, str | None]]:
    c = Coordinates(Format.MAVEN, group, artifact, version)
    base = f"{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}"
    return [(DiscoveredAsset(path=f"{base}.{ext}", size=size, checksums={"sha1": "a" * 40},
                             coordinates=c, kind=AssetKind.ARTIFACT), None) for ext in files]


@pytest.fixture(name="maven_version")
def _maven_version():
    return maven_version


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(tmp_path, clock):
    q = WorkQueue.open(tmp_path / "state.sqlite", clock=clock)
    yield q
    q.close()


@pytest.fixture
def repo_id(queue) -> int:
    return queue.upsert_repository(source="maven-releases", target="maven-releases",
                                   format=Format.MAVEN, repo_type=RepoType.HOSTED, mode="copy")
