"""What `serve` runs beside the requests: every background task under one supervisor
(its report is what /readyz shows), and the HTTP client of exports and notifications.
`create_app` adds `outbound_session` and `background` to its cleanup contexts, after the
stores, the upstream and payments they use are open."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from gateway.appkeys import (
    ACCOUNT_ALERTS,
    BATCH_BOOK,
    METER,
    NOTIFY,
    OUTBOUND_SESSION,
    PAYMENTS,
    PLANS,
    PRICING,
    RESPONSE_BOOK,
    SETTINGS,
    STORES,
    SUPERVISOR,
    UPSTREAM,
)
from gateway.http.batches import batch_fetcher, output_fetcher
from gateway.ops.ledger_months import KEEPER_EVERY_S, keep_ahead
from gateway.ops.self_restore import CHECK_EVERY_S, ensure_restored, lock_name
from gateway.services.responses import Fetch
from gateway.stores.records import OwnedResponse
from gateway.workers.billing_clock import BILLING_CLOCK_EVERY_S, billing_tick
from gateway.workers.grant_keeper import GRANT_KEEPER_EVERY_S, GrantKeeper
from gateway.workers.outbound import export_jobs, notify_jobs
from gateway.workers.response_poller import run_response_poller
from gateway.workers.settler import Settler
from gateway.workers.supervisor import Job, Supervisor, every
from gateway.workers.sweeper import sweep_and_apply

SWEEP_EVERY_S = 5.0
BATCH_POLL_S = 60.0  # running batches are looked at this often when no owner asks


def _batch_poller(app: web.Application, stop: asyncio.Event) -> Job:
    """Running batches no owner asks about are looked at every BATCH_POLL_S, and settled
    when seen ended."""
    book, upstream = app[BATCH_BOOK], app[UPSTREAM]
    fetch_batch, fetch_output = batch_fetcher(upstream), output_fetcher(upstream)

    async def poll() -> None:
        await book.poll_once(fetch_batch, fetch_output)

    return every(BATCH_POLL_S, poll, stop, "batch_poller")


async def background(app: web.Application) -> AsyncIterator[None]:
    """Every background task runs under the supervisor, whose report /readyz shows."""
    settings, stores = app[SETTINGS], app[STORES]
    supervisor = app[SUPERVISOR] = Supervisor()
    stop = supervisor.stop

    async def sweep() -> None:
        await sweep_and_apply(stores.store, stores.pending)

    supervisor.start("sweeper", every(SWEEP_EVERY_S, sweep, stop, "sweeper"))
    if settings.self_restore:

        async def restore() -> None:
            await ensure_restored(stores, app[PLANS], settings, "watcher")

        supervisor.start("restorer", every(CHECK_EVERY_S, restore, stop, "restorer"))
    book, fetch = app[RESPONSE_BOOK], _fetcher(app)
    supervisor.start("response_poller", lambda: run_response_poller(book, fetch, stop=stop))
    supervisor.start("batch_poller", _batch_poller(app, stop))
    stream = stores.settlement_stream(settings.settler_name)
    settler = Settler(
        stream,
        stores.ledger,
        batch=settings.settler_batch,
        lanes=settings.settler_lanes,
        fence=stores.operator().restore_fence(lock_name(settings)),
    )
    if settings.settler_enabled:
        supervisor.start("settler", lambda: settler.run(stop=stop))
    exports = stores.exports()
    session = app[OUTBOUND_SESSION]
    for name, job in export_jobs(settings, exports, session, stop):
        supervisor.start(name, job)
    alerts = app[ACCOUNT_ALERTS]
    for name, job in notify_jobs(settings, stores.store, app[NOTIFY], alerts, session, stop):
        supervisor.start(name, job)
    payments = app[PAYMENTS]
    clock = every(BILLING_CLOCK_EVERY_S, lambda: billing_tick(payments), stop, "billing_clock")
    supervisor.start("billing_clock", clock)
    keeper = GrantKeeper(stores.grants(), stores.grant_write_offs())
    grants = every(GRANT_KEEPER_EVERY_S, keeper.tick, stop, "grant_keeper")
    supervisor.start("grant_keeper", grants)

    async def keep_months() -> None:
        for added in await keep_ahead(stores, datetime.now(UTC)):
            logging.getLogger("meterway.ledger").info(
                "ledger partition %s created (%d rows from DEFAULT)", added.month, added.moved
            )

    months = every(KEEPER_EVERY_S, keep_months, stop, "ledger_partitions")
    supervisor.start("ledger_partitions", months)
    yield
    await app[METER].drain(settings.drain_timeout_s)  # in-flight calls settle first
    await supervisor.close()
    if settings.settler_enabled:
        with contextlib.suppress(Exception):
            await settler.drain(timeout_s=5)


async def outbound_session(app: web.Application) -> AsyncIterator[None]:
    """The HTTP client of usage exports and notifications; closed after the tasks stop."""
    async with aiohttp.ClientSession() as session:
        app[OUTBOUND_SESSION] = session
        yield


def _fetcher(app: web.Application) -> Fetch:
    """How the background poller reads a response: from the provider of its model."""

    async def fetch(rec: OwnedResponse) -> tuple[int, Any]:
        provider = app[PRICING].models[rec.model].provider
        path = f"/responses/{rec.response_id}"
        status, raw, _ = await app[UPSTREAM].call(provider, "GET", path, {}, None)
        return status, orjson.loads(raw) if status == 200 else None

    return fetch
