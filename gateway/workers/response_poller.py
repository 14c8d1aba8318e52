"""Polls background responses nobody retrieves, so each is settled soon after it ends.

Every gateway process runs one; they share the due set in Redis, and a response two of them
see finished at once is still settled once (settle.lua closes a reservation once).
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from gateway.services.metering.responses import Fetch, ResponseBook
from gateway.stores.errors import HotStoreUnavailable
from gateway.workers.tasks import pause, raise_if_cancelling, running

log = logging.getLogger("meterway.response_poller")


async def run_response_poller(
    book: ResponseBook, fetch: Fetch, interval_s: float = 1.0, stop: asyncio.Event | None = None
) -> None:
    while running(stop):
        try:
            settled = await book.poll_once(fetch)
            if settled:
                log.info("settled %d background responses", settled)
        except (HotStoreUnavailable, aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise_if_cancelling()
            log.warning("response poller: %s", exc)
        await pause(stop, interval_s)
