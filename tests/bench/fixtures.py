"""Benchmark data: a fresh database, a private Redis prefix, accounts on the "pro" plan
(limits scaled up so no window refuses, the number of windows unchanged), 1,000 keys with
two key-level quotas each, and Redis rebuilt from the ledger and marked ready."""

from __future__ import annotations

import os
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import redis.asyncio as aioredis

from billing.money.plans import load_plans
from billing.money.quotas import parse_quotas
from gateway.config.settings import DEFAULT_CONFIG_DIR, Settings
from gateway.ops.rebuild import rebuild
from gateway.services.auth import new_id
from gateway.services.keys.provisioning import KeySpec, issue_key
from gateway.stores.connect import open_stores
from gateway.stores.postgres.migrate import migrate

# MWBENCH_PG_ADMIN points a run at a PostgreSQL of its own (tests/bench/scaleout.py's
# --embedded: a Unix socket, `postgresql://postgres@/postgres?host=DIR`).
PG_ADMIN = os.environ.get("MWBENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
# MWBENCH_TAG gives a run its own database and Redis prefix, so benchmarks started by
# different people on one machine do not drop each other's data mid-run.
TAG = os.environ.get("MWBENCH_TAG", "")
DATABASE = f"meterway_bench{TAG}"
# MWBENCH_REDIS_URL points a run at a Redis of its own (the Redis CPU per request is then
# only this run's); MWBENCH_REDIS_CLUSTER_URLS at a Redis Cluster (its seeds, as the
# gateway's REDIS_CLUSTER_URLS; REDIS_URL is then one of them).
REDIS_URL = os.environ.get("MWBENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_CLUSTER_URLS = os.environ.get("MWBENCH_REDIS_CLUSTER_URLS", "")
PREFIX = f"mwbench{TAG}"
ADMIN_KEY = "bench-admin-key-0123456789"
SCALE = 1_000_000
CREDIT_MICROS = 10**13
KEY_QUOTAS = parse_quotas(
    [
        {"window": "minute", "metric": "requests", "limit": 10**12},
        {"window": "day", "metric": "tokens", "limit": 10**13},
    ]
)


@dataclass(frozen=True)
class Population:
    account_ids: list[str]
    key_ids: list[str]
    key_accounts: list[str]
    secrets: list[str]


def bench_config(dest: Path) -> Path:
    """config/ copied, with plans.toml reduced to "pro" and its limits multiplied by SCALE."""
    shutil.copytree(DEFAULT_CONFIG_DIR, dest, dirs_exist_ok=True)
    pro = tomllib.loads((DEFAULT_CONFIG_DIR / "plans.toml").read_text())["plans"]["pro"]
    rows = [
        f'  {{ window = "{q["window"]}", metric = "{q["metric"]}", limit = {q["limit"] * SCALE} }},'
        for q in pro["quotas"]
    ]
    text = [
        'default_plan = "pro"',
        "",
        "[plans.pro]",
        f'mode = "{pro["mode"]}"',
        f'on_insufficient = "{pro.get("on_insufficient", "refuse")}"',
        "quotas = [",
        *rows,
        "]",
        "",
    ]
    (dest / "plans.toml").write_text("\n".join(text))
    return dest


def dsn_of(database: str) -> str:
    return urlunsplit(urlsplit(PG_ADMIN)._replace(path="/" + database))


DSN = dsn_of(DATABASE)


async def fresh_database(database: str = DATABASE) -> None:
    """`database` dropped, created and migrated; another bench (tests/bench/rss.py) names its
    own, so two benchmarks running at once do not drop each other's data."""
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(dsn_of(database))
    try:
        await migrate(conn)
    finally:
        await conn.close()


async def drop_database(database: str = DATABASE) -> None:
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await admin.close()


async def drop_prefix(prefix: str = PREFIX) -> int:
    client = aioredis.Redis.from_url(REDIS_URL)
    dropped = 0
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                dropped += await client.delete(*batch)
                batch = []
        if batch:
            dropped += await client.delete(*batch)
    finally:
        await client.aclose()
    return dropped


# A third level of budgets beside the plan's and the key's: every end user of an account.
END_USER_QUOTAS = parse_quotas([{"window": "hour", "metric": "requests", "limit": 10**9}])


async def populate(
    settings: Settings, accounts: int, keys_per_account: int, *, end_users: bool = False
) -> Population:
    """`end_users`: each account gets a default end-user budget (END_USER_QUOTAS)."""
    plans = load_plans(settings.plans_path)
    plan = plans.plans["pro"]
    pop = Population([], [], [], [])
    async with open_stores(settings) as stores:
        ledger = stores.ledger
        for a in range(accounts):
            account_id = new_id("acct")
            await ledger.create_account(account_id, f"bench {a}", plan.name, plan.mode)
            await ledger.credit(account_id, CREDIT_MICROS, "bench-credit", "bench credit")
            pop.account_ids.append(account_id)
            if end_users:
                await stores.end_user_budgets().put(account_id, "", "", END_USER_QUOTAS)
            for _ in range(keys_per_account):
                issued = await issue_key(
                    ledger, stores.store, account_id, KeySpec("bench", quotas=KEY_QUOTAS)
                )
                key_id, secret = issued.key_id, issued.secret
                pop.key_ids.append(key_id)
                pop.key_accounts.append(account_id)
                pop.secrets.append(secret)
        await rebuild(stores, plans)
    return pop


async def count(sql: str, dsn: str = DSN) -> int:
    """One count from a bench database, on a connection of its own."""
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def ledger_debits() -> int:
    return await count("SELECT count(*) FROM ledger_entries WHERE kind = 'debit'")
