"""The settlement journal (stores/journal.py, issue 82): a settlement Redis does not take
within its answer's budget is on disk before the answer goes out; a journal whose process
is gone is replayed by one process at a time; a replay of what Redis took already debits
nothing. The real scripts, settler and ledger; only Redis's silence is made up."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from billing.metering.usage import Usage
from billing.money.admission import Admitted
from gateway.services.money.lost_debits import LostDebits
from gateway.services.money.settlement import ANSWER_BUDGET_S, Hold, Settlements
from gateway.services.registry import TaskRegistry
from gateway.stores.connect import Stores
from gateway.stores.journal import SettleJournal, read
from gateway.stores.records import Journaled, PendingDebit, Settlement
from gateway.workers.journal_replay import replay_leftovers
from gateway.workers.settler import Settler
from tests.integration.conftest import make_holder

DEBIT = Settlement("demo-gpt", "openai", Usage(input_tokens=40, output_tokens=7), 900)


class Silent:
    """The real store, whose settles get no answer until `answer` is set: a Redis that
    stopped answering, then came back."""

    def __init__(self, stores: Stores) -> None:
        self.store, self.answer = stores.store, asyncio.Event()

    async def settle(self, shard: int, account_id: str, rid: str, s: Settlement) -> int:
        await self.answer.wait()
        return await self.store.settle(shard, account_id, rid, s)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def _on_disk(directory: Path) -> set[str]:
    found: set[str] = set()
    for path in directory.glob("*.journal"):
        fd = os.open(path, os.O_RDONLY)
        found |= {j.debit.request_id for j in read(fd)}
        os.close(fd)
    return found


def _empty(directory: Path) -> bool:
    return not os.listdir(directory)


async def _admitted(stores: Stores, name: str) -> Admitted:
    """A reservation of a new account's key, its request id ending in `name`."""
    h = await make_holder(stores, credit=100_000)
    decision = await stores.store.reserve(
        f"{h.account_id}:{name}",
        h.record,
        input_tokens=50,
        max_output_tokens=20,
        spend_micros=2_000,
    )
    assert isinstance(decision, Admitted), decision
    return decision


def _settlements(stores: Stores, store: Any, journal: SettleJournal) -> Settlements:
    rebook = LostDebits(stores.store, stores.pending)
    return Settlements(store, TaskRegistry(), refresh_s=30, rebook=rebook, journal=journal)


async def _debits(stores: Stores, rid: str) -> list[int]:
    await Settler(stores.settlement_stream(), stores.ledger).drain()
    rows = await stores.pool.fetch(
        "SELECT amount_micros FROM ledger_entries WHERE request_id = $1 AND kind = 'debit'", rid
    )
    return [-int(r[0]) for r in rows]


async def test_a_settle_redis_does_not_take_is_on_disk_before_the_answer(
    stores: Stores, tmp_path: Path
) -> None:
    admitted = await _admitted(stores, "silent")
    rid = admitted.request_id
    journal, silent = SettleJournal(tmp_path, stores.store), Silent(stores)
    settlements = _settlements(stores, silent, journal)
    loop = asyncio.get_running_loop()
    asked = loop.time()
    await settlements.settle(Hold(admitted, task=asyncio.current_task()), DEBIT)
    took = loop.time() - asked
    assert _on_disk(tmp_path) == {rid}, "the answer may go out: its settlement is on disk"
    assert ANSWER_BUDGET_S <= took < ANSWER_BUDGET_S + 1, took
    silent.answer.set()  # Redis is back: the retry settles it and marks it taken
    await settlements.drain(5)
    await journal.close()
    assert _empty(tmp_path), "a journal with nothing pending is removed at a stop"
    assert await _debits(stores, rid) == [900]


async def test_a_settle_redis_takes_in_time_writes_no_journal(
    stores: Stores, tmp_path: Path
) -> None:
    admitted = await _admitted(stores, "quick")
    journal = SettleJournal(tmp_path, stores.store)
    settlements = _settlements(stores, stores.store, journal)
    await settlements.settle(Hold(admitted, task=asyncio.current_task()), DEBIT)
    await settlements.drain(5)
    assert journal.written == 0 and _empty(tmp_path)


async def test_a_dead_process_journal_is_replayed_by_one_process_once(
    stores: Stores, tmp_path: Path
) -> None:
    a = await _admitted(stores, "orphan")
    rid = a.request_id
    entry = Journaled(PendingDebit(rid, a.account_id, a.shard, DEBIT), a.key_id)
    dead = SettleJournal(tmp_path, stores.store)
    await dead.write(entry)
    replayer, other = SettleJournal(tmp_path, stores.store), SettleJournal(tmp_path, stores.store)
    assert await replayer.leftovers() == [], "its writer lives: nobody else may replay it"
    assert dead._fd is not None
    os.close(dead._fd)  # the writer dies: the kernel drops its lock
    (claimed,) = await replayer.leftovers()
    assert await other.leftovers() == [], "one replayer at a time"
    claimed.release()
    settlements = _settlements(stores, stores.store, replayer)
    assert await replay_leftovers(replayer, settlements) == 1
    assert await other.leftovers() == [] and _empty(tmp_path)
    assert await _debits(stores, rid) == [900]
    again = SettleJournal(tmp_path, stores.store)  # a journal of a settlement Redis took
    await again.write(entry)
    assert again._fd is not None
    os.close(again._fd)
    assert await replay_leftovers(replayer, settlements) == 1
    assert await _debits(stores, rid) == [900], "a replay of a taken settlement debits nothing"


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    """The writer died in its write, before its fsync returned: never acknowledged."""
    from gateway.stores.journal import encode

    whole = encode(Journaled(PendingDebit("req_a", "acct_a", 3, DEBIT), "key_a"))
    torn = encode(Journaled(PendingDebit("req_b", "acct_a", 3, DEBIT), "key_a"))[:40]
    path = tmp_path / "1-a.journal"
    path.write_bytes(whole + torn)
    fd = os.open(path, os.O_RDONLY)
    (kept,) = read(fd)
    os.close(fd)
    assert kept == Journaled(PendingDebit("req_a", "acct_a", 3, DEBIT), "key_a")
