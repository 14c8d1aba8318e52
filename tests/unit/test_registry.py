"""The task registry: an owned task's failure is left to whoever awaits it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.services.registry import TaskRegistry


async def fail() -> None:
    await asyncio.sleep(0)
    raise RuntimeError("settle exploded")


async def test_an_awaited_task_failure_is_left_to_its_awaiter(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks = TaskRegistry()
    with caplog.at_level(logging.ERROR, logger="meterway.tasks"), pytest.raises(RuntimeError):
        await tasks.spawn(fail())
    assert len(tasks) == 0
    assert not [r for r in caplog.records if r.name == "meterway.tasks"]
