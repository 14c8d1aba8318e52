"""What a FOCUS export reads of the ledger: a month's entries with what each concerns (its
account's name, key, team, grant, the rate card its price_version names), in pages by
entry id, from the live partition and from any archive table retention left of that month.

Grants and teams are joined as the statement joins them (gateway/stores/postgres/
statements.py), so a month's FOCUS rows and its statement group the same entries.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

import asyncpg

from gateway.stores.errors import ArchiveGone
from gateway.stores.postgres import archives
from gateway.stores.postgres.contracts.statements import GRANT_JOINS, GRANT_KIND
from gateway.stores.postgres.errors import map_postgres_errors

PAGE = 5_000
_ENTRIES = """
SELECT l.id, l.kind, l.occurred_at, l.amount_micros, l.account_id, a.name AS account_name,
       coalesce(l.request_id, '') AS request_id, coalesce(l.model, '') AS model,
       coalesce(l.provider, '') AS provider, coalesce(l.meter, '') AS meter,
       coalesce(l.quantity, 0) AS quantity, coalesce(l.service, '') AS service,
       {grant_kind},
       coalesce(l.price_version, '') AS price_version, l.provider_cost_micros,
       l.input_tokens, l.cached_input_tokens, l.cache_write_tokens, l.output_tokens,
       l.reasoning_tokens, l.usage_detail,
       coalesce(l.key_id, '') AS key_id, coalesce(k.name, '') AS key_name,
       coalesce(t.id, '') AS team_id, coalesce(t.name, '') AS team_name,
       coalesce(l.end_user, '') AS end_user, l.tags
FROM {table} l
JOIN accounts a ON a.id = l.account_id
{grants}LEFT JOIN api_keys k ON k.id = l.key_id
LEFT JOIN teams t ON l.kind = 'debit' AND t.id = k.team_id
WHERE l.occurred_at >= $1 AND l.occurred_at < $2 AND l.id > $3
  AND ($4::text IS NULL OR l.account_id = $4)
  AND NOT (l.kind = 'void' AND l.amount_micros = 0)
ORDER BY l.id
LIMIT $5
""".replace("{grants}", GRANT_JOINS).replace("{grant_kind}", GRANT_KIND)
_ARCHIVES = """
SELECT DISTINCT archive_table FROM ledger_archived_sums
WHERE month = $1 AND ($2::text IS NULL OR account_id = $2)
"""
_GONE = """
SELECT archive_table FROM ledger_archived_sums
WHERE month = $1 AND ($2::text IS NULL OR account_id = $2)
  AND to_regclass(archive_table) IS NULL
LIMIT 1
"""
_CARDS = "SELECT version, card FROM price_versions WHERE version = ANY($1::text[])"


class FocusReads:
    """A month of the ledger, entry by entry, for FOCUS exports."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def entries(
        self, account_id: str | None, start: datetime, end: datetime
    ) -> AsyncIterator[list[asyncpg.Record]]:
        """Pages of the month's entries (one account, or every one), oldest id first;
        entries of a month retention detached come from its archive table. A month whose
        archive table is gone raises ArchiveGone before anything is read."""
        with map_postgres_errors():
            gone = await self.pool.fetchval(_GONE, start.date(), account_id)
            if gone is not None:
                raise ArchiveGone(gone)
            tables = ["ledger_entries"]
            for row in await self.pool.fetch(_ARCHIVES, start.date(), account_id):
                tables.append(archives.quoted(row["archive_table"]))
        for table in tables:
            async for page in self._pages(table, account_id, start, end):
                yield page

    async def _pages(
        self, table: str, account_id: str | None, start: datetime, end: datetime
    ) -> AsyncIterator[list[asyncpg.Record]]:
        after = 0
        query = _ENTRIES.format(table=table)
        while True:
            with map_postgres_errors():
                page = await self.pool.fetch(query, start, end, after, account_id, PAGE)
            if not page:
                return
            yield page
            after = page[-1]["id"]

    async def cards(self, versions: set[str]) -> Mapping[str, Mapping[str, Any]]:
        """The rate cards of these price versions (those registered)."""
        if not versions:
            return {}
        with map_postgres_errors():
            rows = await self.pool.fetch(_CARDS, sorted(versions))
        return {r["version"]: json.loads(r["card"]) for r in rows}
