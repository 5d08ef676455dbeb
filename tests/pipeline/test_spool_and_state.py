"""The engine at the local edges: a spool disk without room, and a state damaged mid-run."""

from __future__ import annotations

import errno
import re
import sqlite3
from types import SimpleNamespace

import anyio
import pytest

from migrator.errors import SpoolFullError, StateCorruptError
from migrator.retry import is_retryable
from migrator.sources import access as access_mod
from migrator.sources.access import SPOOL_FREE_MARGIN
from migrator.state import status as st

pytestmark = pytest.mark.anyio

MiB = 1024**2
BIG, SMALL = b"B" * 20_000, b"s" * 100


@pytest.fixture
def anyio_backend():
    return "asyncio"


class Disk:
    """A fake `shutil.disk_usage`: `free` bytes, or the next value of `frees` per call."""

    def __init__(self, *frees: int) -> None:
        self.frees = list(frees)
        self.calls: list = []

    def __call__(self, path):
        self.calls.append(path)
        free = self.frees.pop(0) if len(self.frees) > 1 else self.frees[0]
        return SimpleNamespace(total=10 * free, used=9 * free, free=free)


def requested(world, name: str) -> int:
    return sum(1 for r in world.source.requests if r.url.path.endswith(name))


async def test_a_download_without_room_is_refused_before_any_request(world):
    world.add_maven("com.acme", "big", "1.0", {"big-1.0.jar": BIG})
    engine = world.engine()
    engine.source.disk_usage = Disk(SPOOL_FREE_MARGIN + 10_000)
    [v] = world.queue.claim("w", limit=1)
    with pytest.raises(SpoolFullError) as exc:
        await engine.source.download(v, v.assets[0])
    message = str(exc.value)
    spool = world.tmp / "spool"
    assert message.startswith(
        f"no room in the spool folder {spool} for com/acme/big/1.0/big-1.0.jar "
        f"(19.5 KiB (20000 bytes)): it needs 64.0 MiB ({20_000 + SPOOL_FREE_MARGIN} bytes) "
        f"with a 64.0 MiB ({SPOOL_FREE_MARGIN} bytes) margin; 64.0 MiB "
        f"({SPOOL_FREE_MARGIN + 10_000} bytes) free")
    assert "free space on that filesystem, or set options.spool_dir" in message
    assert is_retryable(exc.value) and exc.value.exit_code == 1
    assert world.source.requests == [] and not any(spool.iterdir())


async def test_downloads_in_flight_count_against_the_free_space(world):
    world.add_maven("com.acme", "a", "1.0", {"a-1.0.jar": BIG, "a-1.0.pom": BIG})
    engine = world.engine()
    engine.source.disk_usage = Disk(SPOOL_FREE_MARGIN + 30_000)  # room for one, not two
    [v] = world.queue.claim("w", limit=1)
    engine.source._reserved = 20_000  # the other file is on its way
    with pytest.raises(SpoolFullError):
        await engine.source.download(v, v.assets[0])
    engine.source._reserved = 0
    f = await engine.source.download(v, v.assets[0])
    assert f.size == 20_000 and engine.source._reserved == 0


async def test_the_disk_filling_up_during_a_download_is_a_spool_error(world, monkeypatch):
    world.add_maven("com.acme", "a", "1.0", {"a-1.0.jar": BIG})
    engine = world.engine()
    engine.source.disk_usage = Disk(10 * 1024 * MiB)

    async def full(client, url, dest, **kw):
        dest.write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(access_mod, "download_to", full)
    [v] = world.queue.claim("w", limit=1)
    with pytest.raises(SpoolFullError, match=re.escape(
            "filled up while downloading com/acme/a/1.0/a-1.0.jar (19.5 KiB")):
        await engine.source.download(v, v.assets[0])
    assert not (world.tmp / "spool" / f"v{v.id}-{v.attempts}" / "a-1.0.jar").exists()


async def test_a_version_without_room_is_retried_and_proceeds_once_space_is_freed(world):
    world.add_maven("com.acme", "big", "1.0", {"big-1.0.jar": BIG})
    world.add_maven("com.acme", "small", "1.0", {"small-1.0.jar": SMALL})
    engine = world.engine(concurrency=1)
    # first look: only room for the small file; afterwards (space freed): plenty
    engine.source.disk_usage = Disk(SPOOL_FREE_MARGIN + 1_000, 10 * 1024 * MiB)
    stats = await engine.run()
    assert world.statuses() == {st.VERIFIED: 2}
    assert stats.retryable == 1 and stats.permanent == 0
    assert requested(world, "big-1.0.jar") == 1  # the refused attempt asked nothing


async def test_a_version_that_never_fits_fails_with_the_fix_and_blocks_nothing(world):
    world.add_maven("com.acme", "big", "1.0", {"big-1.0.jar": BIG})
    world.add_maven("com.acme", "small", "1.0", {"small-1.0.jar": SMALL})
    engine = world.engine(max_attempts=2)
    engine.source.disk_usage = Disk(SPOOL_FREE_MARGIN + 1_000)
    await engine.run()
    rows = dict(world.queue.conn.execute("SELECT package, status FROM versions").fetchall())
    assert rows == {"small": st.VERIFIED, "big": st.FAILED_PERMANENT}
    [reason] = world.queue.conn.execute(
        "SELECT reason FROM versions WHERE package = 'big'").fetchone()
    assert reason.startswith("gave up after 2 attempts: no room in the spool folder")
    assert requested(world, "big-1.0.jar") == 0


async def test_a_state_damaged_mid_run_stops_the_run_with_one_state_error(world):
    """The damage appears while the run goes (here: the assets table's root page is
    overwritten and another connection commits, so the run's cache is dropped); the next
    state call meets it and the run ends with one StateCorruptError, not a traceback."""
    for i in range(40):
        world.add_maven("com.acme", f"a{i}", "1.0", {f"a{i}-1.0.jar": SMALL + bytes([i])})
    path = world.queue.path
    world.queue.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    original = world.source.handler
    damaged = []

    def handler(request):
        if not damaged:
            damaged.append(True)
            con = sqlite3.connect(path)
            page = con.execute("PRAGMA page_size").fetchone()[0]
            root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'assets'"
                               ).fetchone()[0]
            with open(path, "r+b") as fh:
                fh.seek((root - 1) * page)
                fh.write(b"\xa5" * 512)
            con.execute("INSERT INTO meta (key, value) VALUES ('poke', '1') ON CONFLICT "
                        "(key) DO UPDATE SET value = '2'")
            con.commit()
            con.close()
        return original(request)

    world.source.handler = handler
    engine = world.engine(concurrency=2)
    with pytest.raises(StateCorruptError) as exc:
        with anyio.fail_after(30):
            await engine.run()
    assert str(exc.value).startswith(f"{path} is damaged (database disk image is malformed)")
    assert "integrity_check: " in str(exc.value)
