"""Debits a stopping gateway could not settle in Redis, kept in PostgreSQL until applied.

A completed upstream call is never voided: when Redis stays unreachable until shutdown, the
priced usage is written here, and the sweeper turns each row into a debit once Redis answers.
"""

from __future__ import annotations

import json

import asyncpg

from billing.metering.usage import Usage, UsageSource
from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.records import PendingDebit, Settlement
from gateway.stores.stream_fields import encode_detail

_COLUMNS = (
    "request_id, account_id, shard, model, provider, cost_micros, input_tokens,"
    " cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, usage_source,"
    " price_version, provider_cost_micros, usage_detail, end_user"
)


def _row(p: PendingDebit) -> tuple[object, ...]:
    s = p.settlement
    u = s.usage
    return (
        p.request_id,
        p.account_id,
        p.shard,
        s.model,
        s.provider,
        s.cost_micros,
        u.input_tokens,
        u.cached_input_tokens,
        u.cache_write_tokens,
        u.output_tokens,
        u.reasoning_tokens,
        u.source,
        s.price_version,
        s.provider_cost_micros,
        encode_detail(s.detail) or None,
        s.end_user,
    )


def _debit(r: asyncpg.Record) -> PendingDebit:
    source: UsageSource = "counted" if r["usage_source"] == "counted" else "provider"
    usage = Usage(
        r["input_tokens"],
        r["cached_input_tokens"],
        r["cache_write_tokens"],
        r["output_tokens"],
        r["reasoning_tokens"],
        source,
    )
    settlement = Settlement(
        r["model"],
        r["provider"],
        usage,
        r["cost_micros"],
        r["price_version"],
        r["provider_cost_micros"],
        _detail(r["usage_detail"]),
        r["end_user"],
    )
    return PendingDebit(r["request_id"], r["account_id"], r["shard"], settlement)


def _detail(text: str | None) -> tuple[tuple[str, int | str], ...]:
    """The priced detail as a Settlement holds it: sorted pairs."""
    return tuple(sorted(json.loads(text).items())) if text else ()


class PendingDebits:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def put(self, debits: list[PendingDebit]) -> None:
        """Idempotent: a request id already recorded is left as it is."""
        with map_postgres_errors():
            await self._put(debits)

    async def _put(self, debits: list[PendingDebit]) -> None:
        await self.pool.executemany(
            f"INSERT INTO pending_debits ({_COLUMNS}) VALUES"
            " ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16) ON CONFLICT DO NOTHING",
            [_row(d) for d in debits],
        )

    async def oldest(self, limit: int = 200) -> list[PendingDebit]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                f"SELECT {_COLUMNS} FROM pending_debits ORDER BY created_at LIMIT $1", limit
            )
        return [_debit(r) for r in rows]

    async def done(self, request_id: str) -> None:
        with map_postgres_errors():
            await self.pool.execute("DELETE FROM pending_debits WHERE request_id = $1", request_id)

    async def debited(self, request_id: str) -> bool:
        """Whether the ledger has a debit of the request (its guard row, which retention
        never archives)."""
        with map_postgres_errors():
            return bool(
                await self.pool.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM ledger_request_ids"
                    " WHERE request_id = $1 AND kind = 'debit')",
                    request_id,
                )
            )

    async def count(self) -> int:
        with map_postgres_errors():
            return int(await self.pool.fetchval("SELECT count(*) FROM pending_debits"))
