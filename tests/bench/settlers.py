"""`python -m tests.bench.settlers [--messages N] [--processes 1,2,4]`: ledger writes per second
with several `meterway settler` processes sharing the streams.

Issue 17 asks for 50,000 debits/s "with as many settler processes as it takes". For each
process count the streams are pre-filled with N settlement messages in settle.lua's format
(spread over the bench's accounts, so over the 64 shard streams), then K settler processes
start at once as one consumer group; the clock runs from the first row written (process
start-up excluded) until the ledger holds N new debit rows and the streams are empty. Every
message must land exactly once: the run fails otherwise, so a fast figure can never hide a
lost or duplicated debit.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from tests.bench import fixtures
from tests.bench.__main__ import _prepare
from tests.bench.procs import spawn, stop
from tests.bench.settler_bench import message
from tests.bench.targets import gateway_env

SHARDS = 64


async def prefill(pop: fixtures.Population, n: int) -> None:
    from gateway.stores.redis.keys import Keys, shard_of

    keys = Keys(fixtures.PREFIX)
    pairs = itertools.cycle(list(zip(pop.key_ids, pop.key_accounts, strict=True)))
    client = aioredis.Redis.from_url(fixtures.REDIS_URL)
    now_ms = int(time.time() * 1000)
    try:
        for start in range(0, n, 5000):
            async with client.pipeline(transaction=False) as pipe:
                for _ in range(min(5000, n - start)):
                    key_id, account_id = next(pairs)
                    fields = message(f"bench-{uuid.uuid4().hex}", account_id, key_id, now_ms)
                    pipe.xadd(keys.stream(shard_of(account_id)), fields)  # type: ignore[arg-type]
                await pipe.execute()
    finally:
        await client.aclose()


async def queued() -> int:
    from gateway.stores.redis.keys import Keys

    keys = Keys(fixtures.PREFIX)
    client = aioredis.Redis.from_url(fixtures.REDIS_URL)
    try:
        async with client.pipeline(transaction=False) as pipe:
            for shard in range(SHARDS):
                pipe.xlen(keys.stream(shard))
            return sum(int(x) for x in await pipe.execute())
    finally:
        await client.aclose()


async def debits() -> int:
    conn = await asyncpg.connect(fixtures.DSN)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'debit'"))
    finally:
        await conn.close()


async def run_once(work: Path, config_dir: Path, pop: fixtures.Population, n: int, k: int) -> float:
    before = await debits()
    await prefill(pop, n)
    env = gateway_env("http://127.0.0.1:1", 1, config_dir, 1)
    exe = str(Path(sys.executable).with_name("meterway"))
    procs = []
    launched = started = time.perf_counter()
    for i in range(k):
        penv = {**env, "SETTLER_CONSUMER": f"bench-settler-{i}"}
        procs.append(spawn([exe, "settler"], cpu=None, log=work / f"settler-{i}.log", env=penv))
    try:
        while await debits() == before:  # the clock starts at the first row, not at exec
            if time.perf_counter() - launched > 60:
                raise TimeoutError("no settler wrote a row within 60 s")
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        while True:
            written = await debits() - before
            if written >= n and await queued() == 0:
                break
            if time.perf_counter() - started > 600:
                raise TimeoutError(f"{written} of {n} written after 600 s")
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        for p in procs:
            stop(p)
    await asyncio.sleep(0.5)
    if (written := await debits() - before) != n:
        raise RuntimeError(f"{k} settlers wrote {written} rows for {n} messages")
    return elapsed


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m tests.bench.settlers", description=__doc__)
    p.add_argument("--messages", type=int, default=200_000)
    p.add_argument("--processes", default="1,2,4")
    args = p.parse_args()
    counts = [int(x) for x in args.processes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="mwsettlers-") as tmp:
        work = Path(tmp)
        settings, pop = _prepare(work, argparse.Namespace(accounts=100, keys=1000))
        try:
            for k in counts:
                secs = asyncio.run(run_once(work, settings.config_dir, pop, args.messages, k))
                rows.append((k, args.messages / secs, secs))
                print(f"{k} settler process(es): {args.messages / secs:,.0f} debits/s "
                      f"({args.messages:,} in {secs:.2f}s)", flush=True)  # fmt: skip
        finally:
            asyncio.run(fixtures.drop_prefix())
            asyncio.run(fixtures.drop_database())
    base = rows[0][1]
    print("\n| Settler processes | Debits/s | Ratio to 1 | Seconds |\n|---:|---:|---:|---:|")
    for k, rate, secs in rows:
        print(f"| {k} | {rate:,.0f} | {rate / base:.2f}x | {secs:.2f} |")
    print(f"\n{os.cpu_count()} CPUs; PostgreSQL and Redis on the same machine.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
