"""Finding accounts, keys and requests in PostgreSQL for the account and operator APIs.

Read paths for people, not the proxy: the account search, a user's account by identity
provider id, an account's keys with their use (from the rollups), one request's ledger row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from functools import cache

import asyncpg

from billing.usage.tags import tag_of
from gateway.stores.errors import DuplicateExternalId
from gateway.stores.postgres import archives
from gateway.stores.postgres.errors import map_postgres_errors, read_once_more
from gateway.stores.postgres.ledger import entry_row
from gateway.stores.postgres.ledger_shape import ENTRY_SELECT
from gateway.stores.postgres.usage.rollups import series_sql
from gateway.stores.records import Row, request_entry_of

_GUARDS = "SELECT kind FROM ledger_request_ids WHERE request_id = $1"
_REQUEST = f"SELECT {ENTRY_SELECT} FROM ledger_entries WHERE request_id = $1 AND account_id = $2"
_ARCHIVED_REQUEST = (
    f"SELECT {ENTRY_SELECT} FROM {{table}} WHERE request_id = $1 AND account_id = $2"
)
_REQUEST_ALL = f"{_REQUEST} ORDER BY id"
_ARCHIVED_ALL = _ARCHIVED_REQUEST
_CARD = "SELECT card FROM price_versions WHERE version = $1"
_KEYS = """
SELECT k.*, u.last_used_at, coalesce(u.month_spend, 0)::bigint AS month_spend_micros
FROM api_keys k
LEFT JOIN LATERAL (
    SELECT max(last_at) AS last_used_at,
           sum(spend_micros) FILTER (
               WHERE day >= date_trunc('month', now() AT TIME ZONE 'UTC')::date
           ) AS month_spend
    FROM usage_rollups r WHERE r.key_id = k.id
) u ON true
"""


def _rows(records: list[asyncpg.Record]) -> list[Row]:
    return [dict(r) for r in records]


def _row(record: asyncpg.Record | None) -> Row | None:
    return None if record is None else dict(record)


class Directory:
    """Implements `stores.ports.DirectoryPort`; every statement inside map_postgres_errors."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def _fetch(self, sql: str, *args: object) -> list[Row]:
        """A read: once more on a fresh connection if its connection was killed."""
        return _rows(await read_once_more(self.pool, lambda: self.pool.fetch(sql, *args)))

    async def _fetchrow(self, sql: str, *args: object) -> Row | None:
        return _row(await read_once_more(self.pool, lambda: self.pool.fetchrow(sql, *args)))

    async def _execute(self, sql: str, *args: object) -> str:
        with map_postgres_errors():
            return str(await self.pool.execute(sql, *args))

    async def account_by_external_id(self, external_id: str) -> Row | None:
        return await self._fetchrow("SELECT * FROM accounts WHERE external_id = $1", external_id)

    async def set_external_id(self, account_id: str, external_id: str | None) -> bool:
        try:
            done = await self.pool.execute(
                "UPDATE accounts SET external_id = $2 WHERE id = $1", account_id, external_id
            )
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateExternalId(str(external_id)) from exc
        except asyncpg.PostgresError:
            with map_postgres_errors():
                raise
        return bool(done.endswith(" 1"))

    async def search_accounts(
        self, *, query: str | None, plan: str | None, after: str | None, limit: int
    ) -> list[Row]:
        """By name prefix (case-insensitive), exact id or external id, and plan; id order."""
        return await self._fetch(
            "SELECT * FROM accounts WHERE ($1::text IS NULL OR lower(name) LIKE"
            " lower($5) || '%' OR external_id = $1 OR id = $1)"
            " AND ($2::text IS NULL OR plan = $2) AND ($3::text IS NULL OR id > $3)"
            " ORDER BY id LIMIT $4",
            query,
            plan,
            after,
            limit,
            _escape_like(query),
        )

    async def keys_of(self, account_id: str, *, include_revoked: bool) -> list[Row]:
        return await self._fetch(
            _KEYS + " WHERE k.account_id = $1 AND ($2 OR k.revoked_at IS NULL)"
            " ORDER BY k.created_at, k.id",
            account_id,
            include_revoked,
        )

    async def key_with_use(self, key_id: str) -> Row | None:
        return await self._fetchrow(_KEYS + " WHERE k.id = $1", key_id)

    async def set_key_expiry(self, key_id: str, expires_at: datetime) -> None:
        await self._execute(
            "UPDATE api_keys SET expires_at = least(coalesce(expires_at, $2), $2) WHERE id = $1",
            key_id,
            expires_at,
        )

    async def mark_rotated(self, new_key_id: str, old_key_id: str) -> None:
        await self._execute(
            "UPDATE api_keys SET rotated_from = $2 WHERE id = $1", new_key_id, old_key_id
        )

    async def request_entry(self, account_id: str, request_id: str) -> Row | None:
        """The request's entry on this account, a debit before its void (a late debit beats
        it), else the newest; live or archived. The guard rows say which kinds exist at all,
        so an unknown id costs one lookup, and archives are read only for a kind the live
        ledger lacks: all of the account's in one statement (not one probe after another:
        docs/performance.md)."""
        with map_postgres_errors():
            kinds = {r["kind"] for r in await self.pool.fetch(_GUARDS, request_id)}
            if not kinds:
                return None
            found = list(await self.pool.fetch(_REQUEST, request_id, account_id))
            live = {r["kind"] for r in found}
            if kinds - live and "debit" not in live:
                tables = [a.table for a in await archives.of_account(self.pool, account_id)]
                found += await archives.fetch_each(
                    self.pool, tables, _ARCHIVED_REQUEST, request_id, account_id
                )
        if not found:
            return None
        return entry_row(request_entry_of(found))

    async def usage_report(
        self,
        account_id: str,
        start: date,
        end: date,
        group_by: str,
        *,
        model: str | None = None,
        key_id: str | None = None,
        meter: str | None = None,
        end_user: str | None = None,
    ) -> list[Row]:
        given = (("model", model), ("key", key_id), ("meter", meter), ("end_user", end_user))
        filters = {dim: value for dim, value in given if value is not None}
        rows = await self.usage_series(account_id, start, end, (group_by,), filters)
        return [
            {"bucket": r[group_by], **{k: v for k, v in r.items() if k != group_by}} for r in rows
        ]

    async def usage_series(
        self,
        account_id: str,
        start: date,
        end: date,
        by: Sequence[str],
        filters: Mapping[str, str],
    ) -> list[Row]:
        names = tuple(sorted(filters))
        sql = _series(tuple(by), names)
        tag = tag_of(by, names)
        args = (*(filters[n] for n in names), *([] if tag is None else [tag]))
        return await self._fetch(sql, account_id, start, end, *args)

    async def request_entries(self, account_id: str, request_id: str) -> list[Row]:
        """Every row of the request on this account, live or archived (the archives only
        when the guard rows name a kind the live ledger lacks), in the order they happened:
        by `occurred_at`, not id (a void a crashed settler left unacknowledged is written
        after the late debit that followed it)."""
        with map_postgres_errors():
            kinds = {r["kind"] for r in await self.pool.fetch(_GUARDS, request_id)}
            if not kinds:
                return []
            found = list(await self.pool.fetch(_REQUEST_ALL, request_id, account_id))
            if kinds - {r["kind"] for r in found}:
                tables = [a.table for a in await archives.of_account(self.pool, account_id)]
                found += await archives.fetch_each(
                    self.pool, tables, _ARCHIVED_ALL, request_id, account_id
                )
        return [entry_row(r) for r in sorted(found, key=lambda r: (r["occurred_at"], r["id"]))]

    async def price_card(self, version: str) -> Mapping[str, object] | None:
        with map_postgres_errors():
            text = await self.pool.fetchval(_CARD, version)
        return None if text is None else dict(json.loads(text))


@cache
def _series(by: tuple[str, ...], filters: tuple[str, ...]) -> str:
    return series_sql(by, filters)


def _escape_like(query: str | None) -> str | None:
    if query is None:
        return None
    return query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
