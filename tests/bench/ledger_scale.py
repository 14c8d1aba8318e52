"""`python -m tests.bench.ledger_scale [--rows N] [--runs R] [--keep]`: the partitioned ledger
at 10 million rows.

Loads N synthetic rows (default 10,000,000) with generate_series straight into the
partitioned `ledger_entries` of a fresh database migrated like production: 12 months, ids
rising with time as the settler writes them, 10,000 accounts plus one big account holding a
tenth of all rows, 5% metered debits. The usage rollups are then summed from those rows as the
settler would have kept them. The idempotency guard tables are not filled (reads never touch
them). Then p50/p99 over R runs of the reads the API makes, through the real store methods:
the account ledger page (GET /v1/account/ledger: `Ledger.entries`, first page and a deep one),
a month's usage report (`Directory.usage_report` by day and by model) and a month's meter
usage (`MeteringLedger.meter_usage`, which reads the ledger itself), and EXPLAIN showing
which partitions each read touches. Not part of the test run: a benchmark, no assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime

import asyncpg

from gateway.ops.ledger_months import add_months, month_of
from gateway.stores.postgres import partitions
from gateway.stores.postgres.directory import Directory
from gateway.stores.postgres.ledger import Ledger
from gateway.stores.postgres.metering import MeteringLedger
from gateway.stores.postgres.migrate import migrate
from gateway.stores.postgres.rollups import ROLLUP_CTE

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = os.environ.get("MW_LEDGER_SCALE_DATABASE", "meterway_ledger_scale")
DSN = PG_ADMIN.rsplit("/", 1)[0] + "/" + DATABASE
ACCOUNTS = 10_000
BIG = "acct_big"
CHUNK = 1_000_000
_PARTITION = r"ledger_entries_(\d{4}_\d{2}|default)"
# Each row's guard (migration 020) taken in the same statement, as the settler does; the
# loader's transaction says so (meterway.guards_taken, migration 026), as the settler's does.
_LOAD = """
WITH guards AS (
    INSERT INTO ledger_request_ids (request_id, kind)
    SELECT 'req_' || g, 'debit' FROM generate_series($1::bigint, $2::bigint) AS g
)
INSERT INTO ledger_entries (id, account_id, kind, amount_micros, request_id, key_id, model,
    provider, input_tokens, output_tokens, usage_source, occurred_at, meter, quantity)
SELECT g, a, 'debit', -(100 + g % 5000), 'req_' || g, 'key_' || (h % 4) || a,
       CASE WHEN m THEN NULL ELSE (ARRAY['gpt-4o-mini', 'gpt-4o', 'claude-3-5'])[1 + g % 3] END,
       'openai', 200 + g % 1000, 50 + g % 300, 'provider',
       $3::timestamptz + $4::interval * ((g - 1)::float8 / $5), CASE WHEN m THEN 'minutes' END,
       CASE WHEN m THEN 1 + g % 60 END
FROM (SELECT g, hashint4(g::int) & 2147483647 AS h, g % 20 = 0 AS m,
             CASE WHEN g % 10 = 0 THEN 'acct_big'
                  ELSE 'acct_' || lpad(((hashint4(g::int) & 2147483647) % $6)::text, 5, '0')
             END AS a
      FROM generate_series($1::bigint, $2::bigint) AS g) s
