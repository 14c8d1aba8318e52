# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Leases in one gateway process: requests admitted against a slice held in Redis, settled
by one append each (billing/money/leases.py says what a lease is).

Kept whole: one state machine over one process's leases (grant, admit, append, batch,
reclaim, close); the scripts' calls are lease_runs.py, the record lease_record.py.

- `admit` takes a request from the key's current lease, or asks Redis for a new one (one
  reserve.lua call in mode 'lease', which checks and holds everything a per-request
  reservation would, times the lease's units). None sends the request down the
  per-request path: the key is not busy enough, the headroom is small, the account is in a
  commitment's period, or Redis refused the lease (the per-request call then gives the
  refusal its exact words).
- `settle` appends the request's settlement to the lease's stream (XADD, no script), before
  its answer goes out; `keep` then runs lease_apply.lua over each lease with appends, in
  batches, which debits the balance and queues the ledger rows.
- `keep` also closes a lease that stopped admitting (its end came, or a bigger request
  needed a new one) once its requests are settled, extends the deadlines of the others,
  and tops up a lease running low. A process that dies leaves its leases to the sweeper,
  which applies what was appended and gives back the rest (`close`).
- A change to an account or a key waits until no lease granted before it can still admit
  (`wait_out`: the account's and key's `lz`, at most billing.money.leases.MAX_LIFE_MS).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from billing import values
from billing.money.admission import Admitted
from billing.money.leases import (
    MAX_LIFE_MS,
    SHARE_BPS,
    Pool,
    Rate,
    Unit,
    lease_end_ms,
    wanted_count,
)
from billing.money.micros import marked_up
from gateway.stores.ports.hot import CLOSED
from gateway.stores.records import KeyRecord, Settlement
from gateway.stores.redis.errors import map_redis_errors
from gateway.stores.redis.leases import wire as lease_wire
from gateway.stores.redis.leases.record import Lease
from gateway.stores.redis.leases.runs import GONE, LeaseRuns
from gateway.stores.redis.wire.replies import decode_reserve_reply

if TYPE_CHECKING:
    from gateway.stores.redis.hot_core import HotCore

log = logging.getLogger("meterway.leases")
DEBITED = 1
# A lease's appends wait to be applied until this many have come, or this long has passed
# since its last batch: a key sending a few calls a round would otherwise cost Redis a
# script a round each (the balance and windows hold the lease's worst case meanwhile). A
# lease with nothing appended still runs its batch that often: the batch reads whether a
# call of the account was refused asking for the leases' unused part back (`reclaim`).
APPLY_AT = 32
APPLY_AFTER_S = 0.25
# Another process's lease reads a reclaim with its next batch and gives back its unused
# part in that round: APPLY_AFTER_S, a round (background.py's LEASE_KEEP_S) and a margin.
# A refused call is asked again once that much has passed and some lease of the account
# gave back since the reclaim (the account's `lb` moved): on a loaded machine the other
# process's round comes late, and a fixed wait refused a call that room was coming back
# for. RECLAIM_BOUND_S bounds the wait when no lease answers (its process is gone: the
# sweeper gives its room back later).
RECLAIM_WAIT_S = 0.4
RECLAIM_BOUND_S = 2.0
RECLAIM_POLL_S = 0.05
KEEP_AT_ONCE = 64  # leases whose round's scripts are sent together
STOP_WAIT_S = 2.0  # at a stop, the most a top-up still asking Redis is waited for
# A lease's deadline: `keep` pushes it while the process lives (every ~5 s); the sweeper
# closes the lease of a process that stopped this long ago.
TTL_MS = "30000"


