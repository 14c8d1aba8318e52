"""`python -m tests.bench.ledger_scale [--rows N] [--runs R] [--keep] [--clickhouse]`: the
partitioned ledger at 10 million rows (or 100 million).

Loads N synthetic rows (default 10,000,000) with generate_series straight into the
partitioned `ledger_entries` of a fresh database migrated like production: 12 months, ids
rising with time as the settler writes them, 10,000 accounts plus one big account holding a
tenth of all rows, 5% metered debits. The usage rollups are then summed from those rows as the
settler would have kept them. The idempotency guard tables are not filled (reads never touch
them). Then p50/p99 over R runs of the reads the API makes, through the real store methods:
the account ledger page (GET /v1/account/ledger: `Ledger.entries`, first page and a deep one),
a month's usage report (`Directory.usage_report` by day and by model), the explorer's
grouped reads (`usage_series` by day and model, by key), a month's meter usage
(`MeteringLedger.meter_usage`, which reads the ledger itself), a month's statement
(`Statements.month`) and a month's FOCUS export (every row written as CSV), and EXPLAIN
showing which partitions each read touches. Each read's first call is reported apart
("first": nothing of it cached in the connection or the buffers it warms) from the p50/p99
of the warm runs. With --clickhouse the ledger is also copied, by the gateway's own copier,
to ClickHouse's engine (chdb behind its HTTP interface, tests/support/fakes/clickhouse.py) and the
grouped reads are timed there too. Not part of the test run: a benchmark, no assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import aiohttp
import asyncpg

from billing.contracts.statements import Month
from billing.usage.focus import Issuer
from gateway.config.analytics import AnalyticsSettings
from gateway.ops.ledger_months import add_months, month_of
from gateway.services.usage.focus.export import csv_text, focus_pages
from gateway.stores.clickhouse.analytics import ClickHouseAnalytics
from gateway.stores.clickhouse.http import ClickHouseHttp
from gateway.stores.clickhouse.usage import ClickHouseUsage
from gateway.stores.postgres import partitions
from gateway.stores.postgres.contracts.statements import Statements
from gateway.stores.postgres.directory import Directory
from gateway.stores.postgres.ledger import Ledger
from gateway.stores.postgres.metering.metered import MeteringLedger
from gateway.stores.postgres.migrate import migrate
from gateway.stores.postgres.usage.analytics_copy import AnalyticsCopy
from gateway.stores.postgres.usage.focus import FocusReads
from gateway.stores.postgres.usage.rollups import ROLLUP_CTE, UNITS_SQL
from gateway.workers.analytics_copy import Copier
from tests.bench.fixtures import count
from tests.support.fakes.clickhouse import running_clickhouse

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
_ROLLUPS = (
    f"WITH ins AS (SELECT *, {UNITS_SQL} FROM ledger_entries), {ROLLUP_CTE}"
    " SELECT count(*) FROM roll"
)


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
    """p50 and p99 in ms of `runs` warm calls."""
    _, p50, p99 = await timed_first(runs, call)
    return p50, p99


async def timed_first(
    runs: int, call: Callable[[], Awaitable[object]]
) -> tuple[float, float, float]:
    """The first call's ms (nothing of it warmed yet), then p50 and p99 of `runs` warm ones."""
    t0 = time.perf_counter()
    await call()
    first = (time.perf_counter() - t0) * 1000
    for _ in range(4):
        await call()  # warm: prepared statements, caches
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await call()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return first, statistics.median(times), times[max(0, int(len(times) * 0.99) - 1)]


Case = tuple[str, Callable[[], Awaitable[object]]]


async def _focus_csv(source: FocusReads, account_id: str, month: Month) -> int:
    written = 0
    async for page in focus_pages(source, account_id, month, Issuer()):
        written += len(csv_text(page, header=False))
    return written


