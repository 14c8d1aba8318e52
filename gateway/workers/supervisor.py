"""Supervision for every background task (settler, sweeper, and whatever comes next).

A task that raises is logged with its traceback and restarted after a backoff that grows
while it keeps failing; its state is kept for /readyz, so a dead or crash-looping task is
visible instead of silently leaving the backlog to grow. Stopping is by an event, then by
cancellation (see workers/tasks.py for why both).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.stores.errors import StoreUnavailable
from gateway.workers.tasks import pause, raise_if_cancelling, running

log = logging.getLogger("meterway.supervisor")
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.5, 30.0
HEALTHY_AFTER_S = 30.0  # a crash this recent still marks the task unhealthy
Job = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class TaskState:
    name: str
    running: bool = False
    crashes: int = 0
    last_error: str | None = None
    last_crash_at: float | None = None

    def healthy(self, now: float) -> bool:
        recent = self.last_crash_at is not None and now - self.last_crash_at < HEALTHY_AFTER_S
        return self.running and not recent

    def report(self, now: float) -> dict[str, object]:
        return {
            "healthy": self.healthy(now),
            "running": self.running,
            "crashes": self.crashes,
            "last_error": self.last_error,
        }


def every(interval_s: float, job: Job, stop: asyncio.Event, name: str) -> Job:
    """A periodic job: a store being away is a warning and the next round retries; any other
    error escapes to the supervisor."""

    async def loop() -> None:
        while running(stop):
            try:
                await job()
            except StoreUnavailable as exc:
                raise_if_cancelling()
                log.warning("%s: %s", name, exc)
            await pause(stop, interval_s)

    return loop


class Supervisor:
    def __init__(self, stop: asyncio.Event | None = None) -> None:
        self.stop = stop or asyncio.Event()
        self.states: dict[str, TaskState] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, name: str, job: Job) -> None:
        state = TaskState(name)
        self.states[name] = state
        self._tasks.append(asyncio.create_task(self._keep(state, job), name=name))

    async def _keep(self, state: TaskState, job: Job) -> None:
        delay = BACKOFF_MIN_S
        while running(self.stop):
            started = time.monotonic()
            state.running = True
            try:
                await job()
                if not running(self.stop):
                    return
                raise RuntimeError(f"{state.name} returned while it should run")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                state.running = False
                state.crashes += 1
                state.last_error = f"{type(exc).__name__}: {exc}"
                state.last_crash_at = time.monotonic()
                if time.monotonic() - started > HEALTHY_AFTER_S:
                    delay = BACKOFF_MIN_S
                log.exception("%s crashed; restarting in %.1fs", state.name, delay)
                await pause(self.stop, delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
            finally:
                state.running = False

    def report(self) -> dict[str, dict[str, object]]:
        now = time.monotonic()
        return {name: s.report(now) for name, s in self.states.items()}

    def healthy(self) -> bool:
        now = time.monotonic()
        return all(s.healthy(now) for s in self.states.values())

    async def close(self, timeout_s: float = 5.0) -> None:
        self.stop.set()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
