"""Tasks that outlive the handler that started them, owned so shutdown can drain them.

A proxied call keeps running after its client leaves (a plain call is billed if the provider
completes it), and a settlement keeps retrying after the answer went out. Neither may be a
fire-and-forget task: the registry holds a strong reference to each and `drain` waits for
them, so a clean stop never drops a debit on the floor.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("meterway.tasks")


class TaskRegistry:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @staticmethod
    def orphan(task: asyncio.Task[Any]) -> None:
        """The handler awaiting `task` has left: nobody will read its outcome, so a failure
        is logged here, with its traceback, not as asyncio's "exception was never retrieved"."""
        task.add_done_callback(_log_failure)

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout_s: float) -> set[asyncio.Task[Any]]:
        """Wait for every task (and tasks those spawn) up to timeout_s; return the rest."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._tasks:
            left = deadline - loop.time()
            if left <= 0:
                break
            await asyncio.wait(set(self._tasks), timeout=left)
        return set(self._tasks)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None and not isinstance(exc, ConnectionResetError):
        log.error("request task failed after its client left", exc_info=exc)
