"""Storage of the local payments provider (an offline stand-in for a hosted provider).

Objects are JSON documents by kind, like a provider's API objects; events are appended in
order. Kept apart from Meterway's own tables, as a real provider's records would be.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg


class LocalProviderStore:
    """Implements `stores.ports.payments.LocalProviderStorePort`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def put(
        self, object_id: str, kind: str, account_id: str | None, data: dict[str, Any]
    ) -> None:
        await self.pool.execute(
            "INSERT INTO local_provider_objects (id, kind, account_id, data) VALUES ($1,$2,$3,$4)"
            " ON CONFLICT (id) DO UPDATE SET data = excluded.data",
            object_id,
            kind,
            account_id,
            json.dumps(data),
        )

    async def get(self, object_id: str) -> dict[str, Any] | None:
        raw = await self.pool.fetchval(
            "SELECT data FROM local_provider_objects WHERE id = $1", object_id
        )
        return None if raw is None else dict(json.loads(raw))

    async def claim(self, object_id: str, expect: str, status: str) -> dict[str, Any] | None:
        """Move an object from status `expect` to `status` once (a double click pays once)."""
        raw = await self.pool.fetchval(
            "UPDATE local_provider_objects"
            " SET data = jsonb_set(data, '{status}', to_jsonb($3::text))"
            " WHERE id = $1 AND data->>'status' = $2 RETURNING data",
            object_id,
            expect,
            status,
        )
        return None if raw is None else dict(json.loads(raw))

    async def of_kind(self, kind: str, since: datetime) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT data FROM local_provider_objects WHERE kind = $1 AND created_at >= $2"
            " ORDER BY created_at",
            kind,
            since,
        )
        return [dict(json.loads(r[0])) for r in rows]

    async def of_account(self, kind: str, account_id: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT data FROM local_provider_objects WHERE kind = $1 AND account_id = $2"
            " ORDER BY created_at DESC",
            kind,
            account_id,
        )
        return [dict(json.loads(r[0])) for r in rows]

    async def add_event(self, event_id: str, type_: str, object_id: str) -> datetime:
        created: datetime = await self.pool.fetchval(
            "INSERT INTO local_provider_events (id, type, object_id) VALUES ($1, $2, $3)"
            " RETURNING created_at",
            event_id,
            type_,
            object_id,
        )
        return created

    async def events_since(self, since: datetime) -> list[asyncpg.Record]:
        return list(
            await self.pool.fetch(
                "SELECT id, type, object_id, created_at FROM local_provider_events"
                " WHERE created_at >= $1 ORDER BY seq",
                since,
            )
        )
