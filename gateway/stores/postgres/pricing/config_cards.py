"""The cards each start's configuration bills (migration 102), for PRICE_CHANGES_AT_START
=review: the approved one, and the change a start files for another.

Gateways starting together file one change for the same cards: the filing holds a
transaction-level advisory lock and files only when no waiting change moves to them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.postgres.proof.price_changes import INSERT_CHANGE, as_json, change_row
from gateway.stores.records import Row

_LOCK = "SELECT pg_advisory_xact_lock(hashtext('meterway.config_cards'))"
# The newest row in force: the baseline, or one whose change is approved and due.
_APPROVED = """
SELECT c.digest, c.cards FROM config_cards c LEFT JOIN price_changes p ON p.id = c.change_id
WHERE c.change_id IS NULL OR (p.status = 'approved' AND p.effective_at <= now())
ORDER BY c.id DESC LIMIT 1
"""
_WAITING = """
SELECT p.id FROM config_cards c JOIN price_changes p ON p.id = c.change_id
WHERE c.digest = $1 AND (p.status = 'pending' OR (p.status = 'approved' AND p.effective_at > now()))
ORDER BY c.id DESC LIMIT 1
"""
_RECORD = "INSERT INTO config_cards (digest, cards, change_id) VALUES ($1, $2::jsonb, $3)"


def config_change(
    document: Mapping[str, Any], effective_at: datetime, note: str, review: Mapping[str, Any]
) -> tuple[object, ...]:
    """INSERT_CHANGE's arguments for a change proposed by `config`."""
    return (
        as_json(document), effective_at, note, as_json(review["diff"]),
        as_json(review["preview"]), review["largest_move_permille"], "config",
    )  # fmt: skip


class ConfigCards:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def approved(self) -> tuple[str, dict[str, Any]] | None:
        """(digest, cards) of the approved configuration card; None before any start."""
        with map_postgres_errors():
            record = await self.pool.fetchrow(_APPROVED)
        return None if record is None else (record["digest"], json.loads(record["cards"]))

    async def baseline(self, digest: str, cards: Mapping[str, Any]) -> bool:
        """Record `cards` as the first approved card unless one exists; True if recorded."""
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(_LOCK)
                if await conn.fetchval("SELECT 1 FROM config_cards LIMIT 1"):
                    return False
                await conn.execute(_RECORD, digest, as_json(cards), None)
                return True

    async def file(
        self,
        digest: str,
        cards: Mapping[str, Any],
        document: Mapping[str, Any],
        effective_at: datetime,
        note: str,
        review: Mapping[str, Any],
    ) -> tuple[int, bool]:
        """The change that moves the approved card to `cards`: the one waiting for them
        (pending, or approved and not in force), else a new pending change proposed by
        `config`; (its id, whether it is new)."""
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(_LOCK)
                waiting = await conn.fetchval(_WAITING, digest)
                if waiting is not None:
                    return int(waiting), False
                row: Row = change_row(await conn.fetchrow(INSERT_CHANGE, *config_change(document,
                    effective_at, note, review)))  # fmt: skip
                await conn.execute(_RECORD, digest, as_json(cards), row["id"])
                return int(row["id"]), True
