"""The Audit pages: an organization's owner sees its records (/dashboard/audit), the operator
every account's (/dashboard/operators/audit, an account to filter). They read what
GET /v1/account/audit and GET /admin/v1/audit answer, through the same functions, after the
same checks (http/shared/proof/audit_log.py)."""

from __future__ import annotations

from aiohttp import web

from billing import authority
from billing.proof.audit_words import KINDS
from gateway.http.dashboard.operators.accounts import operator
from gateway.http.dashboard.people.session import account_principal
from gateway.http.dashboard.web import render
from gateway.http.openapi.paths import dashboard as dashboard_doc
from gateway.http.routing import Route, declare
from gateway.http.shared.proof.audit_log import audit_page, audit_query, owner_account, respond
from gateway.http.shared.usage.reports import query_text


async def _render(request: web.Request, account_id: str | None, nav: str) -> web.Response:
    """The page, or with `format=csv|jsonl` the API's own export of the filtered records;
    the owner's as its account reads them."""
    customer = nav != "operators"
    if request.query.get("format", "json") != "json":
        return await respond(request, account_id, customer)
    page = await audit_page(request, audit_query(request, account_id), customer)
    return render(
        request,
        "audit.html",
        title="Audit log",
        nav=nav,
        page=page,
        filters={k: v for k, v in request.query.items() if k not in ("before", "format")},
        operator_view=nav == "operators",
        audit_kinds=KINDS,
    )


async def owner_page(request: web.Request) -> web.Response:
    return await _render(request, owner_account(account_principal(request)), "audit")


async def operator_page(request: web.Request) -> web.Response:
    operator(request)
    return await _render(request, query_text(request, "account_id") or None, "operators")


def add_routes(dash: web.Application) -> None:
    declare(
        dash.router,
        Route(
            "GET",
            "/audit",
            owner_page,
            authority.AUDIT_READ,
            doc=dashboard_doc.page("The organization's audit log (owners)"),
        ),
        Route(
            "GET",
            "/operators/audit",
            operator_page,
            authority.OPERATOR_PAGE,
            doc=dashboard_doc.page("Every account's audit log (operators)"),
        ),
    )
