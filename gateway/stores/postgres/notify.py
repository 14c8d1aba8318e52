"""Notification state and outbox in PostgreSQL: an alert's transition and its delivery row
are written in one transaction, so each crossing is notified exactly once."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from billing.trust.alerts import Transition
from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.records import Row

CURSOR = "notifier"


def delivery_id() -> str:
    return "dlv_" + secrets.token_hex(12)


class NotifyLedger:
    """Implements `stores.ports.NotifyLedgerPort` and `stores.ports.NotifyOutbox`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def accounts_to_check(self, name: str = CURSOR) -> tuple[list[str], int]:
        """Accounts with ledger activity since the cursor `name`, or with an alert active;
        and the cursor to store once they are checked."""
        with map_postgres_errors():
            cursor = await self.pool.fetchval(
                "SELECT value FROM worker_cursors WHERE name = $1", name
            )
            top = await self.pool.fetchval("SELECT coalesce(max(id), 0) FROM ledger_entries")
            rows = await self.pool.fetch(
                "SELECT DISTINCT account_id FROM ledger_entries WHERE id > $1 AND id <= $2"
                " UNION SELECT account_id FROM notify_state WHERE active",
                cursor or 0,
                top,
            )
        return [r["account_id"] for r in rows], int(top)

    async def save_cursor(self, value: int, name: str = CURSOR) -> None:
        with map_postgres_errors():
            await self.pool.execute(
                "INSERT INTO worker_cursors (name, value) VALUES ($1, $2)"
                " ON CONFLICT (name) DO UPDATE SET value = greatest(worker_cursors.value, $2)",
                name,
                value,
            )

    async def thresholds(self, account_ids: Sequence[str]) -> dict[str, int]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                "SELECT account_id, balance_low_micros FROM notify_thresholds"
                " WHERE account_id = ANY($1::text[])",
                list(account_ids),
            )
        return {r["account_id"]: int(r["balance_low_micros"]) for r in rows}

    async def set_threshold(self, account_id: str, balance_low_micros: int) -> None:
        with map_postgres_errors():
            await self.pool.execute(
                "INSERT INTO notify_thresholds (account_id, balance_low_micros) VALUES ($1, $2)"
                " ON CONFLICT (account_id) DO UPDATE SET balance_low_micros = $2",
                account_id,
                balance_low_micros,
            )

    async def active(self, account_id: str) -> set[str]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                "SELECT alert FROM notify_state WHERE account_id = $1 AND active", account_id
            )
        return {r["alert"] for r in rows}

    async def apply(self, account_id: str, changes: Sequence[Transition]) -> None:
        """Each transition and its outbox row in one transaction; a concurrent notifier
        that already moved the alert makes this one a no-op."""
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                for t in changes:
                    moved = await conn.fetchval(
                        "INSERT INTO notify_state (account_id, alert, active) VALUES ($1,$2,$3)"
                        " ON CONFLICT (account_id, alert) DO UPDATE SET active = $3,"
                        " changed_at = now() WHERE notify_state.active <> $3 RETURNING 1",
                        account_id,
                        t.key,
                        t.active,
                    )
                    if moved:
                        did = delivery_id()
                        await _outbox(conn, did, account_id, t.event, t.data, t.alert_id)

    async def emit(
        self, account_id: str, event: str, data: Mapping[str, Any], dedup_key: str
    ) -> bool:
        """An event from elsewhere (payments): queued once per dedup key. True if new."""
        with map_postgres_errors():
            async with self.pool.acquire() as conn:
                return await _outbox(conn, f"dlv_{event}_{dedup_key}", account_id, event, data)

    async def due(self, now: datetime, limit: int = 100) -> list[Row]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                "SELECT * FROM notify_outbox WHERE status IN ('pending', 'failed')"
                " AND next_at <= $1"
                " ORDER BY id LIMIT $2",
                now,
                limit,
            )
        return [dict(r) for r in rows]

    async def delivered(
        self,
        outbox_id: int,
        error: str | None,
        next_at: datetime,
        delivered_to: Sequence[str] = (),
        final: bool = False,
    ) -> None:
        """`final`: the error is one no retry mends (nobody to send to): the row is kept
        as 'undeliverable' and never picked again."""
        with map_postgres_errors():
            await self.pool.execute(
                "UPDATE notify_outbox SET attempts = attempts + 1, last_error = $2,"
                " status = CASE WHEN $2::text IS NULL THEN 'sent'"
                " WHEN $5 THEN 'undeliverable' ELSE 'failed' END,"
                " sent_at = CASE WHEN $2::text IS NULL THEN now() END, next_at = $3,"
                " delivered_to = ARRAY(SELECT DISTINCT s FROM unnest(delivered_to || $4::text[]) s)"
                " WHERE id = $1",
                outbox_id,
                error,
                next_at,
                list(delivered_to),
                final,
            )


async def _outbox(
    conn: asyncpg.Connection,
    did: str,
    account_id: str,
    event: str,
    data: Mapping[str, Any],
    alert_id: str | None = None,
) -> bool:
    done = await conn.execute(
        "INSERT INTO notify_outbox (delivery_id, account_id, event, payload, alert_id)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (delivery_id) DO NOTHING",
        did,
        account_id,
        event,
        json.dumps(dict(data)),
        alert_id,
    )
    return bool(done.endswith(" 1"))
