"""Helpers for the source-emulator tests: the demo seed, scratch seeds, in-process clients."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

SEED = Path(__file__).resolve().parents[2] / "migrator_sandbox" / "demo_seed"
NEXUS_AUTH = ("migrator", "migrator-secret")
NEXUS_ADMIN = ("admin", "admin123")
ART_AUTH = ("migrator", "migrator-secret")
ART_TOKEN = "sandbox-access-token-migrator"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def client(app, base: str = "http://emulator.test", **kwargs) -> httpx.AsyncClient:
    """An httpx client that talks to the ASGI app in-process."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base, **kwargs)


@pytest.fixture
def seed_copy(tmp_path: Path) -> Path:
    """A writable copy of the demo seed, for tests that change files under a running emulator."""
    dest = tmp_path / "seed"
    shutil.copytree(SEED, dest)
    return dest


def raw_seed(tmp_path: Path, count: int, name: str = "raw-bulk") -> Path:
    """A seed with one hosted raw repository of `count` small files (for paging tests)."""
    root = tmp_path / f"raw-{count}"
    repo = root / name
    repo.mkdir(parents=True, exist_ok=True)
    (root / "repos.toml").write_text(
        f'[[repository]]\nname = "{name}"\nformat = "raw"\ntype = "hosted"\n'
    )
    for i in range(count):
        (repo / f"file-{i:04d}.txt").write_text(f"file {i}\n")
    return root
