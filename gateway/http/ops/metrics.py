"""/metrics in the Prometheus text format: the families of gateway/telemetry.py (summed
over every worker when WORKERS > 1), then how far settlement lags behind serving.

The backlog lives in Redis, so every gateway process reports the same cluster-wide numbers;
meterway_settler_written_total counts ledger rows written by all settler processes.
"""

from __future__ import annotations

from aiohttp import web

from billing import authority
from gateway import telemetry
from gateway.errors import NotFound, ServiceUnavailable
from gateway.http.appkeys import (
    ANALYTICS_COPIER,
    ANALYTICS_FRESHNESS,
    COUNTER,
    LEDGER_SEALS,
    RECONCILER,
    STORE,
    UPSTREAMS,
)
from gateway.http.openapi.paths import operator as ops_doc
from gateway.http.ops.access import ops_allowed
from gateway.http.routing import Route, declare
from gateway.stores.errors import StoreUnavailable

CONTENT_TYPE = "text/plain"


def render(backlog_length: int, lag_ms: int, written: int, parked: int) -> str:
    return (
        "# HELP meterway_settlement_backlog Settlements queued in Redis, not yet in the ledger.\n"
        "# TYPE meterway_settlement_backlog gauge\n"
        f"meterway_settlement_backlog {backlog_length}\n"
        "# HELP meterway_settlement_lag_seconds Age of the oldest queued settlement.\n"
        "# TYPE meterway_settlement_lag_seconds gauge\n"
        f"meterway_settlement_lag_seconds {lag_ms / 1000:.3f}\n"
        "# HELP meterway_settler_written_total Ledger rows written by the settlers.\n"
        "# TYPE meterway_settler_written_total counter\n"
        f"meterway_settler_written_total {written}\n"
        "# HELP meterway_settlement_dead_letters Settlements the ledger refused, parked.\n"
        "# TYPE meterway_settlement_dead_letters gauge\n"
        f"meterway_settlement_dead_letters {parked}\n"
    )


def analytics_lines(lag_s: float, copied: int, from_clickhouse: bool) -> str:
    return (
        "# HELP meterway_analytics_copy_lag_seconds Age of the oldest ledger entry ClickHouse"
        " lacks.\n"
        "# TYPE meterway_analytics_copy_lag_seconds gauge\n"
        f"meterway_analytics_copy_lag_seconds {lag_s:.3f}\n"
        "# HELP meterway_analytics_reports_from_clickhouse 1 while usage reports read"
        " ClickHouse, 0 while they read PostgreSQL (/readyz says why).\n"
        "# TYPE meterway_analytics_reports_from_clickhouse gauge\n"
        f"meterway_analytics_reports_from_clickhouse {int(from_clickhouse)}\n"
        "# HELP meterway_analytics_copied_total Ledger entries this process copied to ClickHouse.\n"
        "# TYPE meterway_analytics_copied_total counter\n"
        f"meterway_analytics_copied_total {copied}\n"
    )


async def metrics(request: web.Request) -> web.Response:
    if not ops_allowed(request):
        raise NotFound("Unknown path.")  # served on ADMIN_LISTEN_ADDR, or with the admin key
    store = request.app[STORE]
    try:
        lag = await store.backlog()
        written = await store.settled_total()
        parked = await store.dead_letter_count()
    except StoreUnavailable as exc:
        raise ServiceUnavailable("Redis is unreachable; no settlement metrics.") from exc
    request.app[UPSTREAMS].report()  # ends the cool-downs due, so their gauges read 0
    kept = request.app[COUNTER].cache
    telemetry.note_kept_counts(id(kept), kept.hits, kept.misses)
    body = telemetry.exposition().decode() + render(lag.length, lag.oldest_age_ms, written, parked)
    copier = request.app.get(ANALYTICS_COPIER)
    if copier is not None:
        verdict = await request.app[ANALYTICS_FRESHNESS].verdict(fresh=True)
        body += analytics_lines(verdict.lag_s, copier.copied_rows, verdict.serve)
    seals = request.app.get(LEDGER_SEALS)
    if seals is not None:
        body += seals.metric_lines()
    reconciler = request.app.get(RECONCILER)
    if reconciler is not None:
        body += reconciler.metric_lines()
    return web.Response(text=body, content_type=CONTENT_TYPE, charset="utf-8")


def add_routes(app: web.Application) -> None:
    declare(app.router, Route("GET", "/metrics", metrics, authority.OPERATOR, doc=ops_doc.METRICS))
