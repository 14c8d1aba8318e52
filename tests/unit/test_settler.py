"""The settler's batching against in-memory fakes of its two ports: no Redis, no PostgreSQL.

A fake stream hands out messages and remembers what was acknowledged and parked; a fake ledger
refuses rows it is told to (like a foreign key would) and fails whole writes on demand (like
a lost connection). What must hold: good messages are written once and acknowledged, a refused
or unreadable message is parked alone with its reason, and a transient failure acknowledges
nothing and loses nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import orjson
import pytest

from gateway.stores import stream_fields as sf
from gateway.stores.errors import LedgerRejected, LedgerUnavailable
from gateway.stores.ports import SettlementLedger, SettlementStream
from gateway.stores.records import Backlog, DeadLetter, Queued
from gateway.workers.settler import ROWS_SLICE, Settler


def named_fields(rid: str, account: str = "acct_1", **over: bytes) -> dict[bytes, bytes]:
    """A message as versions before the packed row queued it: one stream field a name."""
    f = {
        sf.REQUEST_ID: rid.encode(),
        sf.KIND: b"debit",
        sf.ACCOUNT: account.encode(),
        sf.KEY: b"key_1",
        sf.COST: b"100",
        sf.MODEL: b"gpt-4o-mini",
        sf.PROVIDER: b"openai",
        sf.INPUT: b"10",
        sf.CACHED_INPUT: b"0",
        sf.CACHE_WRITE: b"0",
        sf.OUTPUT: b"5",
        sf.REASONING: b"0",
        sf.SOURCE: b"provider",
        sf.RESERVED_AT: b"1700000000000",
        sf.SETTLED_AT: b"1700000000500",
    }
    f.update({k.encode(): v for k, v in over.items()})
    return f


def fields(rid: str, account: str = "acct_1", **over: bytes) -> dict[bytes, bytes]:
    """A message as settle.lua queues it: the same values as one JSON array."""
    return sf.packed(named_fields(rid, account, **over))


class FakeStream:
    """Messages in one list; `read` hands out what is neither acknowledged nor parked."""

    consumer = "settler-test"

    def __init__(self, messages: Sequence[dict[bytes, bytes]]) -> None:
        self.messages = [Queued(i % 64, f"{i}-0", m) for i, m in enumerate(messages)]
        self.handed: set[str] = set()
        self.acked: list[str] = []
        self.parked: dict[str, str] = {}
        self.written_counter = 0

    def _open(self) -> list[Queued]:
        done = set(self.acked) | set(self.parked)
        return [m for m in self.messages if m.message_id not in done]

    async def ensure_groups(self) -> None:
        pass

    async def read(self, count: int, *, pending: bool, block_ms: int | None = None) -> list[Queued]:
        if pending:
            return [m for m in self._open() if m.message_id in self.handed]
        new = [m for m in self._open() if m.message_id not in self.handed][: count * 8]
        self.handed |= {m.message_id for m in new}
        return new

    async def claim_stale(self, idle_ms: int, count: int) -> list[Queued]:
        return []

    async def ack(self, messages: Sequence[Queued], written: int) -> None:
        self.acked.extend(m.message_id for m in messages)
        self.written_counter += written

    async def dead_letter(self, message: Queued, reason: str) -> bool:
        self.parked[message.message_id] = reason
        return True

    async def backlog(self) -> Backlog:
        return Backlog(len(self._open()), 0)

    async def dead_letter_count(self) -> int:
        return len(self.parked)

    async def dead_letters(self, limit: int = 1000) -> list[DeadLetter]:
        return []

    async def requeue(self, entry_ids: Sequence[str] | None = None) -> int:
        return 0

    async def forget_idle_consumers(self, idle_ms: int) -> int:
        return 0


class FakeLedger:
    """Rows by request id; refuses any batch holding a refused account, like a foreign key."""

    def __init__(self, refuse_accounts: frozenset[str] = frozenset(), fail_writes: int = 0):
        self.rows: dict[str, tuple[object, ...]] = {}
        self.refuse = refuse_accounts
        self.fail_writes = fail_writes
        self.writes = 0

    async def write_settlements(self, rows: Sequence[tuple[object, ...]]) -> int:
        self.writes += 1
        if self.fail_writes:
            self.fail_writes -= 1
            raise LedgerUnavailable("connection lost")
        if any(row[0] in self.refuse for row in rows):
            raise LedgerRejected("violates foreign key constraint")
        before = len(self.rows)
        for row in rows:
            self.rows.setdefault(str(row[3]), row)
        return len(self.rows) - before


def settler(stream: SettlementStream, ledger: SettlementLedger, batch: int = 64) -> Settler:
    return Settler(stream, ledger, batch=batch)


async def test_a_refused_message_is_bisected_out_and_parked_alone() -> None:
    msgs = [fields(f"r{i}") for i in range(40)]
    msgs[23] = fields("r23", account="acct_gone")
    stream, ledger = FakeStream(msgs), FakeLedger(frozenset({"acct_gone"}))
    await settler(stream, ledger).drain(timeout_s=5)
    assert sorted(ledger.rows) == sorted(f"r{i}" for i in range(40) if i != 23)
    assert list(stream.parked) == ["23-0"]
    assert "foreign key" in stream.parked["23-0"]
    assert len(stream.acked) == 39 and "23-0" not in stream.acked
    assert stream.written_counter == 39
    assert ledger.writes <= 2 * 7  # halves down to one row: about 2 log2(n) writes


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"out": b"10000000000000000000"}, "output_tokens out of range"),
        ({"cost": b"-5"}, "cost out of range"),
        ({"kind": b"refund"}, "unknown kind"),
        ({"in": b"ten"}, "unreadable message: ValueError"),
        ({"st": b"99999999999999999999"}, "unreadable message"),
    ],
)
@pytest.mark.parametrize("form", [fields, named_fields])
async def test_an_unreadable_message_is_parked_without_a_write(
    over: dict[str, bytes], reason: str, form: Callable[..., dict[bytes, bytes]]
) -> None:
    msgs = [form("good1"), form("bad", **over), form("good2")]
    stream, ledger = FakeStream(msgs), FakeLedger()
    await settler(stream, ledger).drain(timeout_s=5)
    assert sorted(ledger.rows) == ["good1", "good2"]
    assert reason in stream.parked["1-0"]
    assert ledger.writes == 1  # the good ones in one transaction


async def test_a_missing_field_is_parked() -> None:
    broken = named_fields("bad")
    del broken[sf.COST]
    stream, ledger = FakeStream([broken, fields("good")]), FakeLedger()
    await settler(stream, ledger).drain(timeout_s=5)
    assert list(ledger.rows) == ["good"]
    assert "KeyError" in stream.parked["0-0"]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (b'["r1", "debit"', "unreadable message: JSONDecodeError"),
        (b'{"rid": "r1"}', "not an array of strings"),
        (b'["r1", "debit", "acct_1", "key_1", 100]', "not an array of strings"),
        (orjson.dumps(["x"] * 14), "a row of 14 values"),
        (orjson.dumps(["x"] * 16), "a row of 16 values"),
    ],
)
async def test_a_row_that_is_not_a_settlement_is_parked(row: bytes, reason: str) -> None:
    stream, ledger = FakeStream([{sf.ROW: row}, fields("good")]), FakeLedger()
    await settler(stream, ledger).drain(timeout_s=5)
    assert list(ledger.rows) == ["good"]
    assert reason in stream.parked["0-0"]


def test_both_forms_make_the_same_row_and_read_the_same_cost() -> None:
    packed, named = fields("r1", cost=b"250"), named_fields("r1", cost=b"250")
    assert sf.ledger_row_raw(packed) == sf.ledger_row_raw(named)
    assert sf.named(packed) == named and sf.named(named) == named
    assert sf.queued(packed) == sf.queued(named) == ("r1", "debit", "acct_1", 250)
    assert sf.readable_cost({sf.ROW: b"[1"}) is None
    assert sf.named({sf.ROW: b"[1", b"x-reason": b"r"}) == {sf.ROW: b"[1", b"x-reason": b"r"}


async def test_a_transient_failure_acknowledges_nothing_and_the_batch_is_retried() -> None:
    stream, ledger = FakeStream([fields(f"r{i}") for i in range(10)]), FakeLedger(fail_writes=1)
    s = settler(stream, ledger)
    with pytest.raises(LedgerUnavailable):
        await s.run_once()
    assert stream.acked == [] and stream.parked == {}
    await s.drain(timeout_s=5)  # re-reads its own pending batch first
    assert len(ledger.rows) == 10 and len(stream.acked) == 10 and s.written == 10


async def test_a_redelivered_message_is_acknowledged_but_not_counted_twice() -> None:
    stream, ledger = FakeStream([fields("r1"), fields("r1"), fields("r2")]), FakeLedger()
    s = settler(stream, ledger)
    await s.drain(timeout_s=5)
    assert len(stream.acked) == 3
    assert s.written == stream.written_counter == 2


async def test_full_batches_are_read_ahead_and_all_written() -> None:
    stream, ledger = FakeStream([fields(f"r{i}") for i in range(1000)]), FakeLedger()
    s = settler(stream, ledger, batch=64)  # 8 messages per shard read, 64 at most
    await s.drain(timeout_s=5)
    assert len(ledger.rows) == 1000 and len(set(stream.acked)) == 1000


class LaneLedger(FakeLedger):
    """Holds each write until `lanes` writes are in flight at once (or fails the test after
    a second), and fails the first write that holds an odd shard's account when told to."""

    def __init__(self, lanes: int, fail_odd_once: bool = False) -> None:
        super().__init__()
        self.lanes, self.fail_odd_once = lanes, fail_odd_once
        self.in_flight = self.most_in_flight = 0
        self.accounts_per_write: list[set[str]] = []
        self.together = asyncio.Event()

    async def write_settlements(self, rows: Sequence[tuple[object, ...]]) -> int:
        accounts = {str(row[0]) for row in rows}
        self.accounts_per_write.append(accounts)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        if self.in_flight == self.lanes:
            self.together.set()
        try:
            await asyncio.wait_for(self.together.wait(), 1.0)
            if self.fail_odd_once and any(int(a[1:]) % 2 for a in accounts):
                self.fail_odd_once = False
                raise LedgerUnavailable("connection lost")
            return await super().write_settlements(rows)
        finally:
            self.in_flight -= 1


