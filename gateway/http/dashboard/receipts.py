"""Receipts people keep: a printable page and a PDF of each top-up and each paid
subscription invoice, with the seller's details from settings. Read by the account's
owner and billing members (billing:read, the route table) at /dashboard/billing/receipts,
and by the operator for any account at /dashboard/operators/accounts/{id}/receipts."""

from __future__ import annotations

from aiohttp import web

from billing import authority
from billing.money.receipts import Receipt, receipt_facts, receipt_lines, seller_lines
from gateway.errors import NotFound
from gateway.http.appkeys import PAYMENTS, SETTINGS
from gateway.http.dashboard.operators.accounts import OPS, operator, target_row
from gateway.http.dashboard.people.session import BASE, account_principal
from gateway.http.dashboard.web import render
from gateway.http.openapi.paths import dashboard as dashboard_doc
from gateway.http.pdf import Line, text_pdf
from gateway.http.principal import BILLING_READ
from gateway.http.routing import Route, declare
from gateway.http.shared.contracts.statements import checkpoint_json, newest_checkpoint
from gateway.services.money.receipts import receipt_of
from gateway.stores.ports.proof.ledger_proof import SealedCheckpoint


async def _receipt(request: web.Request, account_id: str) -> Receipt:
    payments = request.config_dict.get(PAYMENTS)
    if payments is None:
        raise NotFound("Billing is not available on this gateway.")
    seller = request.config_dict[SETTINGS].payments.seller
    return await receipt_of(payments, seller, account_id, request.match_info["receipt_id"])


def _html(request: web.Request, r: Receipt, base: str, nav: str) -> web.Response:
    return render(
        request,
        "receipt.html",
        title=f"Receipt {r.number}",
        nav=nav,
        r=r,
        seller=seller_lines(r.seller),
        facts=receipt_facts(r),
        lines=receipt_lines(r),
        pdf=f"{base}/{r.payment_id}/pdf",
        back=f"{BASE}/billing" if nav == "billing" else base.rsplit("/receipts", 1)[0],
    )


def _pdf(r: Receipt, sealed: SealedCheckpoint | None) -> web.Response:
    seller = seller_lines(r.seller)
    lines = [Line(seller[0] if seller else "Receipt", bold=True, size=14)]
    lines += [Line(s) for s in seller[1:]] + [Line(""), Line(f"Receipt {r.number}", True, 16)]
    lines += [Line(f"{label}: {value}") for label, value in receipt_facts(r)] + [Line("")]
    lines += [Line(f"{what}: {amount}") for what, amount in receipt_lines(r)]
    if sealed is not None:  # which signed ledger checkpoint this copy was made under
        seal = checkpoint_json(sealed)
        lines += [Line(""), Line(f"Ledger sealed through entry {seal['sealed_through_id']}")]
        lines += [Line(f"under checkpoint {seal['seq']}, head {seal['head']}", size=8)]
    body = text_pdf(lines, title=f"Receipt {r.number}")
    name = f"receipt-{r.payment_id}.pdf"
    return web.Response(
        body=body,
        content_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "no-store"},
    )


async def page(request: web.Request) -> web.Response:
    who = account_principal(request)
    who.require(BILLING_READ)
    r = await _receipt(request, who.account_id)
    return _html(request, r, f"{BASE}/billing/receipts", "billing")


async def pdf(request: web.Request) -> web.Response:
    who = account_principal(request)
    who.require(BILLING_READ)
    return _pdf(await _receipt(request, who.account_id), await newest_checkpoint(request))


async def _operators(request: web.Request) -> Receipt:
    operator(request)
    return await _receipt(request, (await target_row(request))["id"])


async def operator_page(request: web.Request) -> web.Response:
    r = await _operators(request)
    return _html(request, r, f"{OPS}/accounts/{r.account_id}/receipts", "operators")


async def operator_pdf(request: web.Request) -> web.Response:
    return _pdf(await _operators(request), await newest_checkpoint(request))


def add_routes(dash: web.Application) -> None:
    declare(
        dash.router,
        Route(
            "GET",
            "/billing/receipts/{receipt_id}",
            page,
            authority.BILLING_READ,
            doc=dashboard_doc.page("A payment's receipt, printable"),
        ),
        Route(
            "GET",
            "/billing/receipts/{receipt_id}/pdf",
            pdf,
            authority.BILLING_READ,
            doc=dashboard_doc.page("A payment's receipt as a PDF"),
        ),
    )
    accounts = "/operators/accounts/{account_id}/receipts/{receipt_id}"
    declare(
        dash.router,
        Route(
            "GET",
            accounts,
            operator_page,
            authority.OPERATOR_PAGE,
            doc=dashboard_doc.page("An account's receipt of a payment, printable"),
        ),
        Route(
            "GET",
            accounts + "/pdf",
            operator_pdf,
            authority.OPERATOR_PAGE,
            doc=dashboard_doc.page("An account's receipt of a payment as a PDF"),
        ),
    )
