"""What `serve` runs beside the requests: every background task under one supervisor
(its report is what /readyz shows), and the HTTP client of exports and notifications.
`create_app` adds `outbound_session` and `background` to its cleanup contexts, after the
stores, the upstream and payments they use are open."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from gateway import telemetry
from gateway.config.settings import Settings
from gateway.http.appkeys import (
    ACCOUNT_ALERTS,
    ANALYTICS_COPIER,
    ANALYTICS_FRESHNESS,
    BATCH_BOOK,
    BYOK,
    CALL_METRICS,
    DIRECTORY,
    GRANTS,
    LEDGER,
    LEDGER_SEALS,
    MEMBERS,
    METER,
    NETWORK_SIGHTINGS,
    NOTIFY,
    OTLP_EXPORTER,
    OTLP_METRICS,
    OUTBOUND_SESSION,
    PAYMENTS,
    PLANS,
    PRICE_DESK,
    PRICING,
    RECEIPT_HEADERS,
    RECONCILER,
    RESPONSE_BOOK,
    SETTINGS,
    SETTLE_JOURNAL,
    STORES,
    SUPERVISOR,
    TRACER,
    UPSTREAM,
    USAGE,
)
from gateway.http.proxy.batches import batch_fetcher, output_fetcher
from gateway.ops.ledger_months import KEEPER_EVERY_S, keep_ahead
from gateway.ops.self_restore import CHECK_EVERY_S, ensure_restored
from gateway.outbound.egress import egress_session
from gateway.outbound.otlp import Exporter
from gateway.outbound.otlp_metrics import MetricExporter
from gateway.services.metering.responses import Fetch
from gateway.services.money.out import resolve
from gateway.services.proof.receipt_header import RECEIPT_HEADER_REFRESH_S
from gateway.services.trust.network_sightings import NETWORK_FLUSH_S
from gateway.services.trust.runway import Runways
from gateway.services.usage.analytics_freshness import Freshness
from gateway.services.usage.reads import UsageReads
from gateway.stores.clickhouse.analytics import ClickHouseAnalytics
from gateway.stores.clickhouse.http import ClickHouseHttp
from gateway.stores.clickhouse.usage import ClickHouseUsage
from gateway.stores.connect import Stores
from gateway.stores.errors import StoreUnavailable
from gateway.stores.records import OwnedResponse
from gateway.workers.analytics_copy import Copier
from gateway.workers.anomalies import Detector
from gateway.workers.billing_clock import BILLING_CLOCK_EVERY_S, billing_tick
from gateway.workers.journal_replay import REPLAY_EVERY_S, replay_leftovers
from gateway.workers.ledger_jobs import ledger_jobs, ledger_seals, ledger_settler
from gateway.workers.outbound import export_jobs, notify_jobs
from gateway.workers.reconciler import Reconciler
from gateway.workers.response_poller import run_response_poller
from gateway.workers.settler import Settler
from gateway.workers.supervisor import Job, Supervisor, every
from gateway.workers.sweeper import sweep_and_apply

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
    if settings.leases:
        with contextlib.suppress(StoreUnavailable):  # the sweeper closes them later
            await app[STORES].store.leases.close_all()
    if settings.settler_enabled:
        with contextlib.suppress(Exception):
            await settler.drain(timeout_s=5)


LEASE_KEEP_S = 0.05  # a round: leases that stopped admitting closed, batches that are due
LEASE_EXTEND_EVERY = 100  # rounds between pushes of the leases' deadlines (~5 s)


def _lease_keeper(stores: Stores, stop: asyncio.Event) -> Job:
    """Applies what each lease's requests appended, closes leases that stopped admitting,
    and keeps the others' deadlines ahead of the sweeper."""
    leases, rounds = stores.store.leases, itertools.count()

    async def keep() -> None:
        try:
            await leases.keep(extend=next(rounds) % LEASE_EXTEND_EVERY == 0, due_only=True)
        finally:
            refused = leases.grants - leases.granted
            telemetry.note_leases(
                id(leases),
                leases.granted,
                refused,
                leases.admitted,
                leases.runs.scripts,
                leases.reclaims,
                leases.held(),
            )

    return every(LEASE_KEEP_S, keep, stop, "leases")


def _journal_replay(app: web.Application, stop: asyncio.Event) -> Job:
    """The settlement journals of processes that are gone, replayed at start and every
    REPLAY_EVERY_S (workers/journal_replay.py)."""
    journal, settlements = app[SETTLE_JOURNAL], app[METER].settlements

    async def replay() -> None:
        await replay_leftovers(journal, settlements)

    return every(REPLAY_EVERY_S, replay, stop, "journal_replay")


