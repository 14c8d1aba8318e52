"""What an invoice charges back for a commitment (its `applied` lines, migration 107): the
money each commitment period drew that was paid before it, less what earlier invoices
charged back (billing.contracts.commitments.applied_now). Read inside the issuing transaction, up to
the ledger id the invoice covers.

A period whose charge-backs already reached what it drew from prepaid money (closed, or
nothing more drawn) costs no read of the ledger: only the periods still owed one sum their
debits, so an invoice does not scan an account's whole history.
"""

from __future__ import annotations

import json

import asyncpg

from billing.contracts.commitments import ENTRY_KEY_PREFIX, applied_now, prepaid_share
from billing.contracts.invoices import LedgerGroup
from gateway.stores.ports.contracts.commitments import tranches_of
from gateway.stores.ports.contracts.invoices import OpenDraw

# Each period of the account's commitment: its terms at open, what it drew once closed, and
# the prepayment it opened with (its credit's key: billing.contracts.commitments.entry_key, $2 the
# prefix).
_PERIODS = """
SELECT p.starts_at, p.ends_at, p.rolled_in, p.drawn_micros, p.closed_at,
       coalesce((SELECT k.amount_micros FROM ledger_credit_keys k
                 WHERE k.account_id = $1 AND k.idempotency_key = $2 || c.id
                   || ':' || (extract(epoch FROM p.starts_at) * 1000)::bigint || ':prepaid'),
                0) AS prepaid_micros
FROM commitment_periods p JOIN commitments c ON c.id = p.commitment_id
WHERE c.account_id = $1
ORDER BY p.starts_at
"""
# The debits of a period's time the ledger holds up to id $2.
_COUNTED = """
SELECT coalesce(-sum(amount_micros), 0)::bigint FROM ledger_entries
WHERE account_id = $1 AND kind = 'debit' AND id <= $2 AND occurred_at >= $3 AND occurred_at < $4
"""
_APPLIED_BEFORE = """
SELECT ln.key, -sum(ln.amount_micros)::bigint AS micros
FROM invoice_lines ln JOIN invoices i ON i.id = ln.invoice_id
WHERE i.account_id = $1 AND i.kind = 'invoice' AND ln.section = 'applied'
GROUP BY ln.key
"""


def _drawn(period: asyncpg.Record, open_drawn: OpenDraw | None) -> int:
    """A closed period drew what its close recorded; the open one what the hot store said,
    or nothing yet when it could not say (a later invoice charges it back)."""
    if period["closed_at"] is not None:
        return int(period["drawn_micros"])
    ends_ms = int(period["ends_at"].timestamp() * 1000)
    if open_drawn is not None and open_drawn.ends_ms == ends_ms:
        return open_drawn.drawn_micros
    return 0


async def applied_groups(
    conn: asyncpg.Connection, account_id: str, through: int, open_drawn: OpenDraw | None
) -> list[LedgerGroup]:
    """One `applied` group a period still owed a charge-back (`open_drawn`: the open
    period's end and drawn micros, from the hot store)."""
    before = {r["key"]: r["micros"] for r in await conn.fetch(_APPLIED_BEFORE, account_id)}
    out = []
    for p in await conn.fetch(_PERIODS, account_id, ENTRY_KEY_PREFIX):
        rolled = p["rolled_in"]
        rolled = json.loads(rolled) if isinstance(rolled, str) else rolled
        prepaid = prepaid_share(int(p["prepaid_micros"]), tranches_of(rolled))
        drawn = _drawn(p, open_drawn)
        day = f"{p['starts_at']:%Y-%m-%d}"
        key = f"commitment {day}"
        if before.get(key, 0) >= min(prepaid, drawn):
            continue
        counted = await conn.fetchval(_COUNTED, account_id, through, p["starts_at"], p["ends_at"])
        micros = applied_now(prepaid, drawn, int(counted), before.get(key, 0))
        if micros:
            label = f"drawn from the commitment paid in advance (period from {day})"
            out.append(LedgerGroup("applied", key, label, 0, 0, micros))
    return out
