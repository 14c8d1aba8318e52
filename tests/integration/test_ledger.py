"""Each Ledger write against a real PostgreSQL: one transaction, idempotent by constraint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.services.auth import new_id
from gateway.stores.connect import Stores
from gateway.stores.errors import DuplicateCredit
from gateway.stores.postgres import ledger as ledger_module
from gateway.stores.postgres.ledger import COPY_SLICE_ROWS
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


async def test_a_batch_over_a_copy_slice_is_written_whole_and_gives_the_loop_back(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch larger than COPY_SLICE_ROWS goes to COPY in slices with the event loop free
    between them (the settler shares it with the gateway's requests): every row is written
    once, and a task beside it runs while the rows are encoded, not only after."""
    acct = await _account(stores)
    await stores.ledger.credit(acct, 10**9, "seed", "seed")
    rows = [_settled(acct, new_id("req"), 1 + i) for i in range(3 * COPY_SLICE_ROWS + 5)]
    ticks: list[int] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            ticks.append(len(ticks))
            await asyncio.sleep(0)

    paced, slices_seen = ledger_module._paced, []

    async def watched(batch: Sequence[tuple[Any, ...]]) -> AsyncIterator[tuple[Any, ...]]:
        async for row in paced(batch):
            slices_seen.append(len(ticks))
            yield row

    monkeypatch.setattr(ledger_module, "_paced", watched)
    side = asyncio.create_task(ticker())
    try:
        assert await stores.ledger.write_settlements(rows) == len(rows)
    finally:
        stop.set()
        await side
    # The ticker ran between slices: the count it had reached grows at each slice boundary.
    per_slice = [slices_seen[i] for i in range(0, len(rows), COPY_SLICE_ROWS)]
    assert per_slice == sorted(per_slice) and len(set(per_slice)) == len(per_slice)
    assert await stores.ledger.write_settlements(rows) == 0
    entries = await stores.ledger.entries(acct, before=None, limit=500)
    assert sum(1 for e in entries if e["kind"] == "debit") == len(rows)
    assert await _ledger_balance(stores, acct) == 10**9 - sum(1 + i for i in range(len(rows)))


async def test_ping_answers_true_when_reachable(stores: Stores) -> None:
    assert await stores.ledger.ping() is True
