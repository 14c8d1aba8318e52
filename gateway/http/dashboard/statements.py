"""The Statements page: an organization's statement of a month, printable (the browser's
Print makes the PDF; dashboard.css hides the controls on paper), with a month picker and
the API's own CSV as a download. Same scope check and the same statement as
GET /v1/account/statements/{month}."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from billing.statements import InvalidMonth, month_of, parse_month
from gateway.errors import InvalidRequest
from gateway.http.dashboard.session import BASE, account_principal
from gateway.http.dashboard.web import render
from gateway.http.principal import STATEMENTS_READ
from gateway.http.statements import (
    VIEW_TITLES,
    month_param,
    respond,
    statement_json,
    statement_of,
)


async def latest(request: web.Request) -> web.Response:
    """The month picker's target (`?month=YYYY-MM`), else the current month."""
    account_principal(request).require(STATEMENTS_READ)
    now = datetime.now(UTC)
    picked = request.query.get("month")
    try:
        month = parse_month(picked, now) if picked else month_of(now)
    except InvalidMonth as exc:
        raise InvalidRequest(str(exc), param="month") from exc
    raise web.HTTPSeeOther(f"{BASE}/statements/{month}")


async def page(request: web.Request) -> web.Response:
    who = account_principal(request)
    who.require(STATEMENTS_READ)
    month = month_param(request, datetime.now(UTC))
    statement = statement_json(await statement_of(request, who.account_id, month))
    return render(
        request,
        "statement.html",
        title=f"Statement · {month}",
        nav="statements",
        s=statement,
        views=VIEW_TITLES,
        previous=str(month.previous()),
        following=str(month.next()) if month < month_of(datetime.now(UTC)) else None,
        export=f"{BASE}/statements/{month}/export",
    )


async def export(request: web.Request) -> web.Response:
    """The API's own CSV (GET /v1/account/statements/{month}?format=csv), as a download."""
    who = account_principal(request)
    who.require(STATEMENTS_READ)
    return await respond(request, who.account_id, as_csv=True)


def add_routes(dash: web.Application) -> None:
    dash.router.add_get("/statements", latest)
    dash.router.add_get("/statements/{month}", page)
    dash.router.add_get("/statements/{month}/export", export)
