"""The task registry: owned tasks are drained, and an orphan's failure is logged, once."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.services.registry import TaskRegistry


async def fail() -> None:
    await asyncio.sleep(0)
    raise RuntimeError("settle exploded")


async def test_an_orphaned_task_failure_is_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks = TaskRegistry()
    task = tasks.spawn(fail())
    tasks.orphan(task)
    with caplog.at_level(logging.ERROR, logger="meterway.tasks"):
        assert await tasks.drain(1.0) == set()
        await asyncio.sleep(0)
    failures = [r for r in caplog.records if r.name == "meterway.tasks"]
    assert len(failures) == 1 and failures[0].exc_info is not None
    assert "settle exploded" in str(failures[0].exc_info[1])


async def test_an_awaited_task_failure_is_left_to_its_awaiter(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks = TaskRegistry()
    with caplog.at_level(logging.ERROR, logger="meterway.tasks"), pytest.raises(RuntimeError):
        await tasks.spawn(fail())
    assert len(tasks) == 0
    assert not [r for r in caplog.records if r.name == "meterway.tasks"]


async def test_a_client_reset_in_an_orphan_is_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def reset() -> None:
        raise ConnectionResetError("client gone")

    tasks = TaskRegistry()
    tasks.orphan(tasks.spawn(reset()))
    with caplog.at_level(logging.ERROR, logger="meterway.tasks"):
        await tasks.drain(1.0)
        await asyncio.sleep(0)
    assert not [r for r in caplog.records if r.name == "meterway.tasks"]
