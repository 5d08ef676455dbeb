"""A run's start beside its preflight: nothing written before the checks pass, and the
preflight's failure is what the run reports (migrator.pipeline.run.behind_preflight)."""

from __future__ import annotations

import anyio
import pytest

from migrator.errors import ConfigError, PreflightFailed, SourceError
from migrator.pipeline.run import behind_preflight

pytestmark = pytest.mark.anyio


def failed() -> PreflightFailed:
    return PreflightFailed("preflight found 1 problem:\n  - CodeArtifact domain 'dmeo' ...")


class Script:
    """A preflight and a run's start whose steps the test releases one by one."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.finish_check = anyio.Event()
        self.check_error: Exception | None = None

    async def check(self) -> None:
        self.log.append("check starts")
        await self.finish_check.wait()
        self.log.append("check ends")
        if self.check_error is not None:
            raise self.check_error


async def test_the_body_reads_beside_the_check_and_writes_only_after_it_passed():
    s = Script()

    async def body(gate):
        s.log.append("body reads")
        s.finish_check.set()
        await gate.passed()
        s.log.append("body writes")
        return "summary"

    assert await behind_preflight(s.check, body) == "summary"
    assert s.log == ["check starts", "body reads", "check ends", "body writes"]


async def test_a_failed_check_stops_the_body_before_any_write():
    s = Script()
    s.check_error = failed()

    async def body(gate):
        s.log.append("body reads")
        s.finish_check.set()
        await gate.passed()
        s.log.append("body writes")

    with pytest.raises(PreflightFailed):
        await behind_preflight(s.check, body)
    assert "body writes" not in s.log


async def test_a_failed_check_cancels_a_body_still_reading():
    s = Script()
    s.check_error = failed()
    never = anyio.Event()

    async def body(gate):
        s.finish_check.set()
        await never.wait()  # a long crawl

    with anyio.fail_after(5), pytest.raises(PreflightFailed):
        await behind_preflight(s.check, body)


async def test_the_checks_failure_wins_over_the_bodys_own_when_both_fail():
    s = Script()
    s.check_error = failed()

    async def body(gate):
        # the look-up the wrong domain makes fail, before the preflight has said so
        s.finish_check.set()
        raise SourceError("CodeArtifact DescribeRepository: ResourceNotFoundException")

    with pytest.raises(PreflightFailed):
        await behind_preflight(s.check, body)


async def test_the_bodys_failure_stands_when_the_check_passed():
    s = Script()

    async def body(gate):
        s.finish_check.set()
        raise ConfigError("--stage 9 selects no repository")

    with pytest.raises(ConfigError, match="--stage 9"):
        await behind_preflight(s.check, body)
    assert s.log == ["check starts", "check ends"]


async def test_without_a_check_the_body_runs_alone():
    async def body(gate):
        await gate.passed()
        return 7

    assert await behind_preflight(None, body) == 7


async def test_a_signal_during_the_start_is_raised_as_itself():
    """SIGINT, SIGTERM or a lost lease arrive as KeyboardInterrupt wherever the process is;
    raised in the start of the run (beside the check), the run's handler (exit 3, resumable)
    must see it, not the task group wrapping it. (One raised in the check's own task leaves
    the event loop at once: asyncio lets no task keep it.)"""
    s = Script()

    async def body(gate):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await behind_preflight(s.check, body)
