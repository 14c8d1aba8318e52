"""An invoice's arithmetic, with no I/O: its lines from the ledger's sums, the conversion to
the customer's currency, the rounding and the tax (docs/guides/invoices.md).

The store sums the period's ledger entries in groups (`LedgerGroup`); each group becomes one
line. Amounts on an invoice carry the customer's sign: what they owe is positive, so a debit
(negative in the ledger) is a positive usage line and an adjustment that added to the
balance is a negative one. A commitment's lines are charged: its prepayment (the credit a
prepaid period opens with) and its true-up (the shortfall billed in arrears). What was paid
in advance is charged back negative (`applied`): the usage a prepaid commitment (or a
rollover) covered, and on a prepaid account the usage its balance paid. Credits (top-ups,
grants), refunds and expiries are listed as their own lines but are not charges: the
subtotal is the usage, adjustment, commitment and applied lines.

**The rounding rule** (one, docs/concepts/money.md): each line's exact amount in USD micros
is converted at the invoice's rate and rounded once to the currency's minor unit, half away
from zero; the subtotal is the sum of the rounded charged lines; the tax is the subtotal
times the rate, rounded the same way; the total is subtotal plus tax. The usage lines' micros
sum to the ledger's debits of the period exactly, before any rounding.

**Unit prices.** A call to a model is one debit priced over several token kinds at different
rates and rounded up once, so no per-token price can be read back from the ledger exactly:
such a line shows its token quantities by kind and its amount, and no unit price. A line
with one kind of quantity (a meter's units) shows its unit price, amount / quantity, when
that division is exact (at most 12 decimal places); otherwise it shows none either.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal, localcontext

from billing.contracts.currency import exact_minor, minor_units, round_half_up, show, to_minor
from billing.money.tax import Tax

SECTIONS = ("usage", "adjustment", "commitment", "applied", "credit", "refund", "expired")
# the lines the subtotal and the tax are of (the module docstring says what each holds)
CHARGED = ("usage", "adjustment", "commitment", "applied")
HEADINGS = {
    "usage": "Usage",
    "adjustment": "Adjustments",
    "commitment": "Commitments",
    "applied": "Paid in advance",
    "credit": "Credits",
    "refund": "Refunds",
    "expired": "Expired credit",
}
BALANCE_KEY = "balance"  # the `applied` line of what a prepaid account's balance paid
QUANTITY_KINDS = ("input", "cached_input", "cache_write", "output", "reasoning", "units")
GROUP_BYS = ("model", "team", "key")  # and "tag:NAME"
KINDS = ("invoice", "credit_note")
_UNIT_PLACES = 12


class InvalidInvoice(ValueError):
    """An invoice that cannot be issued as asked (a bad grouping, currency or rate)."""


class InvalidGroupBy(InvalidInvoice):
    """A grouping no invoice knows: the caller's parameter, refused as every route refuses a
    bad `group_by` (400), not as a state of the account (409)."""


NUMBER = re.compile(r"([A-Za-z0-9]{1,12})-([0-9]{1,12})")


def parse_number(number: str) -> tuple[str, int] | None:
    """An invoice's or credit note's number ("INV-000042") as (series, sequence), or None."""
    found = NUMBER.fullmatch(number)
    return None if found is None else (found[1], int(found[2]))


def check_group_by(text: str) -> str:
    """model, team, key, or tag:NAME (a tag key the ledger's debits carry)."""
    if text in GROUP_BYS or (text.startswith("tag:") and 0 < len(text) - 4 <= 64):
        return text
    raise InvalidGroupBy(f"'group_by' must be model, team, key or tag:NAME, not '{text}'.")


@dataclass(frozen=True, slots=True)
class Party:
    """Who issues or receives an invoice: legal name, address lines, country, tax id."""

    name: str = ""
    address: tuple[str, ...] = ()
    country: str = ""
    tax_id: str = ""


@dataclass(frozen=True, slots=True)
class LedgerGroup:
    """The period's entries of one section and one key, as the store sums them. Amounts keep
    the ledger's sign."""

    section: str
    key: str
    label: str
    entries: int
    requests: int
    amount_micros: int
    quantities: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Line:
    position: int
    section: str
    key: str
    label: str
    entries: int
    requests: int
    quantities: Mapping[str, int]
    unit_price: str | None  # in the invoice's currency per unit; None: not exact (docstring)
    amount_micros: int  # USD micros, the customer's sign, exact
    amount_minor: int  # the same in the currency's minor units, rounded once
    credits_position: int | None = None  # a credit note's line: the invoice line it cancels


@dataclass(frozen=True, slots=True)
class Invoice:
    """An invoice or a credit note as issued (the store keeps exactly this)."""

    kind: str  # invoice | credit_note
    series: str
    sequence: int
    account_id: str
    month: str  # YYYY-MM, UTC
    period_start: datetime
    period_end: datetime
    issued_at: datetime
    currency: str
    rate: Decimal  # units of the currency per 1 USD
    rate_source: str
    group_by: str
    issuer: Party
    customer: Party
    tax: Tax
    lines: tuple[Line, ...]
    usage_micros: int  # the ledger's debits of the period (the customer's sign), exact
    credits: str = ""  # a credit note: the number of the invoice it corrects
    reason: str = ""

    @property
    def number(self) -> str:
        return f"{self.series}-{self.sequence:06d}"

    @property
    def digits(self) -> int:
        return minor_units(self.currency)

    @property
    def subtotal_minor(self) -> int:
        return sum(ln.amount_minor for ln in self.lines if ln.section in CHARGED)

    @property
    def tax_minor(self) -> int:
        return tax_of(self.subtotal_minor, self.tax.percent)

    @property
    def total_minor(self) -> int:
        return self.subtotal_minor + self.tax_minor

    @property
    def lines_micros(self) -> int:
        """The usage lines' exact sum: equal to `usage_micros` on every invoice."""
        return sum(ln.amount_micros for ln in self.lines if ln.section == "usage")


def tax_of(subtotal_minor: int, percent: Decimal) -> int:
    """The tax on a rounded subtotal, rounded once, half away from zero."""
    with localcontext() as ctx:
        ctx.prec = 80
        return round_half_up(Decimal(subtotal_minor) * percent / 100)


def unit_price(
    amount_micros: int, quantities: Mapping[str, int], rate: Decimal, digits: int
) -> str | None:
    """amount / quantity in the currency, when the line has one kind of quantity and the
    division is exact to 12 places; otherwise None (the module docstring says why)."""
    counted = [q for q in quantities.values() if q]
    if len(counted) != 1:
        return None
    with localcontext() as ctx:
        ctx.prec = 80
        each = exact_minor(amount_micros, rate, digits) / (Decimal(10) ** digits) / counted[0]
        rounded = each.quantize(Decimal(1).scaleb(-_UNIT_PLACES))
        if rounded != each:
            return None
        return format(rounded.normalize(), "f")


def paid_from_balance(groups: Iterable[LedgerGroup]) -> LedgerGroup | None:
    """On a prepaid account's invoice, what its balance already paid: the usage and the
    adjustments the groups charge, less what a commitment's `applied` lines cover (its
    top-ups were paid when they were made). None when that is nothing."""
    groups = list(groups)
    owed = -sum(g.amount_micros for g in groups if g.section in ("usage", "adjustment"))
    covered = sum(g.amount_micros for g in groups if g.section == "applied")
    paid = owed - covered
    if paid == 0:
        return None
    return LedgerGroup("applied", BALANCE_KEY, "paid from the balance", 0, 0, paid)


def lines_of(groups: Iterable[LedgerGroup], rate: Decimal, currency: str) -> tuple[Line, ...]:
    """One line per group, in section then key order, each converted and rounded once."""
    digits = minor_units(currency)
    order = sorted(groups, key=lambda g: (SECTIONS.index(g.section), g.key, g.label))
    out = []
    for position, g in enumerate(order, start=1):
        owed = -g.amount_micros
        quantities = {k: int(g.quantities.get(k, 0)) for k in QUANTITY_KINDS if g.quantities.get(k)}
        out.append(
            Line(
                position,
                g.section,
                g.key,
                g.label,
                g.entries,
                g.requests,
                quantities,
                unit_price(owed, quantities, rate, digits),
                owed,
                to_minor(owed, rate, digits),
            )
        )
    return tuple(out)


def credit_note_lines(
    invoice: Invoice, positions: Collection[int] | None, credited: Collection[int]
) -> tuple[Line, ...]:
    """A credit note's lines: the invoice's lines at `positions` (None: every line not yet
    credited), negated, each naming the line it cancels. A line is credited once: one
    already credited, or a position the invoice lacks, is refused."""
    lines = {ln.position: ln for ln in invoice.lines}
    wanted = sorted(set(lines) - set(credited)) if positions is None else sorted(set(positions))
    unknown = [p for p in wanted if p not in lines]
    if unknown:
        raise InvalidInvoice(f"{invoice.number} has no line {unknown[0]}.")
    again = [p for p in wanted if p in credited]
    if again:
        raise InvalidInvoice(f"Line {again[0]} of {invoice.number} is already credited.")
    if not lines:
        raise InvalidInvoice(f"{invoice.number} has no line to credit.")
    if not wanted:
        raise InvalidInvoice(f"Every line of {invoice.number} is already credited.")
    return tuple(
        replace(
            lines[p],
            position=i,
            amount_micros=-lines[p].amount_micros,
            amount_minor=-lines[p].amount_minor,
            credits_position=p,
        )
        for i, p in enumerate(wanted, start=1)
    )


def money(minor: int, invoice: Invoice) -> str:
    return show(minor, invoice.currency)


def _party(title: str, p: Party) -> list[str]:
    out = [title, p.name or "(no legal name set)", *p.address]
    if p.country:
        out.append(p.country)
    if p.tax_id:
        out.append(f"Tax ID: {p.tax_id}")
    return out


def _quantities(q: Mapping[str, int]) -> str:
    return ", ".join(f"{n:,} {k.replace('_', ' ')}" for k, n in q.items())


def text_lines(inv: Invoice) -> list[tuple[str, bool]]:
    """The invoice as lines of text (with whether each is bold), for its PDF."""
    title = "Credit note" if inv.kind == "credit_note" else "Invoice"
    out: list[tuple[str, bool]] = [(f"{title} {inv.number}", True)]
    facts = [
        f"Issued {inv.issued_at:%Y-%m-%d %H:%M} UTC",
        f"Period {inv.period_start:%Y-%m-%d %H:%M} to {inv.period_end:%Y-%m-%d %H:%M} UTC"
        f" ({inv.month})",
        f"Account {inv.account_id}",
    ]
    if inv.credits:
        facts.append(f"Corrects invoice {inv.credits}" + (f": {inv.reason}" if inv.reason else ""))
    if inv.currency != "USD":
        facts.append(f"Rate: 1 USD = {inv.rate} {inv.currency} ({inv.rate_source})")
    out += [(f, False) for f in facts] + [("", False)]
    out += [(t, i == 0) for i, t in enumerate(_party("From", inv.issuer))] + [("", False)]
    out += [(t, i == 0) for i, t in enumerate(_party("Bill to", inv.customer))] + [("", False)]
    for section in SECTIONS:
        lines = [ln for ln in inv.lines if ln.section == section]
        if not lines:
            continue
        heading = HEADINGS[section]
        if section not in CHARGED:
            heading += " (not charged)"
        out.append((heading, True))
        for ln in lines:
            price = f" at {ln.unit_price} {inv.currency} each" if ln.unit_price else ""
            out.append((f"  {ln.label}: {money(ln.amount_minor, inv)}", False))
            if ln.quantities or ln.requests:
                detail = _quantities(ln.quantities) + price
                out.append((f"    {ln.requests:,} requests; {detail}", False))
    out.append(("", False))
    out.append((f"Subtotal: {money(inv.subtotal_minor, inv)}", False))
    out.append((f"{inv.tax.name} {inv.tax.percent}%: {money(inv.tax_minor, inv)}", False))
    if inv.tax.mention:
        out.append((inv.tax.mention, True))
    if inv.tax.source:
        out.append((f"Tax rate by {inv.tax.source}", False))
    out.append((f"Total: {money(inv.total_minor, inv)}", True))
    return out
