"""Helpers for long-running background loops."""

from __future__ import annotations

import asyncio
import contextlib


def raise_if_cancelling() -> None:
    """Re-raise a cancellation that a library turned into another error.

    redis-py and asyncpg may convert a CancelledError delivered mid-command into a
    connection error; a loop that catches connection errors to retry must then stop
    instead of swallowing the shutdown.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def pause(stop: asyncio.Event | None, seconds: float) -> None:
    """Sleep, waking early when asked to stop.

    Background loops stop on an event rather than on cancellation alone: on Python 3.11 a
    cancellation that lands inside a library's own timeout can be swallowed, and the loop
    would then never end.
    """
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def running(stop: asyncio.Event | None) -> bool:
    return stop is None or not stop.is_set()
