"""The ledger's keys in `api_keys`: recording a key by its hash with its minter, rotation's
copy, the keys minted under a key, a key's grant written with theirs, revocation. A part of
`Ledger` (ledger.py), moved out of it unchanged."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

import asyncpg

from billing.grants import Grant
from billing.money.quotas import Quota, quota_to_json
from gateway.stores.postgres.api_keys import copy as key_copy
from gateway.stores.postgres.errors import map_postgres_errors, read_once_more
from gateway.stores.records import OPERATOR_MINTED, Lineage, Row


def _row(record: asyncpg.Record | None) -> Row | None:
    return None if record is None else dict(record)


class KeyLedger:
    """The key methods of `Ledger`, which holds `pool`."""

    pool: asyncpg.Pool

    async def create_key(
        self,
        *,
        key_id: str,
        account_id: str,
        name: str,
        key_hash: str,
        key_prefix: str,
        scopes: Sequence[str],
        models: Sequence[str],
        quotas: Sequence[Quota],
        on_insufficient: str | None,
        expires_at: datetime | None,
        providers: Sequence[str] = (),
        lineage: Lineage = OPERATOR_MINTED,
    ) -> None:
        with map_postgres_errors():
            await self.pool.execute(
                "INSERT INTO api_keys (id, account_id, name, key_hash, key_prefix, scopes,"
                " models, quotas, on_insufficient, expires_at, providers, minter_kind,"
                " minter_id, member_id, team_id, ancestors, secret_bound)"
                " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)",
                key_id,
                account_id,
                name,
                key_hash,
                key_prefix,
                list(scopes),
                list(models),
                json.dumps([quota_to_json(q) for q in quotas]),
                on_insufficient,
                expires_at,
                list(providers),
                lineage.minter_kind,
                lineage.minter_id,
                lineage.owner,
                lineage.team_id,
                list(lineage.ancestors),
                lineage.secret_bound,
            )

    async def copy_key(self, old_id: str, new_id: str, key_hash: str, key_prefix: str) -> Row:
        return await key_copy.copy_key(self.pool, old_id, new_id, (key_hash, key_prefix))

    async def keys_minted_under(self, key_id: str) -> list[Row]:
        return await key_copy.minted_under(self.pool, key_id)

    async def write_grants(self, grants: Mapping[str, Grant], revoke: Collection[str]) -> list[Row]:
        return await key_copy.write_grants(self.pool, grants, revoke)

    async def get_key(self, key_id: str) -> Row | None:
        sql = "SELECT * FROM api_keys WHERE id = $1"
        return _row(await read_once_more(self.pool, lambda: self.pool.fetchrow(sql, key_id)))

    async def set_key_tags(self, key_id: str, tags: Mapping[str, str]) -> Row | None:
        with map_postgres_errors():
            return _row(
                await self.pool.fetchrow(
                    "UPDATE api_keys SET tags = $2 WHERE id = $1 RETURNING *",
                    key_id,
                    json.dumps(dict(tags)),
                )
            )

    async def revoke_key(self, key_id: str) -> Row | None:
        with map_postgres_errors():
            return _row(
                await self.pool.fetchrow(
                    "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1"
                    " RETURNING *",
                    key_id,
                )
            )
