"""Usage rollups move with the ledger rows in one transaction, and a redelivered batch adds
nothing to either (the settler's at-least-once delivery stays exactly-once in reports)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import asyncpg
import pytest

from gateway.stores.postgres.directory import Directory
from gateway.stores.postgres.ledger import Ledger


@pytest.fixture
async def pool(dsn: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    yield p
    await p.close()


def debit(
    rid: str, account: str, cost: int, model: str, key: str, day: int, provider: int | None = None
) -> tuple[object, ...]:
    at = datetime(2026, 3, day, 23, 59, 59, tzinfo=UTC)
    # ledger row columns (stream_fields.LEDGER_COLUMNS); then four of the meter's, then the
    # price version, the provider cost (None: the charge), the priced detail and the end user
    return (account, "debit", -cost, rid, key, model, "openai", 10, 2, 0, 5, 1, "provider", at,
            None, None, None, None, "v1", provider, None, None)  # fmt: skip


async def test_rollups_follow_the_ledger_once_per_request(pool: asyncpg.Pool) -> None:
    ledger, directory = Ledger(pool), Directory(pool)
    account = f"acct_roll_{id(pool)}"
    await ledger.create_account(account, "r", "pro", "prepaid")
    rows = [
        debit(f"{account}-1", account, 100, "m1", "k1", 1),
        debit(f"{account}-2", account, 250, "m2", "k1", 1, provider=200),
        debit(f"{account}-3", account, 7, "m1", "k2", 2),
    ]
    void = (account, "void", 0, f"{account}-4", "k1", None, None, 0, 0, 0, 0, 0, None, rows[0][13],
            None, None, None, None, None, None, None, None)  # fmt: skip
    assert await ledger.write_settlements([*rows, void]) == 4
    assert await ledger.write_settlements(rows[:2]) == 0  # redelivered: nothing new
    by_day = await directory.usage_report(account, date(2026, 3, 1), date(2026, 4, 1), "day")
    assert [(r["bucket"], r["spend_micros"], r["requests"]) for r in by_day] == [
        ("2026-03-01", 350, 2),
        ("2026-03-02", 7, 1),
    ]
    by_model = await directory.usage_report(account, date(2026, 3, 1), date(2026, 4, 1), "model")
    assert {r["bucket"]: r["output_tokens"] for r in by_model} == {"m1": 10, "m2": 5}
    # The gross margin: a debit marked up 250 over a provider cost of 200; the others are
    # charged at provider cost (no provider cost of their own).
    assert {r["bucket"]: r["provider_cost_micros"] for r in by_model} == {"m1": 107, "m2": 200}
    ledger_sum = await pool.fetchval(
        "SELECT -sum(amount_micros) FROM ledger_entries WHERE account_id = $1 AND kind = 'debit'",
        account,
    )
    assert sum(r["spend_micros"] for r in by_day) == ledger_sum == 357
    assert await directory.usage_report(account, date(2026, 3, 2), date(2026, 3, 3), "key") == [
        {**by_day[1], "bucket": "k2"}
    ]
