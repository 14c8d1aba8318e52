"""A receipt: what a person keeps for a payment they made (a top-up, automatic or not, or
a subscription's paid invoice). One set of lines, drawn by both the printable page and the
PDF, so the two never disagree; amounts by billing/money/display.py's one rule for payments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from billing.dates import human
from billing.money.display import usd

PURPOSES = {
    "topup": "Balance top-up",
    "auto_topup": "Automatic balance top-up",
    "subscription": "Subscription payment",
}


@dataclass(frozen=True, slots=True)
class Seller:
    """Who sold: the operator's details from settings (SELLER_NAME, SELLER_ADDRESS,
    SELLER_TAX_ID); empty ones are left off the receipt."""

    name: str = ""
    address: tuple[str, ...] = ()
    tax_id: str = ""


@dataclass(frozen=True, slots=True)
class Receipt:
    payment_id: str  # the provider's payment or invoice id: the receipt's own id
    purpose: str  # topup | auto_topup | subscription
    amount_micros: int
    paid_at: datetime
    account_id: str
    account_name: str
    seller: Seller
    refunded_micros: int = 0
    sequence: int = 0  # its number (migration 070); 0: none given yet
    plan: str | None = None  # a subscription's plan ...
    period: tuple[datetime, datetime] | None = None  # ... and the period it paid for
    paid_with: str = ""  # the card, as people recognise it: "Visa •••• 4242"

    @property
    def number(self) -> str:
        return f"R-{self.sequence}" if self.sequence else f"R-{self.payment_id}"

    @property
    def what(self) -> str:
        return PURPOSES.get(self.purpose, self.purpose.replace("_", " "))

    @property
    def amount(self) -> str:
        return usd(self.amount_micros)

    @property
    def standing(self) -> str:
        """Where the payment stands, in Stripe's words for a refunded charge."""
        return refund_standing(self.amount_micros, self.refunded_micros)


def refund_standing(amount_micros: int, refunded_micros: int) -> str:
    """A paid payment after its refunds: "Paid in full", "Partially refunded $5.00",
    "Refunded in full"."""
    if refunded_micros <= 0:
        return "Paid in full"
    if refunded_micros >= amount_micros:
        return "Refunded in full"
    return f"Partially refunded {usd(refunded_micros)}"


def parse_address(raw: str) -> tuple[str, ...]:
    """SELLER_ADDRESS's lines: separated by newlines or by ';' (an environment variable
    rarely holds a newline)."""
    parts = raw.replace(";", "\n").splitlines()
    return tuple(p.strip() for p in parts if p.strip())


def seller_lines(seller: Seller) -> list[str]:
    tax = [f"Tax ID: {seller.tax_id}"] if seller.tax_id else []
    return [line for line in (seller.name, *seller.address) if line] + tax


def card_words(brand: str, last4: str) -> str:
    """A card as people recognise it: "Visa •••• 4242"."""
    return f"{brand.replace('_', ' ').title()} •••• {last4}"


def receipt_facts(r: Receipt) -> list[tuple[str, str]]:
    """The receipt's labelled facts, in the order both formats show them."""
    return [
        ("Receipt", r.number),
        ("Paid on", human(r.paid_at.astimezone(UTC))),
        ("Billed to", f"{r.account_name} ({r.account_id})"),
        ("Paid with", r.paid_with or "the payment method on file"),
        ("Payment", r.payment_id),
        ("Status", r.standing),
    ]


def receipt_lines(r: Receipt) -> list[tuple[str, str]]:
    """What was paid for, line by line (a plan and its period, or a top-up), then each
    refund and what the payment comes to: both formats draw these rows."""
    what = r.what
    if r.plan:
        what = f"{r.plan.title()} plan"
        if r.period:
            start, end = (p.astimezone(UTC).strftime("%-d %b %Y") for p in r.period)
            what += f", {start} to {end}"
    lines = [(what, r.amount), ("Amount paid", r.amount)]
    if r.refunded_micros > 0:
        lines.append(("Refunded", f"-{usd(r.refunded_micros)}"))
        lines.append(("Paid after refunds", usd(max(0, r.amount_micros - r.refunded_micros))))
    return lines
