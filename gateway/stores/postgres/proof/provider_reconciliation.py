"""Reconciliation against the provider in PostgreSQL (migration 091): the ledger's debits of
one upstream credential's UTC day, summed per model and rate card, and the runs' differences
(migration 109: what valued each, and the last good differences a failed run keeps).

The sums read `ledger_entries` by `occurred_at` (its index) for one day and one provider, off
every request's path: a background task or an operator's command asks, once a day or so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import asyncpg

from billing.proof.provider_reports import Slot, model_name
from billing.proof.reconcile import Difference, LedgerSum
from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.postgres.usage.rollups import IMAGES_SQL
from gateway.stores.records import Row

# An image call's tokens (its prompt, counted, or a GPT image model's token usage) are not
# compared: the providers' images report counts images only.
_SUMS = f"""
SELECT model, price_version,
       sum(input_tokens) FILTER (WHERE images = 0)::bigint AS input_tokens,
       sum(cached_input_tokens) FILTER (WHERE images = 0)::bigint AS cached_input_tokens,
       sum(cache_write_tokens) FILTER (WHERE images = 0)::bigint AS cache_write_tokens,
       sum(cache_write_1h_tokens) FILTER (WHERE images = 0)::bigint AS cache_write_1h_tokens,
       sum(output_tokens) FILTER (WHERE images = 0)::bigint AS output_tokens,
       sum(images)::bigint AS images, sum(characters)::bigint AS characters,
       sum(audio_seconds)::bigint AS audio_seconds,
       (SELECT p.card FROM price_versions p WHERE p.version = e.price_version) AS card
FROM (
    SELECT coalesce(model, '') AS model, price_version, input_tokens, cached_input_tokens,
           cache_write_tokens, output_tokens,
           coalesce((usage_detail->>'cache_write_1h_tokens')::bigint, 0) AS cache_write_1h_tokens,
           {IMAGES_SQL} AS images,
           coalesce((usage_detail->>'input_characters')::bigint, 0) AS characters,
           coalesce((usage_detail->>'audio_seconds')::bigint, 0) AS audio_seconds
    FROM ledger_entries
    WHERE kind = 'debit' AND provider = $1 AND meter IS NULL
      AND occurred_at >= $2::date AT TIME ZONE 'UTC'
      AND occurred_at < ($2::date + 1) AT TIME ZONE 'UTC'
) e
GROUP BY 1, 2
"""
_RUN = """
INSERT INTO provider_reconciliation_runs
    (credential, day, upstream, differences, error, compared_at)
VALUES ($1, $2, $3, $4, NULL, now())
ON CONFLICT (credential, day) DO UPDATE SET upstream = excluded.upstream,
    checked_at = now(), differences = excluded.differences, error = NULL,
    compared_at = now()
"""
# A failed run keeps the last good run's differences, its count and when it compared.
_FAILED = """
INSERT INTO provider_reconciliation_runs (credential, day, upstream, differences, error)
VALUES ($1, $2, $3, 0, $4)
ON CONFLICT (credential, day) DO UPDATE SET upstream = excluded.upstream,
    checked_at = now(), error = excluded.error
"""
_INSERT = """
INSERT INTO provider_differences (credential, day, model, kind, class, provider_tokens,
    ledger_tokens, provider_micros, ledger_micros, delta_micros, note, valued_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
"""
COLUMNS = (
    "d.credential, d.day, model, kind, class, provider_tokens, ledger_tokens, provider_micros,"
    " ledger_micros, delta_micros, note, valued_by,"
    " CASE WHEN r.error IS NOT NULL THEN r.checked_at END AS failed_run_at,"
    " r.error AS failed_run_error"
)


def base_rates(card: object) -> Mapping[str, int]:
    """A registered card's base band's rates (micro-USD per unit's `per`), {} for none."""
    if isinstance(card, str):
        card = json.loads(card)
    bands = card.get("bands") if isinstance(card, dict) else None
    if not isinstance(bands, list) or not bands or not isinstance(bands[0], dict):
        return {}
    rates = bands[0].get("rates")
    return {str(k): int(v) for k, v in rates.items()} if isinstance(rates, dict) else {}


def _sum(credential: str, day: date, r: Mapping[str, Any]) -> LedgerSum:
    counts = (
        "input_tokens", "cached_input_tokens", "cache_write_tokens", "cache_write_1h_tokens",
        "output_tokens", "images", "characters", "audio_seconds",
    )  # fmt: skip
    slot = Slot(credential, day, model_name(r["model"]))
    return LedgerSum(slot, base_rates(r["card"]), *(r[c] or 0 for c in counts))


def _row(d: Difference) -> tuple[Any, ...]:
    s = d.slot
    return (
        s.credential, s.day, s.model, d.kind, d.cls, d.provider_tokens, d.ledger_tokens,
        d.provider_micros, d.ledger_micros, d.delta_micros, d.note, d.valued_by,
    )  # fmt: skip


class ProviderReconciliation:
    """Implements `stores.ports.reconciliation.ReconciliationPort`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def ledger_sums(self, credential: str, day: date) -> list[LedgerSum]:
        with map_postgres_errors():
            rows = await self.pool.fetch(_SUMS, credential, day)
        return [_sum(credential, day, r) for r in rows]

    async def record(
        self,
        credential: str,
        day: date,
        upstream: str,
        differences: Sequence[Difference],
        error: str | None = None,
    ) -> None:
        with map_postgres_errors():
            if error is not None:
                await self.pool.execute(_FAILED, credential, day, upstream, error)
                return
            async with self.pool.acquire() as conn, conn.transaction():
                # The run's row first: its upsert locks (credential, day), so a run at once
                # waits here until this one commits, then deletes what it wrote (two runs
                # deleting first both inserted, and the second's insert hit the first's rows).
                await conn.execute(_RUN, credential, day, upstream, len(differences))
                await conn.execute(
                    "DELETE FROM provider_differences WHERE credential = $1 AND day = $2",
                    credential,
                    day,
                )
                if differences:
                    await conn.executemany(_INSERT, [_row(d) for d in differences])

    async def differences(self, day: date | None = None) -> list[Row]:
        where = "" if day is None else " WHERE d.day = $1"
        with map_postgres_errors():
            rows = await self.pool.fetch(
                f"SELECT {COLUMNS} FROM provider_differences d"
                " JOIN provider_reconciliation_runs r USING (credential, day)"
                f"{where} ORDER BY d.day DESC, d.credential, model, kind",
                *(() if day is None else (day,)),
            )
        return [dict(r) for r in rows]

    async def runs(self, limit: int = 60) -> list[Row]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                "SELECT credential, day, upstream, checked_at, differences, error, compared_at"
                " FROM provider_reconciliation_runs ORDER BY day DESC, credential LIMIT $1",
                limit,
            )
        return [dict(r) for r in rows]
