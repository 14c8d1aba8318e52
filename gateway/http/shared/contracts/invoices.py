"""Invoices over HTTP (docs/guides/invoices.md): the operator sets an account's invoicing
details, issues an account's invoice of a month and a credit note for an invoice, and reads
them; an organization reads its own (`statements:read`: owners, admins, billing; a key with
a billing scope), as JSON, or as a PDF (`format=pdf`, or Accept: application/pdf).
Each issue and each change of details is audited.

Kept whole: one surface's handlers for one document family, each short, sharing their
parsing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from aiohttp import web

from billing import authority
from billing.contracts.currency import InvalidCurrency, show
from billing.contracts.invoices import (
    InvalidGroupBy,
    InvalidInvoice,
    Invoice,
    Line,
    parse_number,
    text_lines,
)
from billing.contracts.statements import InvalidMonth, parse_month
from billing.money.tax import InvalidTaxId, vat_country
from gateway.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    PaymentProviderError,
    RateSourceUnavailable,
    ServiceUnavailable,
)
from gateway.http import audited, bodies
from gateway.http.appkeys import (
    INVOICES,
    LEDGER,
    OUTBOUND_SESSION,
    PAYMENTS,
    SETTINGS,
    STORE,
    STORES,
)
from gateway.http.openapi.paths import invoices as doc
from gateway.http.pdf import Line as PdfLine
from gateway.http.pdf import text_pdf
from gateway.http.principal import STATEMENTS_READ, require
from gateway.http.routing import Route, audits, declare
from gateway.llm.reading.calls import parse_json
from gateway.outbound import fx_rates, vies
from gateway.services.contracts import invoice_sending
from gateway.services.contracts import invoices as service
from gateway.services.money.payment.port import InvoiceNotSent, NotConfigured, ProviderUnavailable
from gateway.stores.records import Row


def _line(ln: Line, currency: str) -> dict[str, Any]:
    return {
        "position": ln.position,
        "section": ln.section,
        "key": ln.key,
        "label": ln.label,
        "entries": ln.entries,
        "requests": ln.requests,
        "quantities": dict(ln.quantities),
        "unit_price": ln.unit_price,
        "amount_micros": ln.amount_micros,
        "amount_minor": ln.amount_minor,
        "amount": show(ln.amount_minor, currency),
        "credits_position": ln.credits_position,
    }


def _party(p: Any) -> dict[str, Any]:
    return {"name": p.name, "address": list(p.address), "country": p.country, "tax_id": p.tax_id}


def invoice_json(inv: Invoice, sent: Row | None = None) -> dict[str, Any]:
    """An invoice for programs: amounts in the currency's minor units (integers), each line's
    exact USD micros, and the same amounts as people read them; `sent`: its delivery."""
    return {
        "object": "invoice",
        "number": inv.number,
        "kind": inv.kind,
        "account_id": inv.account_id,
        "month": inv.month,
        "period_start": inv.period_start.isoformat(),
        "period_end": inv.period_end.isoformat(),
        "issued_at": inv.issued_at.isoformat(),
        "currency": inv.currency,
        "minor_units": inv.digits,
        "rate": format(inv.rate.normalize(), "f"),
        "rate_source": inv.rate_source,
        "group_by": inv.group_by,
        "issuer": _party(inv.issuer),
        "customer": _party(inv.customer),
        "tax": {
            "name": inv.tax.name,
            "percent": format(inv.tax.percent.normalize(), "f"),
            "mention": inv.tax.mention,
            "reverse_charge": inv.tax.reverse_charge,
            "source": inv.tax.source or "table",
        },
        "lines": [_line(ln, inv.currency) for ln in inv.lines],
        "usage_micros": inv.usage_micros,
        "subtotal_minor": inv.subtotal_minor,
        "tax_minor": inv.tax_minor,
        "total_minor": inv.total_minor,
        "total": show(inv.total_minor, inv.currency),
        "credits": inv.credits,
        "reason": inv.reason,
        "delivery": delivery_json(sent),
    }


def delivery_json(row: Row | None) -> dict[str, Any] | None:
    """Where an invoice was sent and whether its provider says it is paid."""
    if row is None:
        return None
    paid = row["paid_at"]
    return {
        "provider": row["provider"],
        "provider_invoice_id": row["provider_invoice_id"],
        "url": row["url"],
        "sent_at": row["sent_at"].isoformat(),
        "paid_at": None if paid is None else paid.isoformat(),
        "status": "sent" if paid is None else "paid",
    }


def invoice_pdf(inv: Invoice) -> bytes:
    return text_pdf([PdfLine(t, bold) for t, bold in text_lines(inv)], title=inv.number)


def customer_json(account_id: str, row: Row | None) -> dict[str, Any]:
    row = row or {}
    rate = row.get("rate")
    return {
        "account_id": account_id,
        "legal_name": row.get("legal_name", ""),
        "address": list(row.get("address", [])),
        "country": row.get("country", ""),
        "tax_id": row.get("tax_id", ""),
        "currency": row.get("currency", "USD"),
        "rate": None if rate is None else format(Decimal(rate).normalize(), "f"),
        "rate_source": row.get("rate_source", ""),
        "group_by": row.get("group_by", "model"),
        "email": row.get("email", ""),
    }


async def _body(request: web.Request) -> dict[str, Any]:
    """A JSON object (parse_json refuses anything else), {} when empty."""
    raw = await request.read()
    return parse_json(raw) if raw.strip() else {}


async def _account(request: web.Request) -> Row:
    account = await request.config_dict[LEDGER].get_account(request.match_info["account_id"])
    if account is None:
        raise NotFound("No such account.")
    return account


def _number(request: web.Request) -> tuple[str, int]:
    found = parse_number(request.match_info["number"])
    if found is None:
        raise NotFound("No such invoice.")
    return found


async def found(request: web.Request, account_id: str | None) -> Invoice:
    """The invoice the path names, of `account_id` (any account's for None), or NotFound."""
    series, number = _number(request)
    inv = await request.config_dict[INVOICES].one(series, number)
    if inv is None or (account_id is not None and inv.account_id != account_id):
        raise NotFound("No such invoice.")
    return inv


async def _respond(request: web.Request, inv: Invoice) -> web.Response:
    fmt = request.query.get("format")
    if fmt not in (None, "json", "pdf"):
        raise InvalidRequest("'format' must be json or pdf.", param="format")
    if fmt == "pdf" or (fmt is None and "application/pdf" in request.headers.get("Accept", "")):
        return web.Response(
            body=invoice_pdf(inv),
            content_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{inv.number}.pdf"'},
        )
    sent = await request.config_dict[INVOICES].delivery(inv.series, inv.sequence)
    return web.json_response(invoice_json(inv, sent))


async def _listed(request: web.Request, account_id: str | None) -> web.Response:
    store = request.config_dict[INVOICES]
    invoices, sent = await store.of_account(account_id), await store.deliveries(account_id)
    data = [invoice_json(i, sent.get(i.number)) for i in invoices]
    return web.json_response({"object": "list", "data": data})


def _issuer(request: web.Request) -> service.Issuer:
    settings = request.config_dict[SETTINGS]
    url = settings.fx_rates_url
    rates = partial(fx_rates.fetch_rate, url, settings.outbound.egress) if url else None
    stripe_tax = request.config_dict[PAYMENTS].provider.tax_rate
    return service.Issuer(
        settings.payments.seller, settings.tax, settings.invoice_series, rates,
        stripe_tax if settings.invoice_tax == "stripe" else None, settings.invoice_tax_code,
    )  # fmt: skip


async def admin_customer(request: web.Request) -> web.Response:
    account = await _account(request)
    row = await request.config_dict[INVOICES].customer(account["id"])
    return web.json_response(customer_json(account["id"], row))


async def _in_vies(request: web.Request, tax_id: str) -> None:
    """With VIES_URL set, an EU VAT number being set must be registered in VIES."""
    url = request.config_dict[SETTINGS].vies_url
    if not url or vat_country(tax_id) is None:
        return
    try:
        listed = await vies.registered(request.config_dict[OUTBOUND_SESSION], url, tax_id)
    except vies.ViesUnavailable as exc:
        raise ServiceUnavailable(
            "VIES did not answer, so the VAT number cannot be checked; try again.",
            retry_after_s=30,
        ) from exc
    if not listed:
        raise InvalidRequest(f"VIES does not list {tax_id} as a VAT number in use.", param="tax_id")


async def admin_set_customer(request: web.Request) -> web.Response:
    account = await _account(request)
    store = request.config_dict[INVOICES]
    stored = await store.customer(account["id"])
    try:
        fields = service.customer_fields(await _body(request), stored)
    except InvalidGroupBy as exc:
        raise InvalidRequest(str(exc), param="group_by") from exc
    except InvalidTaxId as exc:
        raise InvalidRequest(str(exc), param="tax_id") from exc
    except (InvalidInvoice, InvalidCurrency) as exc:
        raise InvalidRequest(str(exc)) from exc
    await _in_vies(request, str(fields.get("tax_id", "")))
    before = customer_json(account["id"], stored)
    after = customer_json(account["id"], await store.set_customer(account["id"], fields))
    await audited.record(
        request, "invoice.customer", "account", account["id"], account["id"], before, after
    )
    return web.json_response(after)


async def admin_issue(request: web.Request) -> web.Response:
    account = await _account(request)
    body = await _body(request)
    now = datetime.now(UTC)
    try:
        month = parse_month(str(body.get("month", "")), now)
    except InvalidMonth as exc:
        raise InvalidRequest(str(exc), param="month") from exc
    text = {n: bodies.text_field(body, n, required=False) or "" for n in
            ("group_by", "currency", "rate", "rate_source")}  # fmt: skip
    asked = service.Asked(month, **text)
    app = request.config_dict
    commitment = service.Commitment(
        await app[STORES].commitments().get(account["id"]) is not None,
        service.open_draw(await app[STORE].commitments.fields(account["id"])),
    )
    try:
        inv = await service.issue(app[INVOICES], _issuer(request), account, asked, now, commitment)
    except InvalidCurrency as exc:
        raise InvalidRequest(str(exc)) from exc
    except InvalidGroupBy as exc:
        raise InvalidRequest(str(exc), param="group_by") from exc
    except InvalidInvoice as exc:
        raise Conflict(str(exc)) from exc
    except fx_rates.RateSourceFailed as exc:
        raise RateSourceUnavailable(f"{exc} Nothing was issued; retry or give the rate.") from exc
    except ProviderUnavailable as exc:
        said = " ".join(str(exc).split())[:300]
        if exc.status is not None and exc.status < 500:  # the customer's details, refused
            raise Conflict(f"Stripe Tax refused the customer's details: {said} Nothing"
                           " was issued.") from exc  # fmt: skip
        raise PaymentProviderError(
            f"Stripe Tax did not answer ({said}). Nothing was issued: issue it again.",
            retry_after_s=5,
        ) from exc
    shown = invoice_json(inv)
    await audited.record(request, "invoice.issue", "invoice", inv.number, inv.account_id, None,
                         {k: shown[k] for k in ("number", "month", "currency", "total_minor",
                                                "total", "usage_micros")})  # fmt: skip
    return web.json_response(shown, status=201)


def _positions(body: dict[str, Any]) -> list[int] | None:
    """`lines`: the positions of the invoice's lines to credit; left out, every line not
    yet credited."""
    raw = body.get("lines")
    if raw is None:
        return None
    if (
        not isinstance(raw, list)
        or not raw
        or not all(isinstance(p, int) and not isinstance(p, bool) and 0 < p < 2**31 for p in raw)
    ):
        raise InvalidRequest("'lines' must be a list of line positions (1, 2...).", param="lines")
    return raw


async def admin_credit_note(request: web.Request) -> web.Response:
    series, number = _number(request)
    body = await _body(request)
    reason = bodies.text_field(body, "reason") or ""
    positions = _positions(body)
    try:
        note = await service.credit_note(
            request.config_dict[INVOICES], series, number, reason, datetime.now(UTC), positions
        )
    except InvalidInvoice as exc:
        raise Conflict(str(exc)) from exc
    if note is None:
        raise NotFound("No such invoice.")
    shown = invoice_json(note)
    said = {
        k: shown[k] for k in ("number", "credits", "currency", "total_minor", "total", "reason")
    }
    await audited.record(
        request, "invoice.credit_note", "invoice", note.number, note.account_id, None, said
    )
    return web.json_response(shown, status=201)


async def admin_list(request: web.Request) -> web.Response:
    account = await _account(request)
    return await _listed(request, account["id"])


async def admin_all(request: web.Request) -> web.Response:
    return await _listed(request, None)


async def admin_one(request: web.Request) -> web.Response:
    return await _respond(request, await found(request, None))


async def admin_send(request: web.Request) -> web.Response:
    """Send the invoice through the payment provider (Stripe Invoicing); sent already, its
    delivery is answered and nothing is sent again."""
    inv = await found(request, None)
    settings = request.config_dict[SETTINGS]
    try:
        row, fresh = await invoice_sending.send(
            request.config_dict[PAYMENTS], request.config_dict[INVOICES], inv,
            datetime.now(UTC), settings.invoice_days_due,
        )  # fmt: skip
    except (InvalidInvoice, InvoiceNotSent) as exc:
        raise Conflict(str(exc)) from exc
    except NotConfigured as exc:
        raise Conflict(
            f"Invoices are sent through Stripe Invoicing ({exc}); send {inv.number}'s PDF yourself."
        ) from exc
    except ProviderUnavailable as exc:
        raise PaymentProviderError(
            f"{exc.said()} {inv.number} was not sent: send it again.", retry_after_s=5
        ) from exc
    shown = invoice_json(inv, row)
    if fresh:
        await audited.record(request, "invoice.send", "invoice", inv.number, inv.account_id,
                             None, shown["delivery"])  # fmt: skip
    return web.json_response(shown)


async def account_list(request: web.Request) -> web.Response:
    who = require(request, STATEMENTS_READ)
    return await _listed(request, who.account_id)


async def account_one(request: web.Request) -> web.Response:
    who = require(request, STATEMENTS_READ)
    return await _respond(request, await found(request, who.account_id))


def add_admin_routes(admin: web.Application) -> None:
    op = authority.OPERATOR
    declare(
        admin.router,
        Route("GET", "/accounts/{account_id}/invoicing", admin_customer, op,
              doc=doc.ADMIN_CUSTOMER),
        Route("PUT", "/accounts/{account_id}/invoicing", admin_set_customer, op,
              audits("invoice.customer"), doc=doc.ADMIN_SET_CUSTOMER),
        Route("POST", "/accounts/{account_id}/invoices", admin_issue, op,
              audits("invoice.issue"), doc=doc.ADMIN_ISSUE),
        Route("GET", "/accounts/{account_id}/invoices", admin_list, op, doc=doc.ADMIN_LIST),
        Route("GET", "/invoices", admin_all, op, doc=doc.ADMIN_ALL),
        Route("GET", "/invoices/{number}", admin_one, op, doc=doc.ADMIN_ONE),
        Route("POST", "/invoices/{number}/credit-note", admin_credit_note, op,
              audits("invoice.credit_note"), doc=doc.ADMIN_CREDIT),
        Route("POST", "/invoices/{number}/send", admin_send, op, audits("invoice.send"),
              doc=doc.ADMIN_SEND),
    )  # fmt: skip


def add_account_routes(account: web.Application) -> None:
    read = authority.STATEMENTS_READ
    declare(
        account.router,
        Route("GET", "/invoices", account_list, read, doc=doc.ACCOUNT_LIST),
        Route("GET", "/invoices/{number}", account_one, read, doc=doc.ACCOUNT_ONE),
    )
