"""The usage exporter reads never-tried debits above a bound (export_scan, migration 025)
instead of every debit of every mapped account: the bound never passes a debit that can
still commit or that is still untried, and an account mapped later still gets every debit.

Its own database per test: the bound is one per target, over every account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from billing.usage.exports import Attempt, Outcome
from gateway.services.auth import new_id
from gateway.stores.connect import Stores
from gateway.stores.postgres.usage.exports import ExportLedger
from tests.integration.conftest import settled_row


async def _account(stores: Stores, ledger: ExportLedger, mapped: bool = True) -> str:
    acct = new_id("acct")
    await stores.ledger.create_account(acct, acct, "pro", "prepaid")
    if mapped:
        await ledger.set_customer(acct, "lago", f"sub_{acct}")
    return acct


async def _debit(stores: Stores, acct: str, rid: str) -> None:
    assert await stores.ledger.write_settlements([settled_row(acct, rid, 100, _now())]) == 1


def _now() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=1)


async def _export(ledger: ExportLedger) -> list[str]:
    """One exporter run at Lago, every row delivered: the request ids sent."""
    rows = await ledger.due("lago", _now(), 500)
    delivered = [Outcome(r.entry_id, True) for r in rows]
    await ledger.mark("lago", Attempt(rows, delivered, []), _now())
    return sorted(r.request_id for r in rows)


async def _through(stores: Stores) -> int:
    return int(
        await stores.pool.fetchval("SELECT through_id FROM export_scan WHERE target = 'lago'")
    )


async def _first_bound(stores: Stores, ledger: ExportLedger, acct: str) -> int:
    """One debit sent, then runs until the bound has passed it: the bound."""
    await _debit(stores, acct, "r-0")
    assert await _export(ledger) == ["r-0"]
    for _ in range(2):
        assert await _export(ledger) == []
    bound = await _through(stores)
    assert bound > 0
    return bound


async def test_a_debit_committed_after_newer_ones_is_still_exported(own: Stores) -> None:
    ledger = ExportLedger(own.pool)
    a, c = await _account(own, ledger), await _account(own, ledger)
    first = await _first_bound(own, ledger, a)
    async with own.pool.acquire() as slow:
        tx = slow.transaction()
        await tx.start()  # a settler's batch still open: its id is taken, not yet committed
        slow_id = await slow.fetchval(
            "WITH g AS (INSERT INTO ledger_request_ids VALUES ('r-slow', 'debit'))"
            " INSERT INTO ledger_entries (account_id, kind, amount_micros, request_id,"
            " occurred_at) VALUES ($1, 'debit', -100, 'r-slow', now()) RETURNING id",
            c,  # another account: its batch holds that account's row
        )
        await _debit(own, a, "r-1")
        assert await _export(ledger) == ["r-1"]
        for _ in range(3):
            assert await _export(ledger) == []
        assert first <= await _through(own) < slow_id  # not past the open batch
        await tx.commit()
    assert await _export(ledger) == ["r-slow"]
    for _ in range(2):
        assert await _export(ledger) == []
    assert await _through(own) > slow_id
    assert await ledger.counts("lago", a) == {"sent": 2}
    assert await ledger.counts("lago", c) == {"sent": 1}


async def test_the_bound_holds_until_every_debit_below_it_was_tried(own: Stores) -> None:
    ledger = ExportLedger(own.pool)
    a = await _account(own, ledger)
    for i in range(3):
        await _debit(own, a, f"r-{i}")
    rows = await ledger.due("lago", _now(), 2)  # a batch of two; the third waits
    assert len(rows) == 2
    for _ in range(3):
        assert len(await ledger.due("lago", _now(), 2)) == 2  # nothing marked: no move
    assert await _through(own) == 0
    assert await _export(ledger) == ["r-0", "r-1", "r-2"]
    assert await _export(ledger) == []
    top = await _through(own)
    assert top >= max(r.entry_id for r in rows) + 1
    # Below the bound nothing is read again: an export row lost there would not be found
    # (the read is bounded; the bound only passes debits that have their rows).
    await own.pool.execute("DELETE FROM usage_exports WHERE request_id = 'r-0'")
    assert await _export(ledger) == []


async def test_an_account_mapped_after_the_bound_passed_its_debits_gets_them(
    own: Stores,
) -> None:
    ledger = ExportLedger(own.pool)
    a = await _account(own, ledger)
    b = await _account(own, ledger, mapped=False)
    await _debit(own, b, "b-1")
    await _debit(own, b, "b-2")
    await _debit(own, a, "a-1")
    assert await _export(ledger) == ["a-1"]
    for _ in range(2):
        assert await _export(ledger) == []
    b_ids = await own.pool.fetch("SELECT id FROM ledger_entries WHERE account_id = $1", b)
    assert await _through(own) > max(r["id"] for r in b_ids)
    await ledger.set_customer(b, "lago", "sub_B")
    assert await _export(ledger) == ["b-1", "b-2"]
    assert await _export(ledger) == []
    assert await ledger.counts("lago", b) == {"sent": 2}
    await ledger.set_customer(b, "lago", "sub_B2")  # mapped again: nothing is sent twice
    assert await _export(ledger) == []


async def test_a_sequence_that_caches_ids_keeps_the_bound_where_it_is(own: Stores) -> None:
    """An operator's ALTER SEQUENCE ... CACHE n lets a session commit an id it took earlier,
    below a bound set since: the bound stops moving, and every debit is still sent."""
    ledger = ExportLedger(own.pool)
    a = await _account(own, ledger)
    held = await _first_bound(own, ledger, a)
    await own.pool.execute("ALTER SEQUENCE ledger_entries_id_seq CACHE 20")
    for i in range(1, 3):
        await _debit(own, a, f"r-{i}")
        assert await _export(ledger) == [f"r-{i}"]
        assert await _export(ledger) == []
    assert await _through(own) == held
    await own.pool.execute("ALTER SEQUENCE ledger_entries_id_seq CACHE 1")
    for _ in range(2):
        assert await _export(ledger) == []
    assert await _through(own) > held  # ids one by one again: the bound moves on
    assert await ledger.counts("lago", a) == {"sent": 3}


async def test_the_first_debit_of_a_fresh_ledger_is_exported_after_runs_on_an_empty_one(
    own: Stores,
) -> None:
    """Runs before any id was given out keep the bound at 0: a fresh sequence reads
    last_value 1, and a bound at 1 would pass over the first debit when it comes."""
    ledger = ExportLedger(own.pool)
    for _ in range(3):
        assert await _export(ledger) == []
    assert await _through(own) == 0
    acct = await _account(own, ledger)
    await _debit(own, acct, "first")
    assert await own.pool.fetchval("SELECT min(id) FROM ledger_entries") == 1
    assert await _export(ledger) == ["first"]
