"""A month's statement read from the real ledger: balances at the month's edges equal the
ledger's sums there, and a month retention archived answers the same; once its archive
table is dropped it still adds up, by kind, and names the table.

Its own database: retention detaches every month before its cut."""

from __future__ import annotations

from datetime import UTC, date, datetime

from billing.contracts.statements import ARCHIVED, Month, Statement
from gateway.ops.ledger_months import retain
from gateway.services.auth import new_id
from gateway.services.contracts.statements import monthly_statement
from gateway.stores.connect import Stores
from gateway.stores.postgres import partitions
from tests.integration.conftest import settled_row

JAN, FEB = Month(2018, 1), Month(2018, 2)


def _at(month: Month, day: int) -> datetime:
    return datetime(month.year, month.month, day, 12, tzinfo=UTC)


async def _ledger_sum(stores: Stores, acct: str, before: datetime) -> int:
    """The account's balance at `before`, summed from every row there is, live or archived."""
    live = await stores.pool.fetchval(
        "SELECT coalesce(sum(amount_micros), 0) FROM ledger_entries"
        " WHERE account_id = $1 AND occurred_at < $2",
        acct,
        before,
    )
    archived = await stores.pool.fetchval(
        "SELECT coalesce(sum(amount_micros), 0) FROM ledger_archived_sums"
        " WHERE account_id = $1 AND month < $2",
        acct,
        before.date(),
    )
    return int(live + archived)


async def _statement(stores: Stores, acct: str, month: Month) -> Statement:
    s = await monthly_statement(stores.statements(), acct, month, datetime.now(UTC))
    assert s is not None and s.reconciles
    assert s.opening_micros == await _ledger_sum(stores, acct, month.start)
    assert s.closing_micros == await _ledger_sum(stores, acct, month.end)
    return s


async def test_a_month_reconciles_before_and_after_archiving_and_after_a_drop(
    own: Stores,
) -> None:
    stores = own
    await partitions.add_months(stores.pool, [date(2018, 1, 1), date(2018, 2, 1)])
    a, b = new_id("acct"), new_id("acct")
    for acct in (a, b):
        await stores.ledger.create_account(acct, acct, "pro", "prepaid")
    await stores.ledger.credit(a, 10_000, "c1", "top-up")
    rows = [
        settled_row(a, "a1", 100, _at(JAN, 3)),
        settled_row(a, "a2", 200, _at(JAN, 20)),
        settled_row(a, "a3", 300, _at(FEB, 2)),
        settled_row(a, "a4", 50, _at(FEB, 9), qty=5),
        settled_row(b, "b1", 999, _at(FEB, 5)),
        settled_row(a, "a5", 400, datetime.now(UTC)),
    ]
    assert await stores.ledger.write_settlements(rows) == len(rows)

    before = await _statement(stores, a, FEB)
    assert (before.opening_micros, before.closing_micros) == (-300, -650)
    kinds = {ln.key: ln.amount_micros for ln in before.usage_views["by_kind"].lines}
    assert kinds == {"llm_calls": -300, "meter:gpu_seconds": -50}
    assert before.complete and before.sections["usage"].entries == 2

    await retain(stores, date(2018, 3, 1), datetime.now(UTC))
    archived = await _statement(stores, a, FEB)
    assert archived == before
    now = Month(datetime.now(UTC).year, datetime.now(UTC).month)
    current = await _statement(stores, a, now)
    assert current.opening_micros == -650 and current.sections["credits"].total_micros == 10_000

    await stores.pool.execute("DROP TABLE ledger_archive_2018_02")
    dropped = await _statement(stores, a, FEB)
    assert (dropped.opening_micros, dropped.closing_micros) == (-300, -650)
    assert dropped.missing == ("ledger_archive_2018_02",) and not dropped.complete
    for view in dropped.usage_views.values():
        assert [(ln.label, ln.entries, ln.amount_micros) for ln in view.lines] == [
            (ARCHIVED, 2, -350)
        ]
    assert (await _statement(stores, a, JAN)).complete  # January's table is still there