def _jobs(app: web.Application, settler: Settler, stop: asyncio.Event) -> Iterator[tuple[str, Job]]:
    settings, stores = app[SETTINGS], app[STORES]

    claims = stores.payments_store().refund_claims

    async def close_hold(shard: int, rid: str) -> bool:
        return await resolve(stores.ledger, stores.store, claims, shard, rid)

    async def sweep() -> None:
        await sweep_and_apply(stores.store, stores.pending, close_hold)

    yield "sweeper", every(settings.sweep_interval_s, sweep, stop, "sweeper")
    yield "journal_replay", _journal_replay(app, stop)
    if settings.leases:
        yield "leases", _lease_keeper(stores, stop)
    if settings.self_restore:

        async def restore() -> None:
            await ensure_restored(stores, app[PLANS], settings, "watcher")

        yield "restorer", every(CHECK_EVERY_S, restore, stop, "restorer")
    book, fetch = app[RESPONSE_BOOK], _fetcher(app)
    every_s = settings.response_poll_interval_s
    yield "response_poller", lambda: run_response_poller(book, fetch, every_s, stop=stop)
    yield "batch_poller", _batch_poller(app, stop)
    receipts = app[RECEIPT_HEADERS]
    yield (
        "receipt_headers",
        every(RECEIPT_HEADER_REFRESH_S, receipts.refresh, stop, "receipt_headers"),
    )
    yield "byok_keys", every(settings.byok_refresh_s, app[BYOK].refresh, stop, "byok_keys")
    if settings.settler_enabled:
        seals = app[LEDGER_SEALS] = ledger_seals(stores, settings)
        yield from ledger_jobs(settler, stores, stop, seals)
    session = app[OUTBOUND_SESSION]
    yield from export_jobs(settings, stores.exports(), session, stop)
    alerts, members = app[ACCOUNT_ALERTS], app[MEMBERS]
    payments = app[PAYMENTS]
    commitments = (stores.commitments(), stores.store.commitments)
    runways = Runways(
        app[LEDGER], stores.store, app[USAGE], app[GRANTS], payments.profiles, commitments
    )
    yield from notify_jobs(
        settings, stores.store, app[NOTIFY], alerts, session, stop, members, runways.of
    )
    sightings = app[NETWORK_SIGHTINGS]
    yield "network_sightings", every(NETWORK_FLUSH_S, sightings.flush, stop, "network_sightings")
    detector = Detector(stores.anomalies(), stores.store)
    yield "anomalies", every(settings.anomaly_every_s, detector.tick, stop, "anomalies")
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
    price_every = settings.price_review.poll_s
    yield "price_changes", every(price_every, app[PRICE_DESK].tick, stop, "price_changes")
    yield from _otlp_jobs(app, stop)
    yield from _reconcile_jobs(app, stop)
    if ANALYTICS_COPIER in app:
        copier = app[ANALYTICS_COPIER]
        every_s = settings.analytics.every_s
        yield "analytics_copy", every(every_s, copier.run_round, stop, "analytics_copy")


def _reconcile_jobs(app: web.Application, stop: asyncio.Event) -> Iterator[tuple[str, Job]]:
    """The reconciliation against the providers' reports, when an admin key is set, where
    ledger work runs (not in a gateway that only forwards, SETTLER_DISABLED=1)."""
    settings, stores = app[SETTINGS].reconcile, app[STORES]
    if settings.enabled and app[SETTINGS].settler_enabled:
        reconciler = Reconciler(settings, stores.provider_reconciliation(), stores.notify_ledger())
        app[RECONCILER] = reconciler
        yield "provider_reconcile", every(settings.every_s, reconciler.run_round, stop, "reconcile")


def _otlp_jobs(app: web.Application, stop: asyncio.Event) -> Iterator[tuple[str, Job]]:
    """The OpenTelemetry exporters that are on: spans, metrics."""
    if TRACER in app:
        yield "otlp_exporter", _exporter(app, stop)
    if CALL_METRICS in app:
        yield "otlp_metrics", _metric_exporter(app, stop)


def _exporter(app: web.Application, stop: asyncio.Event) -> Job:
    """Spans to the collector (outbound/otlp.py), woken early when a batch is full."""
    tracer = app[TRACER]
    exporter = app[OTLP_EXPORTER] = Exporter(app[SETTINGS].traces, tracer.take)
    tracer.wake = exporter.wake.set
    return lambda: exporter.run(stop)


def _metric_exporter(app: web.Application, stop: asyncio.Event) -> Job:
    """Tokens, cost and the gateway's time to the collector (outbound/otlp_metrics.py),
    woken early to add up a half-full queue."""
    calls = app[CALL_METRICS]
    exporter = app[OTLP_METRICS] = MetricExporter(app[SETTINGS].metrics, calls.fold)
    calls.wake = exporter.wake.set
    return lambda: exporter.run(stop)


@contextlib.asynccontextmanager
async def open_analytics(
    settings: Settings, stores: Stores
) -> AsyncIterator[tuple[Copier, Freshness, ClickHouseUsage]]:
    """The copy of the ledger to ClickHouse and the usage reads from it, over an HTTP
    session of their own (ClickHouse is the operator's own service, not an egress
    destination)."""
    async with aiohttp.ClientSession() as session:
        client = ClickHouseHttp(settings.analytics, session)
        ledger = stores.analytics_copy()
        store = ClickHouseAnalytics(client)
        copier = Copier(ledger, store, settings.analytics.batch_rows)
        fresh = Freshness(ledger, store, settings.analytics.max_lag_s)
        yield copier, fresh, ClickHouseUsage(client, ledger.key_groups)


async def analytics(app: web.Application) -> AsyncIterator[None]:
    """Where usage reports read; with CLICKHOUSE_URL set, the copier the background task
    runs and /readyz reports, and ClickHouse for reports once the copy has caught up."""
    settings = app[SETTINGS].analytics
    if not settings.enabled:
        app[USAGE] = UsageReads(app[DIRECTORY])
        yield
        return
    async with open_analytics(app[SETTINGS], app[STORES]) as (copier, fresh, usage):
        app[ANALYTICS_COPIER] = copier
        app[ANALYTICS_FRESHNESS] = fresh
        app[USAGE] = UsageReads(app[DIRECTORY], usage, fresh)
        yield


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
