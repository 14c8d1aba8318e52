"""`python -m tests.bench.cluster_bench [--seconds S] [--rounds R] [--concurrency C]`

What the hot path's Redis work costs on a Redis Cluster, and which client to run it with.
Each operation is one metered call's Redis work: reserve.lua then settle.lua through
`HotStore`, for an account with the 4 windows of the `pro` plan (limits raised so nothing is
refused), `C` concurrent callers on one uvloop event loop, in one process, for S seconds:

1. **baseline**: one Redis, the lean RESP client (today's standalone hot path);
2. **cluster, lean**: a 3-master Redis Cluster, the lean client with slot routing
   (`ClusterWire`), what `REDIS_CLUSTER_URLS` runs;
3. **cluster, redis-py**: the same cluster through redis-py's `RedisCluster`
   (`register_script`, EVALSHA routed by redis-py);
4. **one Redis, redis-py**: for reference.

Reported per arm: reserve+settle pairs per second and the client's CPU per pair
(`time.process_time`), the median of R interleaved rounds, each also as a ratio to the
baseline measured in the same run. The client process is the bottleneck by design (Redis
runs a script in microseconds): what is measured is what the gateway's event loop pays.
The cluster is started here (6 `redis-server` processes, tests/support/redis_cluster.py).

A second table drains `--settle N` pre-filled settlement messages into PostgreSQL with one
`Settler` (batch 2000), from one Redis and from the cluster (where its read is one
XREADGROUP per stream, pipelined per node), as debits per second.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import platform
import secrets
import statistics
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import uvloop
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.cluster import RedisCluster as PyCluster

from billing.metering.usage import Usage
from billing.money.admission import Admitted
from billing.money.plans import load_plans
from gateway.stores.postgres.ledger import Ledger
from gateway.stores.records import KeyRecord, Settlement
from gateway.stores.redis.hotstore import HotStore
from gateway.stores.redis.keys import Keys, shard_of
from gateway.stores.redis.settlement_stream import RedisSettlementStream
from gateway.stores.redis.wire.cluster import ClusterWire
from gateway.stores.redis.wire.resp import Endpoint, ScriptWire, WireRedis
from gateway.workers.settler import Settler
from tests.bench.settler_bench import message
from tests.support.harness import REDIS_URL, temp_database
from tests.support.redis_cluster import RedisCluster as RedisClusterProcs
from tests.support.redis_cluster import start_cluster

ACCOUNTS = 256
PLANS = Path(__file__).resolve().parents[2] / "config" / "plans.toml"


@dataclasses.dataclass
class Arm:
    name: str
    client: aioredis.Redis
    wire: ScriptWire | None


async def _populate(store: HotStore) -> list[KeyRecord]:
    plan = load_plans(PLANS).get("pro")
    assert plan is not None
    quotas = [dataclasses.replace(q, limit=10**15) for q in plan.quotas]
    records = []
    for i in range(ACCOUNTS):
        acct = f"acct_bench{i}"
        await store.put_account(
            acct, plan="pro", mode="prepaid", billing_ready=True, quotas=quotas, markup_bps=0
        )
        await store.apply_credit(acct, 1, 10**14)
        records.append(KeyRecord(f"key_bench{i}", acct, shard_of(acct), "k", (), ()))
        await store.put_key(
            records[-1], f"hash{i}-{secrets.token_hex(4)}", expires_at_ms=0, quotas=()
        )
    await store.mark_ready()
    return records


async def _round(
    store: HotStore, records: list[KeyRecord], seconds: float, c: int
) -> tuple[float, float]:
    """(pairs per second, client CPU microseconds per pair)."""
    ids = itertools.count()
    done = 0
    end = time.perf_counter() + seconds
    settlement = Settlement("gpt-4o-mini", "openai", Usage(input_tokens=20, output_tokens=10), 9)

    async def worker(n: int) -> None:
        nonlocal done
        while time.perf_counter() < end:
            i = next(ids)
            key = records[(i * 7 + n) % len(records)]
            rid = f"b{n}-{i}"
            decision = await store.reserve(
                rid, key, input_tokens=20, max_output_tokens=50, spend_micros=40
            )
            assert isinstance(decision, Admitted), decision
            await store.settle(key.shard, key.account_id, rid, settlement)
            done += 1

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(c)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return done / wall, cpu / done * 1e6


async def _drop(client: aioredis.Redis, prefix: str) -> None:
    batch: list[bytes] = []
    async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        batch.append(key)
        if len(batch) >= 500:
            await client.delete(*batch)
            batch = []
    if batch:
        await client.delete(*batch)


async def _settler_rate(client: aioredis.Redis, dsn: str, accounts: list[str], n: int) -> float:
    """Debits per second draining n pre-filled stream messages into the ledger."""
    keys = Keys(f"mws{secrets.token_hex(3)}")
    now_ms = int(time.time() * 1000)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=8)
    try:
        ledger = Ledger(pool)
        for start in range(0, n, 5000):
            async with client.pipeline(transaction=False) as pipe:
                for i in range(start, min(n, start + 5000)):
                    acct = accounts[i % len(accounts)]
                    fields = message(f"s-{keys.prefix}-{i}", acct, "key_bench", now_ms)
                    pipe.xadd(keys.stream(shard_of(acct)), fields)  # type: ignore[arg-type]
                await pipe.execute()
        settler = Settler(RedisSettlementStream(client, keys), ledger, batch=2000)
        started = time.perf_counter()
        await settler.drain(timeout_s=600)
        elapsed = time.perf_counter() - started
        assert settler.written == n, (settler.written, n)
    finally:
        await pool.close()
        await _drop(client, keys.prefix)
    return n / elapsed


async def settler_table(cluster_client: aioredis.Redis, n: int) -> str:
    async with temp_database() as dsn:
        conn = await asyncpg.connect(dsn)
        accounts = [f"acct_bench{i}" for i in range(ACCOUNTS)]
        for acct in accounts:
            await conn.execute(
                "INSERT INTO accounts (id, name, plan, mode) VALUES ($1, $1, 'pro', 'prepaid')",
                acct,
            )
        await conn.close()
        single = aioredis.Redis.from_url(REDIS_URL)
        try:
            one = await _settler_rate(single, dsn, accounts, n)
            many = await _settler_rate(cluster_client, dsn, accounts, n)
        finally:
            await single.aclose()
    return "\n".join(
        [
            f"settler: {n:,} pre-filled debits drained into PostgreSQL by one Settler",
            "",
            "| Redis | debits/s | ratio |",
            "|---|---:|---:|",
            f"| one Redis (one XREADGROUP over 64 streams) | {one:,.0f} | 1.00 |",
            f"| cluster (XREADGROUP per stream, per node) | {many:,.0f} | {many / one:.2f} |",
        ]
    )


async def main(seconds: float, rounds: int, concurrency: int, settle: int) -> str:
    cluster = await asyncio.to_thread(start_cluster)
    seeds = [Endpoint("127.0.0.1", n.port, 0, None, None) for n in cluster.nodes]
    nodes = [ClusterNode(e.host, e.port) for e in seeds]
    standalone = WireRedis(
        Endpoint("127.0.0.1", int(REDIS_URL.split(":")[2].split("/")[0]), 0, None, None)
    )
    arms = [
        Arm("baseline: one Redis, lean client", aioredis.Redis.from_url(REDIS_URL), standalone),
        # RedisCluster stands in for Redis where the hot store takes one: the arms measured.
        Arm(
            "cluster, lean client (ClusterWire)",
            PyCluster(startup_nodes=nodes),  # type: ignore[arg-type]
            ClusterWire(seeds),
        ),
        Arm(
            "cluster, redis-py RedisCluster",
            PyCluster(startup_nodes=nodes),  # type: ignore[arg-type]
            None,
        ),
        Arm("one Redis, redis-py", aioredis.Redis.from_url(REDIS_URL), None),
    ]
    prefix = f"mwb{secrets.token_hex(3)}"
    results: dict[str, list[tuple[float, float]]] = {a.name: [] for a in arms}
    settled = ""
    for node in cluster.live():
        with node.client() as c:
            c.config_resetstat()
    try:
        stores = []
        for arm in arms:
            store = HotStore(arm.client, Keys(prefix), reservation_ttl_s=600, wire=arm.wire)
            stores.append((arm, store, await _populate(store)))
            await _round(store, stores[-1][2], 0.5, concurrency)  # warm: scripts, caches
        for _ in range(rounds):
            for arm, store, records in stores:
                results[arm.name].append(await _round(store, records, seconds, concurrency))
        settled = "\n\n" + _redis_side(cluster)
        if settle:
            settled += "\n\n" + await settler_table(arms[1].client, settle)
    finally:
        for arm in arms:
            await _drop(arm.client, prefix)
            await arm.client.aclose()
            if arm.wire is not None:
                await arm.wire.close()
        cluster.stop()
    return _table(results, seconds, rounds, concurrency) + settled


def _redis_side(cluster: RedisClusterProcs) -> str:
    """Redis's own CPU per script call, from the masters' INFO commandstats over the run (both
    cluster arms): what bounds one master, since Lua runs on its single thread."""
    calls = usec = 0
    for node in cluster.masters():
        with node.client() as c:
            stats = c.info("commandstats").get("cmdstat_evalsha", {})
        calls += int(stats.get("calls", 0))
        usec += int(stats.get("usec", 0))
    per = usec / max(calls, 1)
    return (
        f"Redis side: {calls:,} EVALSHA on the cluster's masters, {per:.1f} µs of Redis CPU"
        f" each, so one master core runs at most ~{1e6 / per / 2:,.0f} reserve+settle pairs/s"
    )


def _table(
    results: dict[str, list[tuple[float, float]]], seconds: float, rounds: int, c: int
) -> str:
    medians = {
        name: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs))
        for name, rs in results.items()
    }
    base_rate, base_cpu = next(iter(medians.values()))
    lines = [
        f"reserve+settle pairs, c={c}, {rounds} interleaved rounds of {seconds:g} s, median;"
        f" {platform.processor() or platform.machine()}, Python {platform.python_version()}",
        "",
        "| arm | pairs/s | ratio | client CPU per pair | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, (rate, cpu) in medians.items():
        ratios = f"{rate / base_rate:.2f} | {cpu:,.0f} µs | {cpu / base_cpu:.2f}x"
        lines.append(f"| {name} | {rate:,.0f} | {ratios} |")
    return "\n".join(lines)


def _run(make: Callable[[], Coroutine[Any, Any, str]]) -> str:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(make())


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="python -m tests.bench.cluster_bench", description=__doc__)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--settle", type=int, default=100_000, help="settler messages (0: skip)")
    a = p.parse_args()
    print(_run(lambda: main(a.seconds, a.rounds, a.concurrency, a.settle)))
