"""Each Ledger write against a real PostgreSQL: one transaction, idempotent by constraint."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.services.auth import new_id
from gateway.stores.connect import Stores
from gateway.stores.errors import DuplicateCredit
from gateway.stores.stream_fields import ledger_row


async def _account(stores: Stores) -> str:
    acct = new_id("acct")
    await stores.ledger.create_account(acct, "n", "pro", "prepaid")
    return acct


async def _ledger_balance(stores: Stores, acct: str) -> int:
    row = await stores.ledger.get_account(acct)
    assert row is not None
    return int(row["balance_micros"])


async def test_credit_is_written_once_per_idempotency_key(stores: Stores) -> None:
    acct = await _account(stores)
    first = await stores.ledger.credit(acct, 5_000, "idem-1", "seed")
    again = await stores.ledger.credit(acct, 5_000, "idem-1", "seed")
    assert first.created and not again.created
    assert again.entry_id == first.entry_id
    assert await _ledger_balance(stores, acct) == 5_000
    with pytest.raises(DuplicateCredit):
        await stores.ledger.credit(acct, 7_000, "idem-1", "seed")
    assert await _ledger_balance(stores, acct) == 5_000
    entries = await stores.ledger.entries(acct, before=None, limit=10)
    assert [(e["kind"], e["amount_micros"]) for e in entries] == [("credit", 5_000)]


def _settled(acct: str, rid: str, cost: int) -> tuple[object, ...]:
    at = str(int(datetime(2026, 1, 2, tzinfo=UTC).timestamp() * 1000))
    fields = {
        "rid": rid, "kind": "debit", "acct": acct, "key": "key_x", "cost": str(cost),
        "model": "demo-gpt", "provider": "openai", "in": "3", "cin": "1", "cw": "0",
        "out": "2", "rsn": "0", "src": "provider", "at": at, "st": at,
    }  # fmt: skip
    return ledger_row(fields)


async def test_write_settlements_skips_rows_already_written(stores: Stores) -> None:
    acct = await _account(stores)
    await stores.ledger.credit(acct, 10_000, "seed", "seed")
    rows = [_settled(acct, new_id("req"), 100 + i) for i in range(3)]
    assert await stores.ledger.write_settlements(rows) == 3
    assert await stores.ledger.write_settlements([*rows, _settled(acct, new_id("req"), 50)]) == 1
    assert await _ledger_balance(stores, acct) == 10_000 - (100 + 101 + 102 + 50)
    entries = await stores.ledger.entries(acct, before=None, limit=10)
    assert sorted(e["amount_micros"] for e in entries if e["kind"] == "debit") == [
        -102,
        -101,
        -100,
        -50,
    ]


async def test_ping_answers_true_when_reachable(stores: Stores) -> None:
    assert await stores.ledger.ping() is True
