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
    the grant `grant` describes (a paid one by default), in the same transaction."""
    result = await ledger.credit(
        account_id, amount_micros, idempotency_key, reason, kind=kind, event=event, grant=grant
    )
    balance = await store.apply_credit(account_id, result.entry_id, amount_micros)
    return Posted(result.entry_id, amount_micros, result.created, balance)
