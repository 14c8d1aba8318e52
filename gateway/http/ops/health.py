"""Liveness and readiness: /healthz says the process runs, /readyz that it can meter, and
`/` that this is Meterway (clients such as Claude Code probe it with HEAD before calling).

/readyz answers within READYZ_CHECK_TIMEOUT_S (and the little its own work takes) whatever
a store does: its store checks run at once, and one that has not answered by then counts
as away, named in `stores_away`, and is left to end on its own (a PostgreSQL that passes no
bytes does not even let a cancelled query end)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from aiohttp import web
from aiohttp.helpers import ChainMapProxy

from billing import authority
from gateway.build import build
from gateway.errors import STORE_NAMES
from gateway.http.appkeys import (
    ANALYTICS_COPIER,
    ANALYTICS_FRESHNESS,
    CALL_METRICS,
    LEDGER,
    LEDGER_SEALS,
    OTLP_EXPORTER,
    OTLP_METRICS,
    PRICING,
    RECONCILER,
    SETTINGS,
    STORE,
    SUPERVISOR,
    TRACER,
    UPSTREAMS,
)
from gateway.http.openapi.paths import operator as ops_doc
from gateway.http.ops.access import ops_allowed
from gateway.http.routing import Route, declare
from gateway.stores.errors import StoreUnavailable
from gateway.stores.ports import HotStorePort

BUILD = build()


async def healthz(request: web.Request) -> web.Response:
    """The process runs, and which build it is (gateway/build.py)."""
    return web.json_response({"status": "ok", "build": BUILD})


async def root(request: web.Request) -> web.Response:
    """What answers at the base URL: where the API, its docs and the dashboard are."""
    return web.json_response(
        {"object": "meterway", "api": "/v1", "docs": "/docs/api", "dashboard": "/dashboard"}
    )


def _shown_only(app: ChainMapProxy) -> dict[str, Any]:
    """What the optional tasks report: shown, alerted on, never a cause of unreadiness."""
    out: dict[str, Any] = {}
    exporter = app.get(OTLP_EXPORTER)
    if exporter is not None:  # a collector that is down never makes the gateway unready
        out["traces"] = {**exporter.report(), **app[TRACER].report()}
    metric_exporter = app.get(OTLP_METRICS)
    if metric_exporter is not None:  # the same for metrics
        out["metrics"] = {**metric_exporter.report(), **app[CALL_METRICS].report()}
    seals = app.get(LEDGER_SEALS)
    if seals is not None:  # a failed check is shown and alerted on
        out["ledger_proof"] = seals.report()
    reconciler = app.get(RECONCILER)
    if reconciler is not None:  # a provider whose reports are unread is shown
        out["provider_reconciliation"] = reconciler.report()
    return out


async def _redis(store: HotStorePort) -> dict[str, Any]:
    consistent = await store.consistent()
    lag = await store.backlog()
    return {
        "redis": True,
        "redis_consistent": consistent,
        "settlement_backlog": lag.length,
        "settlement_lag_ms": lag.oldest_age_ms,
        "settlement_dead_letters": await store.dead_letter_count(),
    }


async def _within(bound_s: float, checks: dict[str, Awaitable[Any]]) -> dict[str, Any]:
    """Each check's result, all run at once; None for one that failed with its store away
    or did not answer within `bound_s` (cancelled, not waited for)."""
    tasks = {name: asyncio.ensure_future(check) for name, check in checks.items()}
    await asyncio.wait(tasks.values(), timeout=bound_s)
    results: dict[str, Any] = {}
    for name, task in tasks.items():
        if not task.done():
            task.cancel()
            task.add_done_callback(_retrieved)
            results[name] = None
        elif isinstance(task.exception(), StoreUnavailable):
            results[name] = None
        else:
            results[name] = task.result()  # any other error is a fault: /readyz fails
    return results


def _retrieved(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


async def readiness(request: web.Request) -> dict[str, Any]:
    """Whether the gateway can meter, and why not: /readyz and the operators' dashboard."""
    app = request.config_dict
    bound_s = app[SETTINGS].readyz_check_timeout_s
    checks: dict[str, Awaitable[Any]] = {
        "postgres": app[LEDGER].ping(timeout_s=bound_s),
        "redis": _redis(app[STORE]),
    }
    copier = app.get(ANALYTICS_COPIER)
    if copier is not None:  # ClickHouse being away delays the copy, never readiness
        checks["analytics"] = app[ANALYTICS_FRESHNESS].verdict(fresh=True)
    answered = await _within(bound_s, checks)
    details: dict[str, Any] = {"postgres": bool(answered["postgres"])}
    details.update(answered["redis"] or {"redis": False, "redis_consistent": False})
    away = [name for name in ("postgres", "redis") if not details[name]]
    if away:
        details["stores_away"] = away
        names = " and ".join(STORE_NAMES[name] for name in away)
        details["error"] = f"{names} did not answer within {bound_s:g} s"
    details["price_catalogue"] = app[PRICING].catalogue_version or "not served"
    upstreams = app[UPSTREAMS].report()
    if upstreams:  # a cooling upstream leaves the gateway ready: its model has others
        details["upstreams"] = upstreams
    supervisor = app.get(SUPERVISOR)
    tasks_ok = supervisor is None or supervisor.healthy()
    if supervisor is not None:
        details["tasks"] = supervisor.report()  # a dead or crash-looping task is not ready
    details.update(_shown_only(app))
    if copier is not None:
        verdict = answered["analytics"]
        checked = verdict.report() if verdict is not None else {"checked": False}
        details["analytics"] = {**copier.report(), **checked}
    ok = details["redis"] and details["postgres"] and details["redis_consistent"] and tasks_ok
    if details["redis"] and not details["redis_consistent"] and not away:
        details["error"] = (
            "Redis holds no ready markers: it is being restored from the ledger"
            if app[SETTINGS].self_restore
            else "Redis holds no ready markers: run `meterway rebuild`"
        )
    if details.get("settlement_dead_letters"):
        # Serving goes on (the debits are held in Redis and reconcile counts them), but an
        # operator must look: the ledger lacks these until they are requeued.
        details["warning"] = (
            "settlements were refused by the ledger and parked: run `meterway settler dead-letters`"
        )
    return {"status": "ready" if ok else "not_ready", **details}


async def readyz(request: web.Request) -> web.Response:
    details = await readiness(request)
    status = 200 if details["status"] == "ready" else 503
    shown = details if ops_allowed(request) else {"status": details["status"]}  # operator only
    return web.json_response(shown, status=status)


def add_routes(app: web.Application) -> None:
    declare(
        app.router,
        Route("GET", "/", root, authority.PUBLIC, doc=ops_doc.ROOT),
        Route("GET", "/healthz", healthz, authority.PUBLIC, doc=ops_doc.HEALTHZ),
        Route("GET", "/readyz", readyz, authority.PUBLIC, doc=ops_doc.READYZ),
    )
