"""What `serve` runs beside the requests: every background task under one supervisor
(its report is what /readyz shows), and the HTTP client of exports and notifications.
`create_app` adds `outbound_session` and `background` to its cleanup contexts, after the
stores, the upstream and payments they use are open."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from gateway.appkeys import (
    ACCOUNT_ALERTS,
    BATCH_BOOK,
    MEMBERS,
    METER,
    NOTIFY,
    OTLP_EXPORTER,
    OUTBOUND_SESSION,
    PAYMENTS,
    PLANS,
    PRICING,
    RESPONSE_BOOK,
    SETTINGS,
    STORES,
    SUPERVISOR,
    TRACER,
    UPSTREAM,
)
from gateway.http.proxy.batches import batch_fetcher, output_fetcher
from gateway.ops.ledger_months import KEEPER_EVERY_S, keep_ahead
from gateway.ops.self_restore import CHECK_EVERY_S, ensure_restored
from gateway.outbound.egress import egress_session
from gateway.outbound.otlp import Exporter
from gateway.services.responses import Fetch
from gateway.stores.records import OwnedResponse
from gateway.workers.billing_clock import BILLING_CLOCK_EVERY_S, billing_tick
from gateway.workers.ledger_jobs import ledger_jobs, ledger_settler
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
    settings = app[SETTINGS]
    supervisor = app[SUPERVISOR] = Supervisor()
    settler = ledger_settler(app[STORES], settings)
    for name, job in _jobs(app, settler, supervisor.stop):
        supervisor.start(name, job)
    yield
    await app[METER].drain(settings.drain_timeout_s)  # in-flight calls settle first
    await supervisor.close()
    if settings.settler_enabled:
        with contextlib.suppress(Exception):
            await settler.drain(timeout_s=5)


def _jobs(app: web.Application, settler: Settler, stop: asyncio.Event) -> Iterator[tuple[str, Job]]:
    settings, stores = app[SETTINGS], app[STORES]

    async def sweep() -> None:
        await sweep_and_apply(stores.store, stores.pending)

    yield "sweeper", every(SWEEP_EVERY_S, sweep, stop, "sweeper")
    if settings.self_restore:

        async def restore() -> None:
            await ensure_restored(stores, app[PLANS], settings, "watcher")

        yield "restorer", every(CHECK_EVERY_S, restore, stop, "restorer")
    book, fetch = app[RESPONSE_BOOK], _fetcher(app)
    yield "response_poller", lambda: run_response_poller(book, fetch, stop=stop)
    yield "batch_poller", _batch_poller(app, stop)
    if settings.settler_enabled:
        yield from ledger_jobs(settler, stores, stop)
    session = app[OUTBOUND_SESSION]
    yield from export_jobs(settings, stores.exports(), session, stop)
    alerts, members = app[ACCOUNT_ALERTS], app[MEMBERS]
    yield from notify_jobs(settings, stores.store, app[NOTIFY], alerts, session, stop, members)
    payments = app[PAYMENTS]
    yield (
        "billing_clock",
        every(BILLING_CLOCK_EVERY_S, lambda: billing_tick(payments), stop, "billing_clock"),
    )

    async def keep_months() -> None:
        for added in await keep_ahead(stores, datetime.now(UTC)):
            logging.getLogger("meterway.ledger").info(
                "ledger partition %s created (%d rows from DEFAULT)", added.month, added.moved
            )

    yield "ledger_partitions", every(KEEPER_EVERY_S, keep_months, stop, "ledger_partitions")
    if TRACER in app:
        yield "otlp_exporter", _exporter(app, stop)


def _exporter(app: web.Application, stop: asyncio.Event) -> Job:
    """Spans to the collector (outbound/otlp.py), woken early when a batch is full."""
    tracer = app[TRACER]
    exporter = app[OTLP_EXPORTER] = Exporter(app[SETTINGS].traces, tracer.take)
    tracer.wake = exporter.wake.set
    return lambda: exporter.run(stop)


async def outbound_session(app: web.Application) -> AsyncIterator[None]:
    """The HTTP client of usage exports and notifications, held to the egress rules
    (outbound/egress.py); closed after the tasks stop."""
    async with egress_session(app[SETTINGS].outbound.egress) as session:
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
