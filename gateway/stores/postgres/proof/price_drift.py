"""Operator notifications of price drift (billing/proof/drift.py), queued in the settler's batch
transaction as the receivables' are: one `price.drift` per model and hour, naming the first
drifting call of the batch (the outbox keys a row by an account: that call's)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from billing.proof.drift import Checked
from gateway.stores.drift_rows import compared

_ALERT = """
INSERT INTO notify_outbox (delivery_id, account_id, event, payload)
SELECT 'dlv_price.drift_' || m || '_' || to_char(now(), 'YYYYMMDDHH24'), a, 'price.drift',
       p::jsonb
FROM unnest($1::text[], $2::text[], $3::text[]) AS u (m, a, p)
ON CONFLICT (delivery_id) DO NOTHING
"""


async def write_drift_alerts(conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Queue a `price.drift` notification per drifting model (in the caller's transaction)."""
    first: dict[str, Checked] = {}
    for found in compared(rows):
        if found.drifted:
            first.setdefault(found.model, found)
    if not first:
        return
    payloads = [
        json.dumps({"model": c.model, "request_id": c.request_id, "stated_nanos": c.stated_nanos,
                    "card_micros": c.card_micros, "drift_permille": c.permille})
        for c in first.values()
    ]  # fmt: skip
    await conn.execute(_ALERT, list(first), [c.account_id for c in first.values()], payloads)
