"""Issuing invoices and credit notes (docs/guides/invoices.md), for the operator API and the
CLI through it: the customer's details and currency, the tax by the operator's table, the
ledger's groups from the store, and the arithmetic of billing/contracts/invoices.py, all inside the
store's one issuing transaction so that a refused invoice uses no number."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from billing.contracts.currency import InvalidCurrency, minor_units, parse_rate
from billing.contracts.invoices import (
    InvalidInvoice,
    Invoice,
    LedgerGroup,
    Party,
    check_group_by,
    credit_note_lines,
    lines_of,
    paid_from_balance,
)
from billing.contracts.statements import Month
from billing.money.receipts import Seller
from billing.money.tax import Tax, TaxTable, checked_tax_id, stripe_tax_id_type, tax_for
from gateway.services.money.payment.port import TaxAsked
from gateway.stores.ports import InvoicesPort
from gateway.stores.ports.contracts.invoices import OpenDraw
from gateway.stores.records import Row

_EMAIL = re.compile(r"[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+")


# Units of a currency per USD from the operator's rate source, and the source as recorded.
RateSource = Callable[[str], Awaitable[tuple[Decimal, str]]]


# The tax a provider's tax service names for a customer (Stripe Tax, INVOICE_TAX=stripe).
TaxSource = Callable[[TaxAsked], Awaitable[Tax]]


@dataclass(frozen=True, slots=True)
class Issuer:
    """The operator as invoices name it: SELLER_* settings, tax.toml's country, the series;
    where rates come from when neither the request nor the customer gives one; who names
    the tax rate when not the table (`tax_source`, for the product's `tax_code`)."""

    seller: Seller
    tax: TaxTable
    series: str
    rates: RateSource | None = None
    tax_source: TaxSource | None = None
    tax_code: str = ""

    @property
    def party(self) -> Party:
        s = self.seller
        return Party(s.name, s.address, self.tax.issuer_country, s.tax_id)


@dataclass(frozen=True, slots=True)
class Asked:
    """What the operator asked for one invoice; empty fields take the customer's settings."""

    month: Month
    group_by: str = ""
    currency: str = ""
    rate: str = ""
    rate_source: str = ""


def customer_party(row: Row | None) -> Party:
    if row is None:
        return Party()
    return Party(row["legal_name"], tuple(row["address"]), row["country"], row["tax_id"])


async def _conversion(
    asked: Asked, row: Row | None, rates: RateSource | None
) -> tuple[str, Decimal, str]:
    """The currency, its rate per USD and the rate's source: the request's, else the
    customer's settings, else the operator's rate source; USD needs none."""
    currency = (asked.currency or (row["currency"] if row else "") or "USD").upper()
    minor_units(currency)  # an ISO 4217 code, or InvalidCurrency
    if currency == "USD":
        return currency, Decimal(1), "none: the ledger's own currency"
    if asked.rate:
        return currency, parse_rate(asked.rate), asked.rate_source or "set by the operator"
    if row is not None and row["rate"] is not None and row["currency"] == currency:
        return currency, Decimal(row["rate"]), row["rate_source"] or "set by the operator"
    if rates is not None:
        rate, source = await rates(currency)
        return currency, rate, source
    raise InvalidCurrency(f"Invoicing in {currency} needs a rate (units of {currency} per USD).")


@dataclass(frozen=True, slots=True)
class Commitment:
    """The account's commitment as an invoice needs it: whether it has (or had) one, and
    what its open period drew so far (the hot store's figure; None when it cannot say)."""

    present: bool = False
    open_drawn: OpenDraw | None = None


def open_draw(hot: Mapping[str, str]) -> OpenDraw | None:
    """The open period's drawdown from the account hash's commitment fields, if it has one."""
    if "cme" not in hot:
        return None
    return OpenDraw(int(hot["cme"]), int(hot.get("cmu", "0")))


async def _tax(issuer: Issuer, customer: Party, currency: str) -> Tax:
    """The operator's table's rule, or the tax service's rate for this customer. Raises
    InvalidInvoice for details the service cannot take (no country; a tax id of a country
    whose id type is not known, which would decide business or consumer by a guess)."""
    if issuer.tax_source is None:
        return tax_for(issuer.tax, customer.country, customer.tax_id)
    if not customer.country:
        raise InvalidInvoice("Stripe Tax needs the customer's country: set it in its details.")
    tax_id = customer.tax_id.strip()
    kind = stripe_tax_id_type(customer.country, tax_id) if tax_id else ""
    if tax_id and not kind:
        raise InvalidInvoice(
            f"Stripe Tax needs the type of a tax id from {customer.country}, which Meterway"
            " does not know: use the rate table (INVOICE_TAX=table) for this customer."
        )
    asked = TaxAsked(customer.country, customer.address, tax_id, kind, currency, issuer.tax_code)
    return await issuer.tax_source(asked)


async def issue(
    store: InvoicesPort,
    issuer: Issuer,
    account: Row,
    asked: Asked,
    now: datetime,
    commitment: Commitment = Commitment(),
) -> Invoice:
    """The account's invoice of the asked month, up to now when the month is not over: a
    postpaid account's, or a prepaid account's with a commitment (its usage is paid from
    its balance: charged back on an `applied` line). Raises InvalidInvoice or
    InvalidCurrency (nothing written, no number used)."""
    prepaid = account.get("mode") != "postpaid"
    if prepaid and not commitment.present:
        raise InvalidInvoice(
            "Invoices are issued for postpaid accounts and accounts with a commitment only."
        )
    if asked.month.start >= now:
        raise InvalidInvoice(f"{asked.month} has not begun.")
    row = await store.customer(account["id"])
    group_by = check_group_by(asked.group_by or (row["group_by"] if row else "model"))
    currency, rate, source = await _conversion(asked, row, issuer.rates)
    customer = customer_party(row)
    tax = await _tax(issuer, customer, currency)
    end = min(asked.month.end, now)

    def build(number: int, start: datetime, groups: list[LedgerGroup]) -> Invoice:
        if start >= end:
            raise InvalidInvoice(f"{asked.month} is already invoiced up to {start.isoformat()}.")
        usage = -sum(g.amount_micros for g in groups if g.section == "usage")
        paid = paid_from_balance(groups) if prepaid else None
        groups = groups if paid is None else [*groups, paid]
        return Invoice(
            "invoice", issuer.series, number, account["id"], str(asked.month), start, end, now,
            currency, rate, source, group_by, issuer.party, customer, tax,
            lines_of(groups, rate, currency), usage,
        )  # fmt: skip

    return await store.issue(
        issuer.series, account["id"], asked.month.start, end, group_by, build,
        commitment.open_drawn,
    )  # fmt: skip


async def credit_note(
    store: InvoicesPort,
    series: str,
    number: int,
    reason: str,
    now: datetime,
    positions: Collection[int] | None = None,
) -> Invoice | None:
    """A credit note cancelling lines of invoice `number` (`positions`; None: every line
    not yet credited), negated, in the same series; None if there is no such invoice.
    Raises InvalidInvoice for a credit note, or a line credited already."""

    def build(own: int, inv: Invoice, credited: frozenset[int]) -> Invoice:
        if inv.kind != "invoice":
            raise InvalidInvoice(f"{inv.number} is a credit note; credit its invoice instead.")
        lines = credit_note_lines(inv, positions, credited)
        usage = sum(ln.amount_micros for ln in lines if ln.section == "usage")
        return Invoice(
            "credit_note", series, own, inv.account_id, inv.month, inv.period_start,
            inv.period_end, now, inv.currency, inv.rate, inv.rate_source, inv.group_by,
            inv.issuer, inv.customer, inv.tax, lines, usage, credits=inv.number, reason=reason,
        )  # fmt: skip

    return await store.credit_note(series, number, build)


def customer_fields(body: Mapping[str, Any], stored: Row | None = None) -> dict[str, Any]:
    """The invoicing details a request sets over `stored`, each checked
    (InvalidInvoice/InvalidCurrency; InvalidTaxId for a tax id that is not a valid number of
    the customer's country, as the request or `stored` names them)."""
    out = _texts(body)
    out.update(_tax_id(body, stored or {}, _others(body)))
    return out


def _tax_id(body: Mapping[str, Any], stored: Row, others: dict[str, Any]) -> dict[str, Any]:
    """The tax id in its compact form, checked against the country it will stand beside."""
    if "tax_id" not in body and "country" not in others:
        return others
    tax_id = body["tax_id"] if "tax_id" in body else stored.get("tax_id") or ""
    country = others.get("country", stored.get("country") or "")
    return others | {"tax_id": checked_tax_id(str(tax_id), str(country))}


def _others(body: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "address" in body:
        lines = body["address"]
        if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
            raise InvalidInvoice("'address' must be a list of lines.")
        out["address"] = [x.strip() for x in lines if x.strip()][:8]
    if "country" in body:
        code = str(body["country"]).strip().upper()
        if code and not (len(code) == 2 and code.isalpha() and code.isascii()):
            raise InvalidInvoice("'country' must be an ISO 3166 two-letter code like DE.")
        out["country"] = code
    if "currency" in body:
        out["currency"] = str(body["currency"]).upper()
        minor_units(out["currency"])
    if "rate" in body:
        out["rate"] = None if body["rate"] is None else parse_rate(body["rate"])
    if "group_by" in body:
        out["group_by"] = check_group_by(str(body["group_by"]))
    if "email" in body:
        out["email"] = _email(body["email"])
    return out


def _email(raw: object) -> str:
    """Where sent invoices go: one address (an empty string: none)."""
    text = raw.strip() if isinstance(raw, str) else None
    if text is None or len(text) > 254 or (text and not _EMAIL.fullmatch(text)):
        raise InvalidInvoice("'email' must be one e-mail address (or empty for none).")
    return text


def _texts(body: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("legal_name", "tax_id", "rate_source"):
        if name in body:
            if not isinstance(body[name], str) or len(body[name]) > 200:
                raise InvalidInvoice(f"'{name}' must be a string of at most 200 characters.")
            out[name] = body[name].strip()
    return out
