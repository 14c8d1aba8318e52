"""`python -m tests.bench.settlers [--messages N] [--processes 1,2,4]`: ledger writes per second
with several `meterway settler` processes sharing the streams.

Issue 17 asks for 50,000 debits/s "with as many settler processes as it takes". For each
process count the streams are pre-filled with N settlement messages in settle.lua's format
(spread over the bench's accounts, so over the 64 shard streams), then K settler processes
start at once as one consumer group; the clock runs from the first batch committed (process
start-up excluded) until the streams are empty. Every message must land exactly once: the
ledger is counted at the end and the run fails unless it holds exactly N new debit rows, so a
fast figure can never hide a lost or duplicated debit. `--lanes` sets SETTLER_LANES.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from tests.bench import fixtures
from tests.bench.__main__ import _prepare
from tests.bench.procs import cpu_by_pid, matching, spawn, stop
from tests.bench.settler_bench import message, named_message
from tests.bench.targets import gateway_env

SHARDS = 64


async def prefill(pop: fixtures.Population, n: int, named: bool = False) -> None:
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
                    make = named_message if named else message
                    fields = make(f"bench-{uuid.uuid4().hex}", account_id, key_id, now_ms)
                    pipe.xadd(keys.stream(shard_of(account_id)), fields)  # type: ignore[arg-type]
                await pipe.execute()
    finally:
        await client.aclose()


async def queued(client: aioredis.Redis) -> int:
    from gateway.stores.redis.keys import Keys

    keys = Keys(fixtures.PREFIX)
    async with client.pipeline(transaction=False) as pipe:
        for shard in range(SHARDS):
            pipe.xlen(keys.stream(shard))
        return sum(int(x) for x in await pipe.execute())


async def debits() -> int:
    conn = await asyncpg.connect(fixtures.DSN)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'debit'"))
    finally:
        await conn.close()


# PostgreSQL's share: the bench database's backends (their command line names it) and the
# server's own writers; Redis is the shared server, so other clients' load counts too.
PG_AUX = ("postgres: walwriter", "postgres: checkpointer", "postgres: background writer")


def tiers(procs: list[subprocess.Popen[bytes]]) -> dict[str, Callable[[], list[int]]]:
    return {
        "settlers": lambda: [p.pid for p in procs],
        "postgres": lambda: matching(f" {fixtures.DATABASE} ", *PG_AUX),
        "redis": lambda: matching("redis-server"),
    }


async def run_once(
    work: Path,
    config_dir: Path,
    pop: fixtures.Population,
    n: int,
    k: int,
    lanes: int,
    named: bool = False,
) -> tuple[float, dict[str, float]]:
    before = await debits()
    await prefill(pop, n, named)
    env = {**gateway_env("http://127.0.0.1:1", 1, config_dir, 1), "SETTLER_LANES": str(lanes)}
    exe = str(Path(sys.executable).with_name("meterway"))
    procs = []
    launched = started = time.perf_counter()
    client = aioredis.Redis.from_url(fixtures.REDIS_URL)
    for i in range(k):
        penv = {**env, "SETTLER_NAME": f"bench-settler-{i}"}
        procs.append(spawn([exe, "settler"], cpu=None, log=work / f"settler-{i}.log", env=penv))
    try:
        # Progress is read from the streams (a message leaves its stream once its row is
        # committed), not by counting the ledger: a count(*) every few ms over a growing
        # table would take PostgreSQL time from the settlers being measured.
        while await queued(client) == n:  # the clock starts at the first commit, not at exec
            if time.perf_counter() - launched > 60:
                raise TimeoutError("no settler wrote a row within 60 s")
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        before_cpu = {tier: cpu_by_pid(pids()) for tier, pids in tiers(procs).items()}
        while await queued(client):
            if time.perf_counter() - started > 600:
                raise TimeoutError(f"{await queued(client)} of {n} still queued after 600 s")
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        cpu = {
            tier: sum(s - before_cpu[tier].get(pid, 0.0) for pid, s in cpu_by_pid(pids()).items())
            for tier, pids in tiers(procs).items()
        }
    finally:
        await client.aclose()
        for p in procs:
            stop(p)
    await asyncio.sleep(0.5)
    if (written := await debits() - before) != n:
        raise RuntimeError(f"{k} settlers wrote {written} rows for {n} messages")
    return elapsed, cpu


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m tests.bench.settlers", description=__doc__)
    p.add_argument("--messages", type=int, default=200_000)
    p.add_argument("--processes", default="1,2,4")
    p.add_argument("--lanes", type=int, default=2, help="SETTLER_LANES of every process")
    p.add_argument(
        "--named",
        action="store_true",
        help="queue messages as named fields (versions before the packed row) instead",
    )
    args = p.parse_args()
    counts = [int(x) for x in args.processes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="mwsettlers-") as tmp:
        work = Path(tmp)
        settings, pop = _prepare(work, argparse.Namespace(accounts=100, keys=1000))
        try:
            for k in counts:
                secs, cpu = asyncio.run(
                    run_once(
                        work, settings.config_dir, pop, args.messages, k, args.lanes, args.named
                    )
                )
                per = {tier: 1e6 * c / args.messages for tier, c in cpu.items()}
                rows.append((k, args.messages / secs, secs, per))
                print(f"{k} settler process(es): {args.messages / secs:,.0f} debits/s "
                      f"({args.messages:,} in {secs:.2f}s); CPU us per debit: "
                      + ", ".join(f"{t} {v:.1f}" for t, v in per.items()), flush=True)  # fmt: skip
        finally:
            asyncio.run(fixtures.drop_prefix())
            asyncio.run(fixtures.drop_database())
    base = rows[0][1]
    print(
        f"\n{args.lanes} lane(s) per settler; messages as"
        f" {'named fields' if args.named else 'packed rows'}.\n\n"
        "| Settler processes | Debits/s | Ratio to 1 | Seconds | CPU"
        " µs per debit: settlers / PostgreSQL / Redis | Cores for 50,000/s |"
        "\n|---:|---:|---:|---:|---:|---:|"
    )
    for k, rate, secs, per in rows:
        total = sum(per.values())
        print(
            f"| {k} | {rate:,.0f} | {rate / base:.2f}x | {secs:.2f} | {per['settlers']:.1f} /"
            f" {per['postgres']:.1f} / {per['redis']:.1f} | {total * 50_000 / 1e6:.1f} |"
        )
    print(f"\n{os.cpu_count()} CPUs; PostgreSQL and Redis on the same machine.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
