"""What the operator commands (rebuild, reconcile, the self-restore, migrate) read and write
in PostgreSQL, bound to the pool, so gateway/ops/ and the CLI never hold the pool itself."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime

import asyncpg

from gateway.stores.meter_records import ServiceRecord
from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.postgres.migrate import migrate
from gateway.stores.postgres.money import balances
from gateway.stores.postgres.restore import runs as restores
from gateway.stores.postgres.restore import source as restore_source
from gateway.stores.records import ClosedMarker, Row


class OperatorLedger:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def migrate(self) -> list[str]:
        """Apply pending migrations (once across processes: an advisory lock)."""
        with map_postgres_errors():
            async with self._pool.acquire() as conn:
                return await migrate(conn)

    async def totals(self, only: Sequence[str] | None = None) -> dict[str, int]:
        return await balances.ledger_totals(self._pool, only)

    async def position(
        self, account_id: str, queued: Collection[tuple[str, str]]
    ) -> tuple[int, list[tuple[int, int, float]]]:
        return await balances.ledger_position(self._pool, account_id, queued)

    async def accounts(self) -> list[Row]:
        return await restore_source.accounts(self._pool)

    async def api_keys(self) -> list[Row]:
        return await restore_source.api_keys(self._pool)

    async def credit_ids(self) -> dict[str, list[int]]:
        return await restore_source.credit_ids(self._pool)

    async def services(self) -> list[tuple[str, ServiceRecord | None]]:
        return await restore_source.services(self._pool)

    async def closed_markers(self, ttl_ms: int) -> list[ClosedMarker]:
        return await restore_source.closed_markers(self._pool, ttl_ms)

    def restore_lock(self, name: str) -> AbstractAsyncContextManager[None]:
        return restores.restore_lock(self._pool, name)

    def restore_fence(self, name: str) -> restores.RestoreFence:
        """What a settler holds shared while a batch is on its way (RestoreFence)."""
        return restores.RestoreFence(self._pool, name)

    async def record_restore(
        self, prefix: str, trigger: str, counts: dict[str, int], started: datetime
    ) -> None:
        await restores.record_restore(self._pool, prefix, trigger, counts, started)
