"""Store-level fixtures: the real adapters on a private Redis prefix and the session database."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest

from billing.money.quotas import Quota
from gateway.config.settings import load_settings
from gateway.services.auth import new_id
from gateway.stores.connect import Stores, open_stores
from gateway.stores.postgres.migrate import migrate
from gateway.stores.records import KeyRecord
from gateway.stores.redis.keys import shard_of
from gateway.stores.stream_fields import ledger_row
from tests.support.harness import NOWHERE, gateway_env, opened_stores, temp_database
from tests.support.redis_cluster import RedisCluster


@pytest.fixture
async def stores(dsn: str) -> AsyncIterator[Stores]:
    """Both adapters on the session database."""
    async with opened_stores(dsn) as opened:
        yield opened


@pytest.fixture
async def own() -> AsyncIterator[Stores]:
    """The same on a database of its own, for a test that changes what every account shares
    (retention detaches every month before its cut; rebuild reads every account)."""
    async with temp_database() as dsn, opened_stores(dsn) as opened:
        yield opened


@contextlib.asynccontextmanager
async def schema_at(upto: int) -> AsyncIterator[tuple[str, asyncpg.Connection]]:
    """(dsn, connection) of a database of its own built up to migration `upto` (20 or
    later), with an account `a1` and the ledger's 2019-05 partition, to test what a later
    migration does with the rows of an older schema."""
    async with temp_database() as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            await migrate(conn, upto=upto)
            await conn.execute(
                "INSERT INTO accounts (id, name, plan, mode, balance_micros) VALUES"
                " ('a1', 'a', 'pro', 'prepaid', 0); SELECT ledger_add_month('2019-05-01')"
            )
            yield dsn, conn
        finally:
            await conn.close()


async def archive_as_before_022(conn: asyncpg.Connection, month: str) -> None:
    """What `meterway ledger retention` did before migration 022: the month's sums per
    account and kind, then its partition detached and renamed (`month` as YYYY_MM)."""
    table, archive = f"ledger_entries_{month}", f"ledger_archive_{month}"
    await conn.execute(
        "INSERT INTO ledger_archived_sums (account_id, month, kind, entries, amount_micros,"
        f" archive_table) SELECT account_id, date_trunc('month', min(occurred_at))::date, kind,"
        f" count(*), sum(amount_micros), '{archive}' FROM {table} GROUP BY account_id, kind;"
        f"ALTER TABLE ledger_entries DETACH PARTITION {table};"
        f"ALTER TABLE {table} RENAME TO {archive}"
    )


async def meterway(dsn: str, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of the `meterway` command on the database `dsn`."""
    env = gateway_env(dsn, NOWHERE, f"mwt{secrets.token_hex(4)}")
    exe = str(Path(sys.executable).with_name("meterway"))
    proc = await asyncio.create_subprocess_exec(
        exe, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


def settled_row(
    acct: str, rid: str, cost: int, at: datetime, kind: str = "debit", *, qty: int = 0
) -> tuple[object, ...]:
    """A settlement's ledger row as the settler writes it (3 input tokens, 1 cached, 2
    output), settled at `at`; with `qty`, a debit of the meter gpu_seconds."""
    ms = str(int(at.timestamp() * 1000))
    fields = {
        "rid": rid, "kind": kind, "acct": acct, "key": "key_x", "cost": str(cost),
        "model": "demo-gpt", "provider": "openai", "in": "3", "cin": "1", "cw": "0",
        "out": "2", "rsn": "0", "src": "provider", "at": ms, "st": ms,
    }  # fmt: skip
    if qty:
        fields.update(meter="gpu_seconds", qty=str(qty), svc="runner", occ="", md="")
    return ledger_row(fields)


@dataclass(frozen=True)
class Holder:
    """An account with a hot balance and one active key, made straight through the ports."""

    record: KeyRecord
    key_hash: str

    @property
    def account_id(self) -> str:
        return self.record.account_id

    @property
    def shard(self) -> int:
        return self.record.shard


async def make_holder(
    stores: Stores,
    *,
    credit: int = 1_000_000,
    key_quotas: tuple[Quota, ...] = (),
    account_quotas: tuple[Quota, ...] = (),
    mode: str = "prepaid",
    markup_bps: int = 0,
) -> Holder:
    acct, key_id = new_id("acct"), new_id("key")
    await stores.ledger.create_account(acct, acct, "pro", mode)
    await stores.store.put_account(
        acct,
        plan="pro",
        mode=mode,
        billing_ready=True,
        quotas=account_quotas,
        markup_bps=markup_bps,
    )
    if credit:
        entry = await stores.ledger.credit(acct, credit, "seed", "test")
        await stores.store.apply_credit(acct, entry.entry_id, credit)
    record = KeyRecord(key_id, acct, shard_of(acct), "k", (), ())
    key_hash = secrets.token_hex(32)
    await stores.store.put_key(record, key_hash, expires_at_ms=0, quotas=key_quotas)
    return Holder(record, key_hash)


@pytest.fixture
async def cluster_stores(redis_cluster: RedisCluster) -> AsyncIterator[Stores]:
    """Both adapters with Redis a real cluster, on a database of their own (reconcile reads
    every account of its database)."""
    async with temp_database() as dsn:
        env = gateway_env(
            dsn,
            "http://127.0.0.1:9",
            f"mwc{secrets.token_hex(4)}",
            REDIS_CLUSTER_URLS=redis_cluster.urls,
        )
        async with open_stores(load_settings(env)) as stores:
            await stores.store.mark_ready()
            yield stores
