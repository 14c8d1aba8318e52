"""`meterway reconcile [--repair]`: every account's Redis balance plus the settlements still
queued in its stream (or parked in its dead-letter stream) must equal its ledger balance.

A cheap pass over every account finds candidates (rechecked, since a settler commit or a
credit between its ledger write and its Redis apply looks like drift for a moment); each
candidate is then compared exactly: its hot position is read under a fence (balance, the
shard stream's newest id and length, the applied-credit count), the ledger in one snapshot,
and the comparison counts only if the fence still held afterwards. A repair is a delta that
repair.lua applies under the same fence, so a settle racing the repair makes it read again
instead of erasing the debit. The ledger is the truth; Redis is corrected towards it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from gateway.stores.connect import Stores
from gateway.stores.ports.repair import BalanceRepairPort
from gateway.stores.records import HotPosition
from gateway.stores.stream_fields import readable_cost

ATTEMPTS = 20  # fenced reads per account before it is reported as too busy to check
RETRY_PAUSE_S = 0.02
CREDIT_IN_FLIGHT_S = 60.0  # a credit applied to Redis later than this was lost


@dataclass(frozen=True)
class Drift:
    """`ledger_micros` leaves out the queued settlements the settler already wrote, so
    Redis should hold ledger - queued. `unapplied_credits`: ledger credits Redis never
    applied (a repair applies them, once). `checked`: False when the account never stood
    still long enough for an exact comparison (reported, never repaired)."""

    account_id: str
    ledger_micros: int
    redis_micros: int | None
    queued_micros: int
    unapplied_credits: int = 0
    repaired: bool = False
    checked: bool = True

    @property
    def expected_redis(self) -> int:
        return self.ledger_micros - self.queued_micros


@dataclass(frozen=True)
class Parked:
    """Settlements in the dead-letter streams: taken from Redis balances, refused by the
    ledger. Reconcile counts their cost as queued (so a repair never gives it back) and
    reports them, since until they are requeued the ledger lacks them."""

    count: int
    owed: dict[str, int]  # account -> micros, for the messages that still name both
    unreadable: int  # messages too damaged to name an account or a cost


async def parked(stores: Stores) -> Parked:
    letters = await stores.settlement_stream().dead_letters(limit=1_000_000)
    owed: dict[str, int] = {}
    unreadable = 0
    for letter in letters:
        cost = readable_cost(letter.fields)
        if cost is None:
            unreadable += 1
        else:
            owed[cost[0]] = owed.get(cost[0], 0) + cost[1]
    return Parked(len(letters), owed, unreadable)


async def queued_costs(stores: Stores) -> dict[str, int]:
    """Cost per account of settlements in the streams not yet written to the ledger."""
    return await stores.hot_restore().queued_costs()


async def _candidates(stores: Stores, only: set[str] | None) -> set[str]:
    """Accounts that look drifted on a quick, unfenced read (a superset of the drifted)."""
    queued = await queued_costs(stores)
    totals = await stores.operator().totals(None if only is None else sorted(only))
    out = set()
    for account_id, total in totals.items():
        hot = await stores.store.balance(account_id)
        if hot is None or hot[0] != total - queued.get(account_id, 0):
            out.add(account_id)
    return out


@dataclass(frozen=True)
class _Check:
    pos: HotPosition
    ledger: int  # the ledger balance, in-flight credits left out
    unapplied: list[int]  # credits old enough to be lost, never applied to Redis
    delta: int  # what Redis lacks, those credits included


async def _check(
    fix: BalanceRepairPort, stores: Stores, pos: HotPosition, grace_s: float
) -> _Check:
    """The exact comparison of one fenced read. A credit younger than `grace_s` that Redis
    has not applied is in flight (its writer applies it next) and counts on neither side."""
    ledger, credits = await stores.operator().position(pos.account_id, pos.queued.keys())
    missing = set(await fix.unapplied(pos.account_id, [entry for entry, _, _ in credits]))
    in_flight = sum(amount for entry, amount, age in credits if entry in missing and age < grace_s)
    unapplied = [entry for entry, _, age in credits if entry in missing and age >= grace_s]
    ledger -= in_flight
    return _Check(pos, ledger, unapplied, ledger - pos.queued_micros - pos.balance)


async def exact_check(
    fix: BalanceRepairPort, stores: Stores, account_id: str, repair: bool, grace_s: float
) -> Drift | None:
    """One account compared (and repaired) under the fence; None when it does not drift.
    Without `repair` the script still checks the fence, with a zero delta."""
    check: _Check | None = None
    for _ in range(ATTEMPTS):
        pos = await fix.position(account_id)
        if pos is None:  # not in Redis at all: `meterway rebuild` restores it
            total = (await stores.operator().totals([account_id]))[account_id]
            return Drift(account_id, total, None, 0)
        check = await _check(fix, stores, pos, grace_s)
        delta, credits = (check.delta, check.unapplied) if repair else (0, [])
        if await fix.repair(pos, delta, credits):
            if check.delta == 0 and not check.unapplied:
                return None
            return _drift(check, repaired=repair)
        await asyncio.sleep(RETRY_PAUSE_S)  # something moved it: read again
    assert check is not None
    return _drift(check, repaired=False, checked=False)


def _drift(c: _Check, *, repaired: bool, checked: bool = True) -> Drift:
    p = c.pos
    return Drift(
        p.account_id,
        c.ledger,
        p.balance,
        p.queued_micros,
        len(c.unapplied),
        repaired,
        checked,
    )


async def reconcile(
    stores: Stores,
    repair: bool = False,
    rechecks: int = 3,
    pause_s: float = 0.5,
    credit_grace_s: float = CREDIT_IN_FLIGHT_S,
) -> list[Drift]:
    """Accounts whose Redis balance + queued settlements differ from the ledger, each
    compared exactly; with `repair`, each corrected by a fenced delta (safe while serving).
    A ledger credit Redis has not applied after `credit_grace_s` is taken as lost (its
    writer died between PostgreSQL and Redis): the repair applies it, once."""
    suspects = await _candidates(stores, None)
    for _ in range(rechecks):
        if not suspects:
            break
        await asyncio.sleep(pause_s)
        suspects = await _candidates(stores, suspects)
    fix = stores.balance_repair()
    drifts = [
        await exact_check(fix, stores, account_id, repair, credit_grace_s)
        for account_id in sorted(suspects)
    ]
    return [d for d in drifts if d is not None]
