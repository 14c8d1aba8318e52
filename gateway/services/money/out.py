"""Money an operator takes out of an account (a negative adjustment, a refund): decided
against what the account has free in the same atomic step that holds it.

The hold (take.lua) is taken under the PostgreSQL lock the operation's record is written
under (the account's for an adjustment's entry, the payment's for a refund's claim), and it
is only ever given back under that lock, once the record is known not to be there. So
whatever crashes where, a hold ends one of two ways: turned into its entry by credit.lua
(the writer does it after its commit; the resolver does it if the writer did not), or given
back because its record was never written. Until then it counts as held, so racing
reservations cannot spend the money it decided on, and `meterway reconcile` (which compares
balances, not holds) needs nothing new: an entry a repair applies first still has its hold
dropped by the resolver.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from gateway.stores.errors import StoreError
from gateway.stores.money_out_ids import hold_id
from gateway.stores.ports import HotStorePort, LedgerPort
from gateway.stores.ports.money.payments import ClaimState
from gateway.stores.records import MoneyOutHold

log = logging.getLogger("meterway.money_out")
ADJUSTMENT, REFUND = "adjustment", "refund"


class Claims(Protocol):
    async def claim_locked(
        self,
        account_id: str,
        payment_id: str,
        key: str,
        then: Callable[[ClaimState | None], Awaitable[None]],
    ) -> None: ...


def out_hold(
    account_id: str, amount_micros: int, kind: str, key: str, payment_id: str | None = None
) -> MoneyOutHold:
    """The hold for taking `amount_micros` (> 0) out under an operation's key."""
    return MoneyOutHold(
        hold_id(account_id, kind, key), account_id, amount_micros, kind, key, payment_id
    )


async def convert(store: HotStorePort, hold: MoneyOutHold, entry_id: int) -> int:
    """Apply the entry the hold was for and drop the hold, in one step; the balance."""
    return await store.apply_credit(
        hold.account_id, entry_id, -hold.amount_micros, hold=hold.hold_id
    )


async def resolve(
    ledger: LedgerPort, store: HotStorePort, claims: Claims | None, shard: int, rid: str
) -> bool:
    """Close a hold its writer left open (the sweeper calls this at its deadline): turned
    into its entry if that was written, given back if it never was, looked at again later
    while a refund's provider may still have moved the money. True when it was closed."""
    hold = await store.money_out.held(shard, rid)
    if hold is None:
        return False
    if hold.kind == ADJUSTMENT:
        return await _resolve_adjustment(ledger, store, hold)
    if claims is None or hold.payment_id is None:
        await store.money_out.postpone(shard, rid)
        return False
    return await _resolve_refund(claims, store, shard, hold)


async def _resolve_adjustment(ledger: LedgerPort, store: HotStorePort, hold: MoneyOutHold) -> bool:
    async def then(entry_id: int | None) -> None:
        if entry_id is None:
            await store.money_out.give_back(hold.account_id, hold.hold_id)
        else:
            await convert(store, hold, entry_id)

    await ledger.credit_key_locked(hold.account_id, hold.key, then)
    return True


async def _resolve_refund(
    claims: Claims, store: HotStorePort, shard: int, hold: MoneyOutHold
) -> bool:
    closed = True

    async def then(state: ClaimState | None) -> None:
        nonlocal closed
        if state is None:  # no claim: the provider was never asked, or it refused
            await store.money_out.give_back(hold.account_id, hold.hold_id)
        elif state.entry_id is not None:
            await convert(store, hold, state.entry_id)
        else:  # asked, no answer or not booked yet: the money may have left
            await store.money_out.postpone(shard, hold.hold_id)
            closed = False

    assert hold.payment_id is not None
    await claims.claim_locked(hold.account_id, hold.payment_id, hold.key, then)
    return closed


async def resolve_now(ledger: LedgerPort, store: HotStorePort, hold: MoneyOutHold) -> None:
    """After a writer's failure, close its adjustment hold at once if the ledger answers;
    otherwise the sweeper does at the hold's deadline."""
    try:
        await _resolve_adjustment(ledger, store, hold)
    except StoreError:
        log.warning("money-out hold %s left to the sweeper", hold.hold_id)
