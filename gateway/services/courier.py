"""E-mail sent off the request path. A handler that awaited its mail would answer later for
an address that gets one than for one that does not (and meet an error only the first can
meet), so the sign-in form would say who has an account. The courier runs each send as a
task of its own registry (held until done, drained at shutdown); a failure is logged and
counted in `meterway_mail_failures_total`, never lost and never shown to whoever asked."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any

from gateway.services.registry import TaskRegistry
from gateway.telemetry import metrics

log = logging.getLogger("meterway.mail")


class Courier:
    def __init__(self) -> None:
        self._tasks = TaskRegistry()

    def post(self, kind: str, job: Coroutine[Any, Any, None]) -> None:
        """Run `job` (a `kind` of mail: `signin_link`, `invitation`) in the background."""
        self._tasks.spawn(self._run(kind, job))

    async def _run(self, kind: str, job: Coroutine[Any, Any, None]) -> None:
        try:
            await job
        except Exception:
            metrics().mail_failures.labels(kind).inc()
            log.exception("%s e-mail not sent", kind)

    async def drain(self, timeout_s: float) -> None:
        """Wait for the mail in flight at shutdown, up to `timeout_s`; say what is left."""
        left = await self._tasks.drain(timeout_s)
        if left:
            log.warning("%d e-mails still being sent at shutdown are dropped", len(left))
