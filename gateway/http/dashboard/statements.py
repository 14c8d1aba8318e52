"""The Statements page: an organization's statement of a month, printable (the browser's
Print makes the PDF; dashboard.css hides the controls on paper), with a month picker and
the API's own CSV as a download. Same scope check and the same statement as
GET /v1/account/statements/{month}; operators read any account's at
/dashboard/operators/accounts/{id}/statements/{month}, as GET /admin/v1 answers it."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from billing import authority
from billing.contracts.statements import InvalidMonth, month_of, parse_month
from gateway.errors import InvalidRequest
from gateway.http.dashboard.operators.accounts import OPS, operator, target_row
from gateway.http.dashboard.people.session import BASE, account_principal
from gateway.http.dashboard.web import render
from gateway.http.openapi.paths import dashboard as dashboard_doc
from gateway.http.principal import STATEMENTS_READ
from gateway.http.routing import Route, declare
from gateway.http.shared.contracts.statements import (
    VIEW_TITLES,
    month_param,
    newest_checkpoint,
    respond,
    statement_json,
    statement_of,
)


def _picked(request: web.Request) -> str:
    """The month picker's choice (`?month=YYYY-MM`), else the current month."""
    now = datetime.now(UTC)
    picked = request.query.get("month")
    try:
        return str(parse_month(picked, now) if picked else month_of(now))
    except InvalidMonth as exc:
        raise InvalidRequest(str(exc), param="month") from exc


async def _page(request: web.Request, account_id: str, base: str, nav: str) -> web.Response:
    month = month_param(request, datetime.now(UTC))
    found = await statement_of(request, account_id, month)
    statement = statement_json(found, await newest_checkpoint(request))
    return render(
        request,
        "statement.html",
        title=f"Statement · {month}",
        nav=nav,
        s=statement,
        views=VIEW_TITLES,
        base=base,
        previous=str(month.previous()),
        following=str(month.next()) if month < month_of(datetime.now(UTC)) else None,
        export=f"{base}/{month}/export",
    )


async def latest(request: web.Request) -> web.Response:
    account_principal(request).require(STATEMENTS_READ)
    raise web.HTTPSeeOther(f"{BASE}/statements/{_picked(request)}")


async def page(request: web.Request) -> web.Response:
    who = account_principal(request)
    who.require(STATEMENTS_READ)
    return await _page(request, who.account_id, f"{BASE}/statements", "statements")


async def export(request: web.Request) -> web.Response:
    """The API's own CSV (GET /v1/account/statements/{month}?format=csv), as a download."""
    who = account_principal(request)
    who.require(STATEMENTS_READ)
    return await respond(request, who.account_id, as_csv=True)


async def _operators_base(request: web.Request) -> tuple[str, str]:
    operator(request)
    account_id = (await target_row(request))["id"]
    return account_id, f"{OPS}/accounts/{account_id}/statements"


async def operator_latest(request: web.Request) -> web.Response:
    _, base = await _operators_base(request)
    raise web.HTTPSeeOther(f"{base}/{_picked(request)}")


async def operator_page(request: web.Request) -> web.Response:
    account_id, base = await _operators_base(request)
    return await _page(request, account_id, base, "operators")


async def operator_export(request: web.Request) -> web.Response:
    """The admin API's CSV (GET /admin/v1/accounts/{id}/statements/{month}?format=csv)."""
    account_id, _ = await _operators_base(request)
    return await respond(request, account_id, as_csv=True)


def add_routes(dash: web.Application) -> None:
    declare(
        dash.router,
        Route(
            "GET",
            "/statements",
            latest,
            authority.STATEMENTS_READ,
            doc=dashboard_doc.page("The month picker's target: to that month's statement"),
        ),
        Route(
            "GET",
            "/statements/{month}",
            page,
            authority.STATEMENTS_READ,
            doc=dashboard_doc.page("A month's statement, printable (Print to PDF)"),
        ),
        Route(
            "GET",
            "/statements/{month}/export",
            export,
            authority.STATEMENTS_READ,
            doc=dashboard_doc.page("A month's statement as a CSV download"),
        ),
    )
    accounts = "/operators/accounts/{account_id}/statements"
    declare(
        dash.router,
        Route(
            "GET",
            accounts,
            operator_latest,
            authority.OPERATOR_PAGE,
            doc=dashboard_doc.page("To an account's statement"),
        ),
        Route(
            "GET",
            accounts + "/{month}",
            operator_page,
            authority.OPERATOR_PAGE,
            doc=dashboard_doc.page("An account's statement of a month, printable"),
        ),
        Route(
            "GET",
            accounts + "/{month}/export",
            operator_export,
            authority.OPERATOR_PAGE,
            doc=dashboard_doc.page("An account's statement of a month as a CSV download"),
        ),
    )