"""
# The settler's own rollup statement, fed every loaded row at once.
_ROLLUPS = f"WITH ins AS (SELECT * FROM ledger_entries), {ROLLUP_CTE} SELECT count(*) FROM roll"


async def load(rows: int, first: date) -> None:
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    await admin.close()
    conn = await asyncpg.connect(DSN)
    try:
        await migrate(conn)
        await conn.execute(
            "INSERT INTO accounts (id, name, plan, mode) SELECT 'acct_' || lpad(i::text, 5, '0'),"
            " 'bench', 'pro', 'prepaid' FROM generate_series(0, $1 - 1) i"
            " UNION ALL SELECT $2, 'bench', 'pro', 'prepaid'",
            ACCOUNTS,
            BIG,
        )
        pool = await asyncpg.create_pool(DSN, min_size=1, max_size=1)
        await partitions.add_months(pool, [add_months(first, n) for n in range(12)])
        await pool.close()
        start = datetime(first.year, first.month, 1, tzinfo=UTC)
        span = datetime.now(UTC) - start
        for lo in range(1, rows + 1, CHUNK):
            t0 = time.perf_counter()
            hi = min(lo + CHUNK - 1, rows)
            async with conn.transaction():
                await conn.execute("SELECT set_config('meterway.guards_taken', 'on', true)")
                await conn.execute(_LOAD, lo, hi, start, span, rows, ACCOUNTS)
            print(f"  rows {lo:,}-{hi:,} in {time.perf_counter() - t0:.1f}s", flush=True)
        await conn.execute("SELECT setval('ledger_entries_id_seq', $1)", rows)
        t0 = time.perf_counter()
        await conn.execute(_ROLLUPS)
        await conn.execute("ANALYZE")
        print(f"  rollups and ANALYZE in {time.perf_counter() - t0:.1f}s", flush=True)
    finally:
        await conn.close()


async def timed(runs: int, call: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    for _ in range(5):
        await call()  # warm: prepared statements, caches
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await call()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


async def measure(runs: int, month: date) -> list[tuple[str, float, float]]:
    pool = await asyncpg.create_pool(DSN, min_size=1, max_size=2)
    ledger, directory, metering = Ledger(pool), Directory(pool), MeteringLedger(pool)
    rng = random.Random(17)

    def anyone() -> str:
        return f"acct_{rng.randrange(ACCOUNTS):05d}"

    mid = int(await pool.fetchval("SELECT max(id) / 2 FROM ledger_entries"))
    since = datetime(month.year, month.month, 1, tzinfo=UTC)
    until = datetime(add_months(month, 1).year, add_months(month, 1).month, 1, tzinfo=UTC)
    end = add_months(month, 1)
    page, report, meters = ledger.entries, directory.usage_report, metering.meter_usage
    cases: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("ledger page 1 (51 rows), random account", lambda: page(anyone(), before=None, limit=51)),
        ("ledger page 1, the big account (1M rows)", lambda: page(BIG, before=None, limit=51)),
        (
            "ledger deep page (before = mid id), big account",
            lambda: page(BIG, before=mid, limit=51),
        ),
        (
            "usage report, a month by day, random account",
            lambda: report(anyone(), month, end, "day"),
        ),
        ("usage report, a month by day, big account", lambda: report(BIG, month, end, "day")),
        ("usage report, a month by model, big account", lambda: report(BIG, month, end, "model")),
        ("meter usage (ledger), a month, random account", lambda: meters(anyone(), since, until)),
        ("meter usage (ledger), a month, big account", lambda: meters(BIG, since, until)),
    ]
    out = []
    for name, call in cases:
        p50, p99 = await timed(runs, call)
        out.append((name, p50, p99))
        print(f"  {name}: p50 {p50:.2f} ms, p99 {p99:.2f} ms", flush=True)
    await explain(pool, since, until, mid)
    await pool.close()
    return out


async def explain(pool: asyncpg.Pool, since: datetime, until: datetime, mid: int) -> None:
    plans = {
        "ledger page (big account)": (
            "SELECT * FROM ledger_entries WHERE account_id = $1 AND ($2::bigint IS NULL"
            " OR id < $2) ORDER BY id DESC LIMIT 51",
            (BIG, mid),
        ),
        "meter usage, one month": (
            "SELECT meter, sum(quantity) FROM ledger_entries WHERE account_id = $1"
            " AND kind = 'debit' AND meter IS NOT NULL AND occurred_at >= $2"
            " AND occurred_at < $3 GROUP BY meter",
            (BIG, since, until),
        ),
    }
    for name, (sql, args) in plans.items():
        rows = await pool.fetch("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql, *args)
        lines = [r[0] for r in rows]
        touched = sorted({w for line in lines for w in line.split() if re.fullmatch(_PARTITION, w)})
        print(f"\nEXPLAIN {name}: partitions touched {touched}")
        print("\n".join("    " + line for line in lines[:14]))


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m tests.bench.ledger_scale", description=__doc__)
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--runs", type=int, default=300)
    p.add_argument("--reuse", action="store_true", help="measure the database already loaded")
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = p.parse_args()
    current = month_of(datetime.now(UTC))
    first = add_months(current, -11)
    t0 = time.perf_counter()
    if not args.reuse:
        print(f"loading {args.rows:,} rows over 12 months from {first:%Y-%m}", flush=True)
        asyncio.run(load(args.rows, first))
        print(f"loaded in {time.perf_counter() - t0:.0f}s", flush=True)
    results = asyncio.run(measure(args.runs, add_months(current, -1)))
    print(f"\n| Read ({args.rows:,} rows, {args.runs} runs) | p50 ms | p99 ms |\n|---|---:|---:|")
    for name, p50, p99 in results:
        print(f"| {name} | {p50:.2f} | {p99:.2f} |")
    print(f"\n{os.cpu_count()} CPUs; PostgreSQL on the same machine, client over TCP.")
    if not args.keep:
        asyncio.run(_drop())
    return 0


async def _drop() -> None:
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    await admin.close()


if __name__ == "__main__":
    raise SystemExit(main())