async def measure(runs: int, month: date) -> list[tuple[str, float, float, float]]:
    pool = await asyncpg.create_pool(DSN, min_size=1, max_size=2)
    ledger, directory, metering = Ledger(pool), Directory(pool), MeteringLedger(pool)
    statements, focus = Statements(pool), FocusReads(pool)
    billing_month = Month(month.year, month.month)
    rng = random.Random(17)

    def anyone() -> str:
        return f"acct_{rng.randrange(ACCOUNTS):05d}"

    mid = int(await pool.fetchval("SELECT max(id) / 2 FROM ledger_entries"))
    since = datetime(month.year, month.month, 1, tzinfo=UTC)
    until = datetime(add_months(month, 1).year, add_months(month, 1).month, 1, tzinfo=UTC)
    end = add_months(month, 1)
    page, report, meters = ledger.entries, directory.usage_report, metering.meter_usage
    series = directory.usage_series
    cases: list[Case] = [
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
        (
            "explorer, a month by day and model, big account",
            lambda: series(BIG, month, end, ("day", "model"), {}),
        ),
        (
            "explorer, a year by key, big account",
            lambda: series(BIG, add_months(month, -11), end, ("key",), {}),
        ),
        ("statement of a month, random account", lambda: statements.month(anyone(), since, until)),
        ("statement of a month, big account", lambda: statements.month(BIG, since, until)),
        (
            "FOCUS CSV of a month, random account",
            lambda: _focus_csv(focus, anyone(), billing_month),
        ),
    ]
    slow: list[Case] = [
        ("FOCUS CSV of a month, big account", lambda: _focus_csv(focus, BIG, billing_month)),
    ]
    out = []
    for (name, call), n in [*((c, runs) for c in cases), *((c, 3) for c in slow)]:
        first, p50, p99 = await timed_first(n, call)
        out.append((name, first, p50, p99))
        print(f"  {name}: first {first:.1f} ms, p50 {p50:.2f} ms, p99 {p99:.2f} ms", flush=True)
    await explain(pool, since, until, mid)
    await pool.close()
    return out


async def measure_clickhouse(runs: int, month: date) -> list[tuple[str, float, float, float]]:
    """The ledger copied to ClickHouse by the gateway's copier, then the grouped reads there."""
    pool = await asyncpg.create_pool(DSN, min_size=1, max_size=2)
    settings = AnalyticsSettings(url="", database="meterway_bench", batch_rows=100_000)
    end = add_months(month, 1)
    with tempfile.TemporaryDirectory() as where:
        async with running_clickhouse(Path(where)) as ch, aiohttp.ClientSession() as session:
            client = ClickHouseHttp(replace(settings, url=ch.url), session)
            copy = AnalyticsCopy(pool)
            copier = Copier(copy, ClickHouseAnalytics(client), settings.batch_rows)
            t0 = time.perf_counter()
            copied = 0
            while sent := await copier.round():
                copied += sent
            print(f"  copied {copied:,} rows to ClickHouse in {time.perf_counter() - t0:.0f}s")
            usage = ClickHouseUsage(client, copy.key_groups)
            cases: list[Case] = [
                ("ClickHouse: usage, a month by day, big account",
                 lambda: usage.usage_series(BIG, month, end, ("day",), {})),
                ("ClickHouse: explorer, a month by day and model, big account",
                 lambda: usage.usage_series(BIG, month, end, ("day", "model"), {})),
                ("ClickHouse: explorer, a year by key, big account",
                 lambda: usage.usage_series(BIG, add_months(month, -11), end, ("key",), {})),
            ]  # fmt: skip
            out = []
            for name, call in cases:
                first, p50, p99 = await timed_first(runs, call)
                out.append((name, first, p50, p99))
                print(f"  {name}: first {first:.1f} ms, p50 {p50:.2f} ms, p99 {p99:.2f} ms")
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
    p.add_argument("--clickhouse", action="store_true", help="copy to ClickHouse and time it too")
    args = p.parse_args()
    current = month_of(datetime.now(UTC))
    first = add_months(current, -11)
    t0 = time.perf_counter()
    if not args.reuse:
        print(f"loading {args.rows:,} rows over 12 months from {first:%Y-%m}", flush=True)
        asyncio.run(load(args.rows, first))
        print(f"loaded in {time.perf_counter() - t0:.0f}s", flush=True)
    results = asyncio.run(measure(args.runs, add_months(current, -1)))
    if args.clickhouse:
        results += asyncio.run(measure_clickhouse(args.runs, add_months(current, -1)))
    rows = asyncio.run(count("SELECT count(*) FROM ledger_entries", DSN))  # what --reuse found
    head = f"| Read ({rows:,} rows, {args.runs} runs) | first ms | p50 ms | p99 ms |"
    print(f"\n{head}\n|---|---:|---:|---:|")
    for name, cold, p50, p99 in results:
        print(f"| {name} | {cold:.1f} | {p50:.2f} | {p99:.2f} |")
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
