"""Posting money to an account: the one path every credit takes (operator, payments, dev).

PostgreSQL first (the record of truth, idempotent on the key), then the hot balance, which
applies each ledger entry id once: a retry or a re-delivered provider event heals a crash
between the two instead of crediting twice.
"""

from __future__ import annotations

from dataclasses import dataclass

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
) -> Posted:
    """Raises DuplicateCredit when the key was used for a different amount. A credit funds
    the grant `grant` describes (a paid one by default), in the same transaction; a grant
    that ends is entered with its end in the hot balance, so it is never spent past it."""
    result = await ledger.credit(
        account_id, amount_micros, idempotency_key, reason, kind=kind, event=event, grant=grant
    )
    ends = None
    if grant is not None and grant.expires_at is not None and result.grant_id is not None:
        ends = (result.grant_id, int(grant.expires_at.timestamp() * 1000))
    balance = await store.apply_credit(account_id, result.entry_id, amount_micros, ends)
    return Posted(result.entry_id, amount_micros, result.created, balance)


async def post_adjustment(
    ledger: LedgerPort,
    store: HotStorePort,
    account_id: str,
    amount_micros: int,
    idempotency_key: str,
    reason: str,
) -> Posted:
    """An operator's correction, its own kind (`adjustment`) with its reason: money in funds
    a grant like a credit; money out draws from grants like spend. Money out may take at most
    what the account has: the ledger balance (checked under the account's lock) and the live
    available balance (balance minus what running requests hold) must both stay >= 0, so an
    adjustment never makes an account owe; charging someone is a payment, not a correction.
    Raises BalanceTooLow (naming what could be taken) or DuplicateCredit; a replay of a
    written adjustment is answered as one, never refused."""
    most = None
    if amount_micros < 0:
        live = await store.balance(account_id)
        most = max(0, live[0] - live[1]) if live is not None else 0
    result = await ledger.credit(
        account_id, amount_micros, idempotency_key, reason, kind="adjustment", take_at_most=most
    )
    balance = await store.apply_credit(account_id, result.entry_id, amount_micros)
    return Posted(result.entry_id, amount_micros, result.created, balance)