class Leases:
    """The leases of one process, on the hot store that grants them."""

    def __init__(
        self, store: HotCore, *, enabled: bool, wanted: Callable[[Rate], int] = wanted_count
    ) -> None:
        self.store = store
        self.enabled = enabled
        self._wanted = wanted  # units to ask for, from a key's recent rate (0: no lease)
        self.runs = LeaseRuns(store)
        # Counted for the benches and the tests: script calls asking for a lease, and calls
        # admitted under one (each of which asked Redis for nothing).
        self.grants = 0
        self.granted = 0
        self.admitted = 0
        self.reclaims = 0  # refused calls that asked the account's leases back
        self.reclaim_runs = 0  # the reclaims those calls shared (one per account at a time)
        self._current: dict[str, Lease] = {}  # key id -> the lease admitting its requests
        self._open: dict[str, Lease] = {}  # lease id -> every lease not yet closed
        self._requests: dict[str, tuple[Lease, int, int, int, bool]] = {}
        self._rates: dict[str, Rate] = {}
        # The rates' clock, ms from the loop's: tests hold it still, so that a loaded
        # machine's slow calls cannot make a key they drive one by one look quiet.
        self.rate_ms: Callable[[float], int] = _ms
        self._topping: set[str] = set()  # key ids whose next lease is being asked for
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reclaiming: dict[str, asyncio.Future[bool]] = {}  # account id -> its reclaim
        self.on_low_balance: Any = None  # told the account id when an apply says so
        # Told (request id, account id, shard, key id, settlement) of each debit appended
        # under a lease Redis no longer has (lost with its data, or closed by a sweeper
        # while this process could not reach it): services/money/settlement.py debits it late
        # unless it is queued or written already. None: it goes undebited, logged.
        self.on_lost: Any = None

    def owns(self, request_id: str) -> bool:
        return request_id in self._requests

    # -- admission ------------------------------------------------------------------

    async def admit(
        self, request_id: str, key: KeyRecord, input_tokens: int, output_tokens: int, spend: int
    ) -> Admitted | None:
        """The request admitted under a lease, or None: take the per-request path."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        rate = self._rates.get(key.key_id)
        if rate is None:
            rate = self._rates[key.key_id] = Rate()
        lease = self._current.get(key.key_id)
        rate.seen(self.rate_ms(now))
        if lease is not None:
            admitted = self._take(lease, request_id, input_tokens, output_tokens, spend, now)
            if admitted is not None:
                if lease.pool.low(lease.units):
                    self._top_up(key, Unit(input_tokens, output_tokens, spend), rate)
                return admitted
            self._retire(lease)
        count = self._wanted(rate)
        if count == 0:
            return None
        lease = await self._grant(key, Unit(input_tokens, output_tokens, spend), count)
        if lease is None:
            return None
        return self._take(lease, request_id, input_tokens, output_tokens, spend, loop.time())

    def _take(
        self, lease: Lease, request_id: str, i: int, o: int, spend: int, now: float
    ) -> Admitted | None:
        if lease.retired or now >= lease.ends_at:
            return None
        held = marked_up(spend, lease.admitted.markup_bps)
        if not lease.pool.take(i, o, held):
            return None
        lease.in_flight += 1
        self.admitted += 1
        self._requests[request_id] = (lease, i, o, held, False)
        return values.replace(
            lease.admitted, request_id=request_id, held_micros=held, now_ms=lease.now_ms(now)
        )

    def _top_up(self, key: KeyRecord, unit: Unit, rate: Rate) -> None:
        if key.key_id in self._topping:
            return
        self._topping.add(key.key_id)
        self._spawn(self._grant(key, unit, max(self._wanted(rate), 1)))

    async def _grant(self, key: KeyRecord, unit: Unit, count: int) -> Lease | None:
        """One reserve.lua call in mode 'lease'; the new lease becomes the key's current."""
        store = self.store
        lease_id = f"lse_{key.shard}_{os.urandom(16).hex()}"
        args = (
            lease_id,
            key.account_id,
            key.key_id,
            1,
            unit.input_tokens,
            unit.output_tokens,
            unit.spend_micros,
            store.tz_offset_ms(),
            TTL_MS,
            store.clock_flag,
            store.keys.counters(key.shard),
            "lease",
            *("",) * 10,
            count,
            SHARE_BPS,
            MAX_LIFE_MS,
        )
        loop = asyncio.get_running_loop()
        asked_at = loop.time()
        stream = store.keys.lease_stream(key.shard, lease_id)
        self.grants += 1
        try:
            reply, counters = await store.reserve_raw(key, args, (stream,))
        finally:
            self._topping.discard(key.key_id)
        if reply[0] != 1:
            return None
        self.granted += 1
        admitted = decode_reserve_reply(reply, lease_id, key, unit.spend_micros)
        assert isinstance(admitted, Admitted)
        units, ends = int(reply[11]), [int(v) for v in reply[12:15]]
        lease = Lease(lease_id, key, admitted, units, counters)
        lease.pool = Pool.of(units, unit, units * admitted.held_micros)
        lease.granted_at = asked_at  # Redis's clock read after this: the lease ends early
        lease.applied_at = asked_at
        end_ms = lease_end_ms(admitted.now_ms, *ends)
        lease.ends_at = asked_at + (end_ms - admitted.now_ms) / 1000
        lease.stream = stream
        lease.seen = store.keys.lease_seen(key.shard, lease_id)
        self._open[lease_id] = lease
        old = self._current.get(key.key_id)
        if old is not None:
            self._retire(old)
        self._current[key.key_id] = lease
        return lease

    def _retire(self, lease: Lease) -> None:
        lease.retired = True
        if self._current.get(lease.key.key_id) is lease:
            del self._current[lease.key.key_id]

    # -- settlement -----------------------------------------------------------------

    async def settle(self, request_id: str, s: Settlement) -> int:
        """Append the settlement (the first try), or append it unless Redis has it (a
        retry). DEBITED; DEBITED_LATE when its lease was closed before its first try
        (debited from what is free); CLOSED when a retry finds the lease closed without it
        (an earlier try may have landed: services/money/settlement.py debits it late unless its
        debit is queued or written)."""
        lease, i, o, held, tried = self._requests[request_id]
        if lease.closed:  # closed under it (a stop, a sweeper): nothing of it appended
            self._done(request_id, lease)
            return await self._late(lease, request_id, s)
        now = asyncio.get_running_loop().time()
        at = lease.now_ms(now)
        entry = lease_wire.debit_entry(request_id, lease.account_id, lease.key.key_id, s, at, at)
        self._requests[request_id] = (lease, i, o, held, True)
        with map_redis_errors():
            if not tried:
                appended = await self._append(lease, entry)
            else:
                appended = await self.runs.append_again(
                    lease.key.shard, lease.id, lease.stream, lease.seen, request_id, entry
                )
        self._done(request_id, lease)
        if appended:
            lease.unapplied[request_id] = s
            return DEBITED
        if not tried:  # the lease was closed first: nothing of this call is in Redis
            return await self._late(lease, request_id, s)
        return CLOSED  # an earlier try may have landed: services/money/settlement.py looks

    def append_again_form(self, request_id: str, s: Settlement) -> tuple[str, str, str, str] | None:
        """What any process's retry of this request's append writes (lease_settle.lua): its
        lease id, stream, seen set and entry; None when it is not admitted under a lease
        still open here (a closed lease's call is debited late, as a reservation's is)."""
        held = self._requests.get(request_id)
        if held is None or held[0].closed:
            return None
        lease = held[0]
        at = lease.now_ms(asyncio.get_running_loop().time())
        entry = lease_wire.debit_entry(request_id, lease.account_id, lease.key.key_id, s, at, at)
        return lease.id, lease.stream, lease.seen, entry

    async def _late(self, lease: Lease, request_id: str, s: Settlement) -> int:
        """A call whose lease was closed with nothing of it appended: debited from what is
        free now, as a debit after a void is (DEBITED_LATE)."""
        key = lease.key
        return await self.store.debit_late(key.shard, key.account_id, key.key_id, request_id, s)

    async def _append(self, lease: Lease, entry: str) -> bool:
        """XADD to the lease's stream, if it still exists: a close (this process's, or a
        sweeper's while this process was cut off) drops it, and then nothing is added."""
        added = await self.store.command(
            "XADD", lease.stream, "NOMKSTREAM", "*", lease_wire.FIELD, entry
        )
        return added is not None

    async def release(self, request_id: str, keep_request: bool) -> bool:
        """Give the request's worst case back to its lease's pool; a forwarded request the
        provider refused stays counted in request windows (an appended `f`)."""
        lease, i, o, held, _ = self._requests[request_id]
        try:
            if keep_request and not lease.closed:
                with map_redis_errors():
                    if await self._append(lease, lease_wire.refused_entry(request_id)):
                        lease.unapplied[request_id] = None
        finally:
            # Whatever Redis answered: a call left in flight would keep its lease, and all
            # it holds, open for as long as the process lives. An append that failed leaves
            # the refused request out of request windows (it was not billed either way).
            lease.pool.give_back(i, o, held, request=not keep_request)
            self._done(request_id, lease)
        return True

    def _done(self, request_id: str, lease: Lease) -> None:
        if self._requests.pop(request_id, None) is not None:
            lease.in_flight -= 1

    # -- upkeep ---------------------------------------------------------------------

    async def keep(self, extend: bool = False, due_only: bool = False) -> None:
        """One round: apply what was appended (`due_only`: a batch for leases with APPLY_AT
        appends waiting or APPLY_AFTER_S since their last), give back what a lease that
        stopped admitting would admit more and close it once no call of it is in flight,
        and (`extend`) push the deadlines of the rest and forget the rates of keys gone
        quiet (a million keys seen once hold no memory here)."""
        now = asyncio.get_running_loop().time()
        if extend:
            quiet = [k for k, rate in self._rates.items() if rate.quiet(self.rate_ms(now))]
            for key_id in quiet:
                del self._rates[key_id]
        # KEEP_AT_ONCE leases' scripts at a time: they leave in one write, so a round lasts
        # a round trip per KEEP_AT_ONCE leases, not one per lease, and Redis is never handed
        # more than a millisecond or two of them at once (other calls wait behind them).
        # Only leases with work this round get a task: most wait for their next batch.
        leases = [
            lease
            for lease in list(self._open.values())
            if self._has_work(lease, now, due_only, extend)
        ]
        failed: BaseException | None = None
        for at in range(0, len(leases), KEEP_AT_ONCE):
            chunk = leases[at : at + KEEP_AT_ONCE]
            work = [self._keep_one(lease, now, due_only, extend) for lease in chunk]
            for outcome in await asyncio.gather(*work, return_exceptions=True):
                if isinstance(outcome, BaseException) and failed is None:
                    failed = outcome
        if failed is not None:
            raise failed  # the first failure, once every other lease's work was done

    def _has_work(self, lease: Lease, now: float, due_only: bool, extend: bool) -> bool:
        """Whether `_keep_one` would ask Redis anything of the lease this round (retiring
        it first if its end came)."""
        if now >= lease.ends_at:
            self._retire(lease)
        if lease.retired:
            return lease.in_flight == 0 or not lease.trimmed or extend
        return extend or self._batch_due(lease, now, due_only)

    @staticmethod
    def _batch_due(lease: Lease, now: float, due_only: bool) -> bool:
        """APPLY_AFTER_S since its last batch (one runs then even when nothing was
        appended: it reads whether a reclaim came), APPLY_AT appends waiting, or any
        append when every batch is wanted (not `due_only`)."""
        waiting = len(lease.unapplied)
        return lease.applied_at <= now - APPLY_AFTER_S or (
            waiting > 0 and (not due_only or waiting >= APPLY_AT)
        )

    async def _keep_one(self, lease: Lease, now: float, due_only: bool, extend: bool) -> None:
        if not lease.retired and self._batch_due(lease, now, due_only):
            lease.applied_at = now
            await self._run(lease, "apply")  # a reclaim it reads retires the lease
        if lease.closed:
            return
        if lease.retired and lease.in_flight == 0:
            await self._close(lease)
        elif lease.retired and not lease.trimmed:
            await self._trim(lease)  # what it would admit more, given back at once
        elif extend:  # admitting, or given back and waiting for calls still served
            await self.store.extend_by(lease.key.shard, lease.id, TTL_MS)

    def held(self) -> int:
        """Leases this process holds now (granted, not closed)."""
        return len(self._open)

    def retire_all(self) -> None:
        """No lease of this process admits another call (each closes once its calls are
        settled)."""
        for lease in list(self._open.values()):
            self._retire(lease)

    async def close_all(self) -> None:
        """At a stop: every lease applied and given back (what Redis refuses now, the
        sweeper closes later). A top-up still asking Redis is waited for first: the lease
        it brings would otherwise stay held until a sweeper found it expired."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=STOP_WAIT_S)
        self.retire_all()
        for lease in list(self._open.values()):
            await self._close(lease)

    async def _trim(self, lease: Lease) -> None:
        """A lease that stopped admitting while calls of it are still served gives back at
        once what it would have admitted more: held unused only while it could admit."""
        lease.trimmed = True
        pool = lease.pool
        unused = (pool.requests, pool.input_tokens, pool.output_tokens, pool.spend_micros)
        lease.pool = Pool(0, 0, 0, 0)
        await self._run(lease, "trim", unused)

    async def _close(self, lease: Lease) -> None:
        lease.closed = True
        await self._run(lease, "close")
        self._open.pop(lease.id, None)

    async def _run(self, lease: Lease, mode: str, trim: tuple[int, ...] = ()) -> None:
        shard = lease.key.shard
        reply = await self.runs.apply(shard, lease.id, lease.account_id, mode, lease.counters, trim)
        if len(reply) > 4 and int(reply[4]) > lease.admitted.now_ms:  # a call was refused
            self._retire(lease)
        for rid in reply[5:]:
            lease.unapplied.pop(rid.decode() if isinstance(rid, bytes) else str(rid), None)
        if int(reply[2]) and self.on_low_balance is not None:
            self.on_low_balance(lease.account_id)
        if int(reply[3]) == GONE:
            lease.closed = True
            self._open.pop(lease.id, None)
            self._retire(lease)
            await self._lost(lease)

    async def _lost(self, lease: Lease) -> None:
        """Debits appended under a lease Redis no longer has, that no close applied (its
        seen set: a sweeper may have closed it while this process could not reach Redis):
        settled as lost calls."""
        appended = [(rid, s) for rid, s in lease.unapplied.items() if s is not None]
        lease.unapplied.clear()
        if not appended:
            return
        with map_redis_errors():
            seen = await self.store.redis.smismember(lease.seen, [rid for rid, _ in appended])
        for (rid, s), applied in zip(appended, seen, strict=True):
            if applied:
                continue
            log.error("lease %s is gone with the debit of %s appended under it", lease.id, rid)
            if self.on_lost is not None:
                self.on_lost(rid, lease.account_id, lease.key.shard, lease.key.key_id, s)

    async def close_expired(self, shard: int, lease_id: str) -> bool:
        """The sweeper's close of a lease whose process stopped extending it."""
        return await self.runs.close_expired(shard, lease_id)

    async def reclaim(self, key: KeyRecord) -> bool:
        """After a call of the account was refused: this process's leases of it give back
        now what they would have admitted more, and the other processes' are asked to (the
        account's `lr`, which their next apply round reads). True when that may have freed
        room: the call is asked once more (after RECLAIM_WAIT_S when other processes hold
        leases of the account). Calls of one account refused together share one reclaim:
        a hundred refused at once asked Redis three commands each on a connection of their
        own, and a loaded machine failed some of those connects."""
        self.reclaims += 1
        account = key.account_id
        shared = self._reclaiming.get(account)
        if shared is None:
            shared = asyncio.ensure_future(self._reclaim(key))
            self._reclaiming[account] = shared
            shared.add_done_callback(functools.partial(self._reclaimed, account))
        return await asyncio.shield(shared)

    def _reclaimed(self, account: str, done: asyncio.Future[bool]) -> None:
        del self._reclaiming[account]
        if not done.cancelled():
            done.exception()  # retrieved: each waiter raises it (or none waits any more)

    async def _reclaim(self, key: KeyRecord) -> bool:
        self.reclaim_runs += 1
        mine = [lease for lease in self._open.values() if lease.account_id == key.account_id]
        freed = False
        for lease in mine:
            self._retire(lease)
            if lease.in_flight == 0:
                await self._close(lease)
                freed = True
            elif not lease.trimmed:
                await self._trim(lease)
                freed = True
        name = self.store.keys.account(key.shard, key.account_id)
        now = await self.store.now_ms()
        with map_redis_errors():
            until, before = await self.store.redis.hmget(name, ["lz", "lb"])
            if until is None or int(until) <= now:
                return freed
            await self.store.redis.hset(name, "lr", str(now))
        await self._given_back(name, before)
        return True

    async def _given_back(self, name: str, before: bytes | str | None) -> None:
        """Until RECLAIM_WAIT_S has passed and a lease of the account gave back since
        `before` (its `lb`), or RECLAIM_BOUND_S."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.sleep(RECLAIM_WAIT_S)
        while loop.time() - started < RECLAIM_BOUND_S:
            with map_redis_errors():
                if await self.store.redis.hget(name, "lb") != before:
                    return
            await asyncio.sleep(RECLAIM_POLL_S)

    async def wait_out(self, name: str) -> None:
        """After a change to the hash `name` (an account's or a key's) returned from Redis:
        this process's leases on it stop admitting, and the change waits until no other
        process's lease granted before it can admit either (the hash's `lz`). Nothing
        without leases (LEASES is the same on every process): no read per change."""
        if not self.enabled:
            return
        keys = self.store.keys
        for lease in list(self._open.values()):
            shard = lease.key.shard
            if name in (
                keys.account(shard, lease.account_id),
                keys.api_key(shard, lease.key.key_id),
            ):
                self._retire(lease)
        with map_redis_errors():
            until = await self.store.redis.hget(name, "lz")
        if until is None:
            return
        wait_ms = int(until) - await self.store.now_ms()
        if wait_ms > 0:
            await asyncio.sleep(wait_ms / 1000)

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("a lease top-up failed: %s", task.exception())


def _ms(loop_now: float) -> int:
    return int(loop_now * 1000)


__all__ = ["Lease", "Leases"]
