"""A million API keys in minutes: the records `issue_key` writes, loaded in bulk.

`fixtures.populate` issues keys one at a time through the ledger (an INSERT and a Redis
pipeline each): fine for 1,000 keys, hours for 1,000,000. Here the accounts (and their
end-user budgets) still go through `populate` and the product's `rebuild`, and only the keys
are bulk-loaded: one COPY into `api_keys` with the columns `KeyLedger.create_key` writes, and
pipelined Redis writes of exactly what `HotRecords.put_key` writes (the key hash and the
directory entry under the secret's SHA-256). The gateway therefore authenticates them as it
does any issued key.

The secrets go to a file of fixed-width lines (every secret is `mw-` + 43 characters), so the
wrk script can seek to the i-th key instead of holding a million strings in Lua.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from billing.money.quotas import encode_quotas, quota_to_json
from gateway.config.settings import Settings
from gateway.services.auth import KEY_PREFIX, hash_key, mint_key, new_id
from gateway.stores.records import OPERATOR_MINTED, KeyRecord
from gateway.stores.redis.keys import Keys, shard_of
from gateway.stores.redis.records import encode_key_record
from tests.bench import fixtures

BATCH = 20_000  # keys per COPY and per Redis pipeline: bounded memory, few round trips
COLUMNS = [
    *("id", "account_id", "name", "key_hash", "key_prefix", "scopes", "models", "quotas"),
    *("on_insufficient", "expires_at", "providers"),
    *("minter_kind", "minter_id", "member_id", "team_id"),
]  # KeyLedger.create_key's INSERT
SECRET_LEN = len(mint_key())  # token_urlsafe(32) is always 43 characters


@dataclass(frozen=True)
class Loaded:
    accounts: int
    keys: int
    accounts_s: float
    keys_s: float
    keys_file: Path


def _batches(account_ids: Sequence[str], per_account: int) -> Iterator[list[tuple[str, str]]]:
    """(account, secret) pairs in BATCH-sized lists, keys of one account next to each other."""
    batch: list[tuple[str, str]] = []
    for account_id in account_ids:
        for _ in range(per_account):
            batch.append((account_id, mint_key()))
            if len(batch) >= BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


async def _copy_keys(conn: asyncpg.Connection, rows: list[tuple[object, ...]]) -> None:
    await conn.copy_records_to_table("api_keys", records=rows, columns=COLUMNS)


async def _put_keys(client: aioredis.Redis, keys: Keys, rows: list[tuple[object, ...]]) -> None:
    """HotRecords.put_key for every row, in one pipeline."""
    quotas = encode_quotas(fixtures.KEY_QUOTAS)
    async with client.pipeline(transaction=False) as pipe:
        for row in rows:
            key_id, account_id, name, digest = (str(v) for v in row[:4])
            record = KeyRecord(key_id, account_id, shard_of(account_id), name, (), (), None, ())
            fields = {"acct": account_id, "st": "a", "exp": 0, "q": quotas}
            pipe.hset(keys.api_key(record.shard, key_id), mapping=fields)  # type: ignore[arg-type]
            pipe.set(keys.directory(digest), encode_key_record(record))
        await pipe.execute()


async def load_keys(account_ids: Sequence[str], per_account: int, keys_file: Path) -> int:
    """`per_account` keys for each account into PostgreSQL, Redis and `keys_file`."""
    quotas_json = json.dumps([quota_to_json(q) for q in fixtures.KEY_QUOTAS])
    lineage = OPERATOR_MINTED
    conn = await asyncpg.connect(fixtures.DSN)
    client = aioredis.Redis.from_url(fixtures.REDIS_URL)
    keys, n = Keys(fixtures.PREFIX), 0
    try:
        with keys_file.open("w") as out:
            for batch in _batches(account_ids, per_account):
                rows: list[tuple[object, ...]] = []
                for account_id, secret in batch:
                    rows.append(
                        (
                            new_id("key"), account_id, "bench", hash_key(secret),
                            secret[: len(KEY_PREFIX) + 6], [], [], quotas_json, None, None,
                            [], lineage.minter_kind, lineage.minter_id, lineage.owner,
                            lineage.team_id,
                        )
                    )  # fmt: skip
                    out.write(secret + "\n")
                # PostgreSQL first: a key Redis knows is always one the ledger knows.
                await _copy_keys(conn, rows)
                await _put_keys(client, keys, rows)
                n += len(rows)
    finally:
        await conn.close()
        await client.aclose()
    return n


async def populate_bulk(
    settings: Settings, accounts: int, per_account: int, keys_file: Path
) -> Loaded:
    """Accounts with end-user budgets through `populate` (and its rebuild), then the keys."""
    await fixtures.drop_prefix()
    await fixtures.fresh_database()
    started = time.monotonic()
    pop = await fixtures.populate(settings, accounts, 0, end_users=True)
    accounts_s = time.monotonic() - started
    started = time.monotonic()
    n = await load_keys(pop.account_ids, per_account, keys_file)
    return Loaded(accounts, n, accounts_s, time.monotonic() - started, keys_file)


def key_count(keys_file: Path) -> int:
    """Lines in a fixed-width keys file, from its size."""
    return keys_file.stat().st_size // (SECRET_LEN + 1)


if __name__ == "__main__":  # a quick check of the load rate: 10 accounts x 1,000 keys
    import tempfile

    from tests.bench.__main__ import _settings

    with tempfile.TemporaryDirectory() as tmp:
        s = _settings(fixtures.bench_config(Path(tmp) / "config"))
        done = asyncio.run(populate_bulk(s, 10, 1000, Path(tmp) / "keys.txt"))
        print(done)
