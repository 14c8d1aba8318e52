"""The organization's invoices on its Billing page, and each as a PDF
(docs/guides/invoices.md): read by those who read its statements (owners, admins, billing
members: `statements:read`). Each shows its total in the invoice's currency and, where that
is not USD, the charged amount in the ledger's USD beside it, with the rate."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from billing import authority
from billing.contracts.currency import show
from billing.contracts.invoices import CHARGED, Invoice
from gateway.http.appkeys import INVOICES
from gateway.http.dashboard.people.session import account_principal
from gateway.http.openapi.paths import dashboard as dashboard_doc
from gateway.http.principal import STATEMENTS_READ, Principal
from gateway.http.routing import Route, declare
from gateway.http.shared.contracts import invoices as shared
from gateway.stores.records import Row


def invoice_view(inv: Invoice, sent: Row | None) -> dict[str, Any]:
    delivery = shared.delivery_json(sent)
    usd = sum(ln.amount_micros for ln in inv.lines if ln.section in CHARGED)
    return {
        "number": inv.number,
        "kind": inv.kind.replace("_", " "),
        "month": inv.month,
        "issued_at": inv.issued_at,
        "currency": inv.currency,
        "total": show(inv.total_minor, inv.currency),
        "usd_micros": usd if inv.currency != "USD" else None,  # before tax, the ledger's own
        "rate": format(inv.rate.normalize(), "f"),
        "status": delivery["status"] if delivery else "issued",
        "url": delivery["url"] if delivery else None,
    }


async def issued(request: web.Request, who: Principal) -> list[dict[str, Any]] | None:
    """The organization's invoices, newest first; None when the caller may not read them."""
    if not who.has(STATEMENTS_READ):
        return None
    store = request.config_dict[INVOICES]
    found, sent = await store.of_account(who.account_id), await store.deliveries(who.account_id)
    return [invoice_view(i, sent.get(i.number)) for i in reversed(found)]


async def pdf(request: web.Request) -> web.Response:
    who = account_principal(request)
    who.require(STATEMENTS_READ)
    inv = await shared.found(request, who.account_id)
    return web.Response(
        body=shared.invoice_pdf(inv),
        content_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{inv.number}.pdf"',
            "Cache-Control": "no-store",
        },
    )


def add_routes(dash: web.Application) -> None:
    declare(
        dash.router,
        Route(
            "GET",
            "/billing/invoices/{number}/pdf",
            pdf,
            authority.STATEMENTS_READ,
            doc=dashboard_doc.page("One of the organization's invoices or credit notes as a PDF"),
        ),
    )
