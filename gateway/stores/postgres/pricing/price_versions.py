"""The rate cards a debit's price_version names (migration 027), and the reads that explain a
debit: its ledger row by request id alone, and the card its version names.

Cards are registered in bulk at start-up (`app.py`), never per request: a version is a hash
of its card (billing/pricing/), so registering the same table again adds nothing, and a
card once registered is never changed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import asyncpg

from gateway.stores.postgres import archives
from gateway.stores.postgres.directory import Directory
from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.records import Row

_REGISTER = """
INSERT INTO price_versions (version, model, provider, source, card)
SELECT v, m, p, s, c::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
    $5::text[]) AS u (v, m, p, s, c)
ON CONFLICT (version) DO NOTHING
"""
_KNOWN = "SELECT version FROM price_versions WHERE version = ANY($1::text[])"
_CARD = "SELECT version, model, provider, source, card, first_seen FROM price_versions"
_LIVE_ACCOUNT = "SELECT account_id FROM ledger_entries WHERE request_id = $1 LIMIT 1"
_ARCHIVE_TABLES = (
    "SELECT archive_table FROM ledger_archives WHERE to_regclass(archive_table) IS NOT NULL"
    " ORDER BY max_id DESC NULLS LAST"
)
_ARCHIVED_ACCOUNT = "SELECT account_id FROM {table} WHERE request_id = $1"


def _text(card: Mapping[str, object], name: str) -> str:
    value = card.get(name, "")
    return value if isinstance(value, str) else str(value)


class PriceVersions:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def register(self, cards: Mapping[str, Mapping[str, object]]) -> None:
        """Record every card (version -> JSON-able card) not yet known: the known versions
        are read first, so a restart (every card known) sends and parses no card."""
        with map_postgres_errors():
            known = {r["version"] for r in await self.pool.fetch(_KNOWN, sorted(cards))}
        versions = sorted(set(cards) - known)
        if not versions:
            return
        columns = [
            versions,
            [_text(cards[v], "model") for v in versions],
            [_text(cards[v], "provider") for v in versions],
            [_text(cards[v], "source") for v in versions],
            [json.dumps(cards[v], sort_keys=True) for v in versions],
        ]
        with map_postgres_errors():
            await self.pool.execute(_REGISTER, *columns)

    async def card(self, version: str) -> Row | None:
        """The registered card of a version (model, provider, source, card, first_seen)."""
        with map_postgres_errors():
            row = await self.pool.fetchrow(_CARD + " WHERE version = $1", version)
        if row is None:
            return None
        out = dict(row)
        out["card"] = json.loads(out["card"])
        return out

    async def request_entry(self, request_id: str) -> Row | None:
        """A request's ledger row (its debit before its void), live or archived, found by its
        id alone: for an operator's explanation, where the account is not known."""
        with map_postgres_errors():
            account = await self.pool.fetchval(_LIVE_ACCOUNT, request_id)
            if account is None:
                tables = [r["archive_table"] for r in await self.pool.fetch(_ARCHIVE_TABLES)]
                found = await archives.fetch_each(self.pool, tables, _ARCHIVED_ACCOUNT, request_id)
                account = found[0]["account_id"] if found else None
        if account is None:
            return None
        return await Directory(self.pool).request_entry(account, request_id)
