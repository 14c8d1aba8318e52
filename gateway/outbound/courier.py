"""E-mail sent off the request path. A handler that awaited its mail would answer later for
an address that gets one than for one that does not (and tell an error only the first can
meet), so the sign-in form would say who has an account. The courier runs each send as its
own task: held until done (drained at shutdown), and a failure is logged and counted in
`meterway_mail_failures_total`, never lost and never shown to the person who asked."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from gateway.telemetry import metrics

log = logging.getLogger("meterway.mail")


class Courier:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def post(self, kind: str, job: Coroutine[Any, Any, None]) -> None:
        """Run `job` (a `kind` of mail: `signin_link`, `invitation`) in the background."""
        task = asyncio.get_running_loop().create_task(self._run(kind, job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, kind: str, job: Coroutine[Any, Any, None]) -> None:
        try:
            await job
        except Exception:
            metrics().mail_failures.labels(kind).inc()
            log.exception("%s e-mail not sent", kind)

    async def drain(self, timeout_s: float) -> None:
        """Wait for the mail in flight at shutdown, up to `timeout_s`."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)
