"""The operator's Prices page: price changes pending, scheduled and decided, each with its
diff per model and price dimension and its preview (the total and the accounts it moves
most), Approve and Reject on the pending ones (the same decision as
`POST /admin/v1/prices/changes/{id}/approve`: a second approver and the named move where the
operator asks for them), and the models refused for want of a price."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from billing import authority
from billing.money.micros import format_usd
from gateway.errors import MeterwayError
from gateway.http.appkeys import PRICE_DESK
from gateway.http.dashboard.operators.accounts import operator
from gateway.http.dashboard.people.session import SESSION
from gateway.http.dashboard.web import render
from gateway.http.openapi.paths import dashboard as dashboard_doc
from gateway.http.routing import Route, audits, declare
from gateway.http.shared.operator.access import ADMIN_KEY
from gateway.http.shared.proof.price_changes import approved, change_id_of, change_json, rejected
from gateway.stores.records import Row

MOVES_SHOWN = 5  # the accounts a change moves most, on its card


def _usd(micros: int) -> str:
    return f"{'-' if micros < 0 else ''}${format_usd(abs(micros))}"


def _shown(row: Row, threshold: int) -> dict[str, Any]:
    """A change as the page shows it: its preview in dollars, its largest account moves, and
    whether approving it needs the move named."""
    change = change_json(row)
    total = change["preview"]["total"]
    accounts = sorted(
        change["preview"]["accounts"], key=lambda a: -abs(a["after_micros"] - a["before_micros"])
    )
    return {
        **change,
        "total": {k: _usd(total[k]) for k in ("before_micros", "after_micros", "change_micros")},
        "moves": [
            {**a, "before": _usd(a["before_micros"]), "after": _usd(a["after_micros"])}
            for a in accounts[:MOVES_SHOWN]
        ],
        "more_accounts": max(0, len(accounts) - MOVES_SHOWN),
        "needs_confirm": row["largest_move_permille"] > threshold,
    }


async def prices_page(
    request: web.Request, *, status: int = 200, notice: str = "", error: str = ""
) -> web.Response:
    operator(request)
    desk = request.config_dict[PRICE_DESK]
    now = datetime.now(UTC)
    threshold = desk.review.confirm_permille
    rows = await desk.changes.listing(None)
    pending = [_shown(r, threshold) for r in rows if r["status"] == "pending"]
    scheduled = [
        _shown(r, threshold) for r in rows if r["status"] == "approved" and r["effective_at"] > now
    ]
    decided = [
        _shown(r, threshold)
        for r in rows
        if r["status"] == "rejected" or (r["status"] == "approved" and r["effective_at"] <= now)
    ]
    return render(
        request, "ops_prices.html", status=status, title="Prices", nav="prices",
        pending=pending, scheduled=scheduled, decided=decided[:50],
        unpriced=await desk.unpriced(), notice=notice, error=error,
        approvers=desk.review.approvers,
    )  # fmt: skip


async def prices(request: web.Request) -> web.Response:
    return await prices_page(request)


def _operator_id(request: web.Request) -> str | None:
    """The admin key's holder is one operator here and on the API (a second approver is
    another person); anyone else is who the audit log names."""
    return ADMIN_KEY if request[SESSION].admin_key else None


async def approve(request: web.Request) -> web.Response:
    operator(request)
    form = await request.post()
    confirm = str(form.get("confirm", "")).strip() or None
    try:
        change = await approved(request, change_id_of(request), confirm, _operator_id(request))
    except MeterwayError as exc:
        return await prices_page(request, status=exc.status, error=exc.message)
    when = change["effective_at"]
    return await prices_page(request, notice=f"Price change {change['id']} approved: from {when}.")


async def reject(request: web.Request) -> web.Response:
    operator(request)
    try:
        change = await rejected(request, change_id_of(request), _operator_id(request))
    except MeterwayError as exc:
        return await prices_page(request, status=exc.status, error=exc.message)
    return await prices_page(request, notice=f"Price change {change['id']} rejected.")


def add_routes(dash: web.Application) -> None:
    declare(
        dash.router,
        Route(
            "GET", "/operators/prices", prices, authority.OPERATOR_PAGE,
            doc=dashboard_doc.page("Prices: changes pending, scheduled, decided; unpriced models"),
        ),
        Route(
            "POST", "/operators/prices/changes/{change_id}/approve", approve,
            authority.OPERATOR_PAGE, audits("price_change.approve"),
            doc=dashboard_doc.page("Approve a pending price change"),
        ),
        Route(
            "POST", "/operators/prices/changes/{change_id}/reject", reject,
            authority.OPERATOR_PAGE, audits("price_change.reject"),
            doc=dashboard_doc.page("Reject a pending price change"),
        ),
    )  # fmt: skip
