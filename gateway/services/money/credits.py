"""Posting money to an account: the one path every credit takes (operator, payments, dev).

PostgreSQL first (the record of truth, idempotent on the key), then the hot balance, which
applies each ledger entry id once: a retry or a re-delivered provider event heals a crash
between the two instead of crediting twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.services.money.out import ADJUSTMENT, convert, out_hold, resolve_now
from gateway.stores.errors import BalanceTooLow, DuplicateCredit
from gateway.stores.ports import HotStorePort, LedgerPort
from gateway.stores.records import EventRef, GrantSpec


@dataclass(frozen=True, slots=True)
class Posted:
    entry_id: int
    amount_micros: int
    created: bool
    balance_micros: int


async def post_credit(
    ledger: LedgerPort,
    store: HotStorePort,
    account_id: str,
    amount_micros: int,
    idempotency_key: str,
    reason: str,
    *,
    kind: str = "credit",
    event: EventRef | None = None,
    grant: GrantSpec | None = None,
    hold: str | None = None,
) -> Posted:
    """Raises DuplicateCredit when the key was used for a different amount. A credit funds
    the grant `grant` describes (a paid one by default), in the same transaction; a grant
    that ends is entered with its end in the hot balance, so it is never spent past it.
    `hold`: the money-out hold a refund was taken under, dropped as the entry is applied."""
    result = await ledger.credit(
        account_id, amount_micros, idempotency_key, reason, kind=kind, event=event, grant=grant
    )
    ends = None
    if grant is not None and grant.expires_at is not None and result.grant_id is not None:
        ends = (result.grant_id, int(grant.expires_at.timestamp() * 1000))
    balance = await store.apply_credit(account_id, result.entry_id, amount_micros, ends, hold)
    return Posted(result.entry_id, amount_micros, result.created, balance)


async def post_adjustment(
    ledger: LedgerPort,
    store: HotStorePort,
    account_id: str,
    amount_micros: int,
    idempotency_key: str,
    reason: str,
    kind: str = "adjustment",
) -> Posted:
    """An operator's correction, its own kind (`adjustment`; a commitment's write-off is
    `commitment_expire`, services/contracts/commitments.py) with its reason: money in funds
    a grant like a credit; money out draws from grants like spend. Money out may take at most
    what the account has free (its balance less what running requests and other holds hold,
    down to 0 whatever its credit line), decided and held in one atomic step under the
    account's lock, then applied with its hold dropped (services/money/out.py): an
    adjustment never makes an account owe, however many requests race it; charging someone
    is a payment, not a correction. Raises BalanceTooLow (naming what could be taken) or
    DuplicateCredit; a replay of a written adjustment is answered as one, never refused."""
    if amount_micros > 0:
        result = await ledger.credit(account_id, amount_micros, idempotency_key, reason, kind=kind)
        balance = await store.apply_credit(account_id, result.entry_id, amount_micros)
        return Posted(result.entry_id, amount_micros, result.created, balance)
    hold = out_hold(account_id, -amount_micros, ADJUSTMENT, idempotency_key)
    try:
        result = await ledger.credit(
            account_id,
            amount_micros,
            idempotency_key,
            reason,
            kind=kind,
            hold=lambda: store.money_out.take(hold),
        )
    except (BalanceTooLow, DuplicateCredit):
        raise  # nothing was held, or the key's entry is another amount's
    except BaseException:
        await resolve_now(ledger, store, hold)
        raise
    balance = await convert(store, hold, result.entry_id)
    return Posted(result.entry_id, amount_micros, result.created, balance)
