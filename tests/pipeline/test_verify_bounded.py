"""A version that was published but never appears in the target (what a hostile wheel
published under another package's name looked like) is not polled for ever: each claim polls
for `verify_timeout`, the version is retried up to `max_attempts`, then given up with a
reason that says what was missing."""

from __future__ import annotations

import anyio
import pytest

from migrator.state import status as st

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def test_a_version_that_never_appears_is_given_up_after_bounded_polling(world):
    world.add_maven("com.acme", "ghost", "1.0", {"ghost-1.0.jar": b"jar" * 100})
    world.add_maven("com.acme", "ok", "1.0", {"ok-1.0.jar": b"ok" * 100})
    real_check = world.target.check_version

    async def never_there(v):
        if v.package == "ghost":
            world.target.checks += 1
            from migrator.models import VersionCheck

            return VersionCheck(status=None, origin=None)
        return await real_check(v)

    world.target.check_version = never_there
    started = anyio.current_time()
    with anyio.fail_after(30):
        await world.engine(max_attempts=2, verify_timeout=0.2).run()
    assert anyio.current_time() - started < 30
    rows = dict(world.queue.conn.execute("SELECT package, status FROM versions").fetchall())
    assert rows == {"ghost": st.FAILED_PERMANENT, "ok": st.VERIFIED}
    reason = world.queue.conn.execute(
        "SELECT reason FROM versions WHERE package = 'ghost'").fetchone()[0]
    assert "not verifiable yet" in reason
