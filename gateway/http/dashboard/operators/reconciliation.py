"""The operator's Reconciliation page: the differences between the ledger and the providers'
own usage and cost reports, by day, credential, model and kind, each in its class, and the
runs that found them (the same rows as `GET /admin/v1/reconciliation/providers`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from billing import authority
from billing.money.micros import format_usd
from gateway.errors import MeterwayError
from gateway.http.dashboard.operators.accounts import operator
from gateway.http.dashboard.web import render
from gateway.http.openapi.paths import dashboard as dashboard_doc
from gateway.http.routing import Route, declare
from gateway.http.shared.proof.reconciliation import chosen_day, differences, runs


def _exact(row: dict[str, Any]) -> dict[str, Any]:
    """Amounts to the micro ("$0.000140"): a difference is often under a cent."""
    shown = {}
    for name in ("provider_micros", "ledger_micros", "delta_micros"):
        micros = row[name]
        sign = "-" if micros is not None and micros < 0 else ""
        text = "—" if micros is None else f"{sign}${format_usd(abs(micros))}"
        shown[name.replace("_micros", "_usd")] = text
    return {**row, **shown}


async def reconciliation(request: web.Request) -> web.Response:
    operator(request)
    try:
        day = chosen_day(request)
    except MeterwayError as exc:
        day, error, status = None, exc.message, exc.status
    else:
        error, status = "", 200
    return render(
        request, "ops_reconciliation.html", status=status, title="Reconciliation",
        nav="reconciliation", rows=[_exact(r) for r in await differences(request, day)],
        runs=await runs(request),
        day=day.isoformat() if day else "", error=error,
    )  # fmt: skip


def add_routes(dash: web.Application) -> None:
    declare(
        dash.router,
        Route(
            "GET",
            "/operators/reconciliation",
            reconciliation,
            authority.OPERATOR_PAGE,
            doc=dashboard_doc.page("Reconciliation: the ledger against the providers' reports"),
        ),
    )