def by_shard(n: int) -> list[dict[bytes, bytes]]:
    """Message i lands in shard i % 64 (FakeStream) and bills account `s<shard>`, as a real
    account always settles through its own shard."""
    return [fields(f"r{i}", account=f"s{i % 64}") for i in range(n)]


async def test_a_full_batch_is_written_in_concurrent_lanes_that_share_no_account() -> None:
    stream, ledger = FakeStream(by_shard(64)), LaneLedger(lanes=2)
    s = Settler(stream, ledger, batch=64, lanes=2)
    assert await s.run_once() == 64
    assert ledger.most_in_flight == 2  # both transactions were open at once
    first, second = ledger.accounts_per_write
    assert not first & second  # no account row for the two to queue on
    assert {int(a[1:]) % 2 for a in first} != {int(a[1:]) % 2 for a in second}
    assert len(ledger.rows) == 64 and sorted(stream.acked) == sorted(
        m.message_id for m in stream.messages
    )


async def test_a_thin_batch_is_one_transaction() -> None:
    stream, ledger = FakeStream(by_shard(10)), FakeLedger()
    await Settler(stream, ledger, batch=64, lanes=2).drain(timeout_s=5)
    assert ledger.writes == 1 and len(ledger.rows) == 10


async def test_a_failed_lane_leaves_only_its_own_messages_pending() -> None:
    stream, ledger = FakeStream(by_shard(64)), LaneLedger(lanes=2, fail_odd_once=True)
    s = Settler(stream, ledger, batch=64, lanes=2)
    with pytest.raises(LedgerUnavailable):
        await s.run_once()
    even = sorted(m.message_id for m in stream.messages if m.shard % 2 == 0)
    assert sorted(stream.acked) == even  # the lane that committed was acknowledged
    assert s.written == 32
    ledger.lanes = 1  # the retry is one lane: nothing to wait for
    await s.drain(timeout_s=5)
    assert len(ledger.rows) == 64 and len(stream.acked) == 64 == len(set(stream.acked))
    assert s.written == 64 == stream.written_counter


async def test_a_large_batch_gives_the_event_loop_back_while_it_becomes_rows() -> None:
    """The settler usually shares the loop with the gateway's requests: a batch of hundreds
    of messages lets other tasks run every ROWS_SLICE messages before anything is written
    (the fakes here never wait, so only the settler's own pacing lets the ticker in)."""
    n = 8 * ROWS_SLICE + 3
    stream = FakeStream([fields(f"r{i}") for i in range(n)])
    ticks: list[int] = []
    at_write: list[int] = []

    class WatchedLedger(FakeLedger):
        async def write_settlements(self, rows: Sequence[tuple[object, ...]]) -> int:
            at_write.append(len(ticks))
            return await super().write_settlements(rows)

    async def ticker() -> None:
        while True:
            ticks.append(len(ticks))
            await asyncio.sleep(0)

    ledger = WatchedLedger()
    side = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    ticks.clear()
    try:
        assert await Settler(stream, ledger, batch=4 * n, lanes=1).run_once() == n
    finally:
        side.cancel()
    assert at_write and at_write[0] >= n // ROWS_SLICE
    assert len(ledger.rows) == n and len(stream.acked) == n
