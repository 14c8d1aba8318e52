"""Invoices' port (stores/postgres/contracts/invoices.py): the customer's invoicing details, issuing
an invoice or a credit note in one transaction with its gapless number, and reading them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from billing.contracts.invoices import Invoice, LedgerGroup
from gateway.stores.records import Row

# Makes the invoice from its number, its period's start and the period's ledger groups.
Build = Callable[[int, datetime, list[LedgerGroup]], Invoice]
# Makes the credit note from its own number, the invoice it corrects and the positions of
# that invoice's lines earlier credit notes cancelled.
BuildCredit = Callable[[int, Invoice, frozenset[int]], Invoice]


class OpenDraw(NamedTuple):
    """What the account's open commitment period has drawn, as the hot store says it: the
    period's end (ms) names which period it is."""

    ends_ms: int
    drawn_micros: int


class InvoicesPort(Protocol):
    async def customer(self, account_id: str) -> Row | None:
        """The account's invoicing details (CUSTOMER_FIELDS); None when none were set."""
        ...

    async def set_customer(self, account_id: str, fields: Mapping[str, Any]) -> Row:
        """Write the given details; the others keep their values (defaults at first)."""
        ...

    async def issue(
        self,
        series: str,
        account_id: str,
        month_start: datetime,
        period_end: datetime,
        group_by: str,
        build: Build,
        open_drawn: OpenDraw | None = None,
    ) -> Invoice:
        """Issue the account's invoice of the month up to `period_end` (from the end of its
        last invoice that month, else the month's start) with the series' next number, in
        one transaction: if `build` raises, nothing is written and no number is used. The
        groups include what the commitment's periods drew from money paid in advance and no
        earlier invoice charged back (`open_drawn`: the open period's drawdown, if known)."""
        ...

    async def credit_note(self, series: str, number: int, build: BuildCredit) -> Invoice | None:
        """Issue a credit note for invoice `number` of the series, in one transaction with
        its number (the series' lock held while the lines already credited are read);
        None if there is no such invoice."""
        ...

    async def of_account(self, account_id: str | None) -> list[Invoice]:
        """An account's invoices and credit notes by number; every account's for None."""
        ...

    async def one(self, series: str, number: int) -> Invoice | None: ...

    async def delivery(self, series: str, number: int) -> Row | None:
        """Where the invoice was sent (provider, its id there, its page, when) and when it
        was paid; None when it was never sent."""
        ...

    async def deliveries(self, account_id: str | None) -> dict[str, Row]:
        """The deliveries of an account's invoices (every account's for None), by number."""
        ...

    async def record_delivery(
        self, series: str, number: int, provider: str, provider_id: str, url: str | None,
        sent_at: datetime,
    ) -> Row:  # fmt: skip
        """Record the invoice's delivery once (a second send keeps the first); the row."""
        ...

    async def mark_paid(self, provider_id: str, paid_at: datetime) -> str | None:
        """Mark the invoice sent as `provider_id` paid: its number the first time, else
        None (unknown, or paid already)."""
        ...
