"""The progress bars move while the run is going, as facts are committed: read the bars'
output with one version held back, and see the others published and verified."""

from __future__ import annotations

import io
import re

import anyio
import pytest

from migrator.pipeline.progress import Progress

pytestmark = pytest.mark.anyio

JAR = b"jar-bytes" * 1000


@pytest.fixture
def anyio_backend():
    return "asyncio"


def last(text: str, bar: str) -> tuple[int, int] | None:
    found = re.findall(rf"{bar}\s*:[^\r\n]*?(\d+)/(\d+)", text)
    return (int(found[-1][0]), int(found[-1][1])) if found else None


async def test_bars_show_published_and_verified_before_the_run_ends(world):
    for name in ("a", "b", "c"):
        world.add_maven("com.acme", name, "1.0", {f"{name}-1.0.jar": JAR})
    gate = anyio.Event()
    seen: dict[str, tuple[int, int] | None] = {}

    async def hold_c(version, files):
        if version.package == "c":
            await gate.wait()

    world.target.before_publish = hold_c
    out = io.StringIO()
    engine = world.engine(concurrency=4)
    engine.progress = Progress(3, 3, enabled=True, file=out, refresh_every=0)

    async def watch() -> None:
        with anyio.fail_after(10):  # a bound, not a timing: the facts arrive in milliseconds
            while last(out.getvalue(), "verified") != (2, 3):
                await anyio.sleep(0.01)
        seen["published"] = last(out.getvalue(), "published")
        seen["verified"] = last(out.getvalue(), "verified")
        gate.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        await engine.run()
    engine.progress.close()
    # while c was held back: a and b were already published and verified, on screen
    assert seen == {"published": (2, 3), "verified": (2, 3)}
    assert last(out.getvalue(), "published") == (3, 3)
    assert last(out.getvalue(), "verified") == (3, 3)
    assert "MB" in out.getvalue() and "0 failed" in out.getvalue()
