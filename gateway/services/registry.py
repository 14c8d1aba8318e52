"""Tasks that outlive the code that started them, owned so shutdown can drain them.

A settlement keeps retrying after the answer went out, and a failed call's reservation is
released after its handler returned. Neither may be a fire-and-forget task: the registry
holds a strong reference to each and `drain` waits for them, so a clean stop never drops a
debit on the floor. (A proxied call that outlives its client is not one of them: its
handler runs on, see gateway/http/server.py's CLIENT_LEFT.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


class TaskRegistry:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(
        self, timeout_s: float, also: Iterable[asyncio.Task[Any]] = ()
    ) -> set[asyncio.Task[Any]]:
        """Wait for every task (and tasks those spawn), and for `also`, up to timeout_s;
        return the ones still running."""
        extra = set(also)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while running := self._tasks | {t for t in extra if not t.done()}:
            left = deadline - loop.time()
            if left <= 0:
                return running
            await asyncio.wait(running, timeout=left)
        return set()
