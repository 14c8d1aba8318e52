"""Teams in PostgreSQL (`teams`, migration 041): an organization's keys grouped under shared
quotas, and which team each key is in (`api_keys.team_id`)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence

import asyncpg

from billing.money.quotas import Quota, quota_to_json
from gateway.stores.errors import DuplicateTeam
from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.records import Row

_COLUMNS = "id, account_id, name, quotas, tags, created_at"


def team_id() -> str:
    return "team_" + secrets.token_hex(8)


def _quotas(quotas: Sequence[Quota]) -> str:
    return json.dumps([quota_to_json(q) for q in quotas])


class Teams:
    """Implements `stores.ports.TeamsPort`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(self, account_id: str, name: str, quotas: Sequence[Quota]) -> Row:
        try:
            row = await self.pool.fetchrow(
                f"INSERT INTO teams (id, account_id, name, quotas) VALUES ($1, $2, $3, $4)"
                f" RETURNING {_COLUMNS}",
                team_id(),
                account_id,
                name,
                _quotas(quotas),
            )
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateTeam(name) from exc
        except asyncpg.PostgresError:
            with map_postgres_errors():
                raise
        return _row(row)

    async def get(self, team: str) -> Row | None:
        with map_postgres_errors():
            row = await self.pool.fetchrow(f"SELECT {_COLUMNS} FROM teams WHERE id = $1", team)
        return None if row is None else _row(row)

    async def of_account(self, account_id: str) -> list[Row]:
        """The account's teams with how many live keys each has, by name."""
        with map_postgres_errors():
            rows = await self.pool.fetch(
                f"SELECT {', '.join('t.' + c for c in _COLUMNS.split(', '))},"
                " count(k.id) AS keys FROM teams t"
                " LEFT JOIN api_keys k ON k.team_id = t.id AND k.revoked_at IS NULL"
                " WHERE t.account_id = $1 GROUP BY t.id ORDER BY t.name",
                account_id,
            )
        return [_row(r) for r in rows]

    async def set_quotas(self, team: str, quotas: Sequence[Quota]) -> tuple[Row, list[Row]]:
        """The team with its new quotas, and its keys (id, account_id) to copy them to."""
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    f"UPDATE teams SET quotas = $2 WHERE id = $1 RETURNING {_COLUMNS}",
                    team,
                    _quotas(quotas),
                )
                keys = await conn.fetch(
                    "SELECT id, account_id FROM api_keys WHERE team_id = $1", team
                )
        return _row(row), [dict(k) for k in keys]

    async def set_tags(self, team: str, tags: Mapping[str, str]) -> Row | None:
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                f"UPDATE teams SET tags = $2 WHERE id = $1 RETURNING {_COLUMNS}",
                team,
                json.dumps(dict(tags)),
            )
        return None if row is None else _row(row)

    async def set_key_team(self, key_id: str, team: str | None) -> None:
        with map_postgres_errors():
            await self.pool.execute("UPDATE api_keys SET team_id = $2 WHERE id = $1", key_id, team)

    async def key_teams(self) -> list[Row]:
        """Every key in a team: key id, account id, team id and the team's quotas."""
        with map_postgres_errors():
            rows = await self.pool.fetch(
                "SELECT k.id, k.account_id, k.team_id, t.quotas FROM api_keys k"
                " JOIN teams t ON t.id = k.team_id"
            )
        return [_row(r) for r in rows]


def _row(record: asyncpg.Record) -> Row:
    row = dict(record)
    for column in ("quotas", "tags"):
        raw = row.get(column)
        if isinstance(raw, str):
            row[column] = json.loads(raw)
    return row
