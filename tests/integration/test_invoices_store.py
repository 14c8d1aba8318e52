"""stores/postgres/contracts/invoices.py on a database of its own: the series' numbers have no gap
when issues run at once and some fail inside their transaction; the period's ledger groups
carry the debits to the micro, with a meter's units and its exact unit price."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from billing.contracts.invoices import InvalidInvoice, Invoice, LedgerGroup, Party, lines_of
from billing.contracts.statements import month_of
from billing.money.tax import Tax
from gateway.stores.connect import Stores
from tests.integration.conftest import settled_row

LAST = month_of(datetime.now(UTC)).previous()


def maker(account_id: str, fail: bool):  # type: ignore[no-untyped-def]
    def build(number: int, start: datetime, groups: list[LedgerGroup]) -> Invoice:
        if fail:
            raise InvalidInvoice("refused after the number was taken")
        usage = -sum(g.amount_micros for g in groups if g.section == "usage")
        lines = lines_of(groups, Decimal(1), "USD")
        return Invoice("invoice", "T", number, account_id, str(LAST), start, LAST.end, LAST.end,
                       "USD", Decimal(1), "none", "model", Party(), Party(),
                       Tax(Decimal(0), "Tax"), lines, usage)  # fmt: skip

    return build


async def test_concurrent_and_failed_issues_leave_no_gap(own: Stores) -> None:
    invoices = own.invoices()
    accounts = [f"acct_inv_{i}" for i in range(30)]
    for a in accounts:
        await own.ledger.create_account(a, a, "enterprise", "postpaid")

    async def one(i: int, a: str) -> int | None:
        try:
            inv = await invoices.issue("T", a, LAST.start, LAST.end, "model", maker(a, i % 3 == 0))
        except InvalidInvoice:
            return None
        return inv.sequence

    got = await asyncio.gather(*(one(i, a) for i, a in enumerate(accounts)))
    numbers = sorted(n for n in got if n is not None)
    assert numbers == list(range(1, 21))  # 20 issued, 10 refused after taking a number
    stored = [i.sequence for i in await invoices.of_account(None)]
    assert sorted(stored) == numbers


async def test_groups_carry_the_debits_and_a_meters_unit_price(own: Stores) -> None:
    await own.ledger.create_account("acct_g", "g", "enterprise", "postpaid")
    at = LAST.start + timedelta(days=3)
    rows = [
        settled_row("acct_g", "r1", 7_501, at),
        settled_row("acct_g", "r2", 4_499, at),
        settled_row("acct_g", "r3", 3_000, at, qty=1_000),
        settled_row("acct_g", "r4", 999, LAST.end + timedelta(seconds=1)),  # next month
    ]
    await own.ledger.write_settlements(rows)
    inv = await own.invoices().issue(
        "T", "acct_g", LAST.start, LAST.end, "model", maker("acct_g", False)
    )
    usage = [ln for ln in inv.lines if ln.section == "usage"]
    assert sorted(ln.amount_micros for ln in usage) == [3_000, 12_000]
    assert inv.usage_micros == inv.lines_micros == 15_000
    # A meter's line counts its units only (the settled row carries tokens too).
    tokens, meter = sorted(usage, key=lambda ln: ln.amount_micros, reverse=True)
    assert tokens.quantities == {"input": 6, "cached_input": 2, "output": 4}
    assert tokens.requests == 2 and tokens.unit_price is None
    assert meter.quantities["units"] == 1_000 and meter.unit_price == "0.000003"  # 3 micros a unit
    [again] = await own.invoices().of_account("acct_g")
    assert again == inv
