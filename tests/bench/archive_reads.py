"""`python -m tests.bench.archive_reads [--rows N] [--runs R]`: what the reads that follow
archived months cost, the same reads timed before and after retention.

Loads N synthetic rows (default 2,000,000) over 12 months the way `tests.bench.ledger_scale`
does (its loader, into a database of its own, with the request guards), times the account
ledger page, a request's entry and meter usage over a range cutting a month, then detaches
the ten oldest months (`partitions.detach`, as `meterway ledger retention` does) and times
the same calls again. Not part of the test run: a benchmark, no assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta

# MWBENCH_TAG, as for the other benchmarks, gives a run a database of its own.
os.environ.setdefault(
    "MW_LEDGER_SCALE_DATABASE", "meterway_archive_reads" + os.environ.get("MWBENCH_TAG", "")
)

import asyncpg

from gateway.ops.ledger_months import add_months, month_of
from gateway.stores.postgres import partitions
from gateway.stores.postgres.directory import Directory
from gateway.stores.postgres.ledger import Ledger
from gateway.stores.postgres.metering.metered import MeteringLedger
from tests.bench.ledger_scale import ACCOUNTS, BIG, DSN, _drop, load, timed

Call = Callable[[], Awaitable[object]]


def _cases(pool: asyncpg.Pool, rows: int, cut: date) -> list[tuple[str, Call]]:
    ledger, directory, metering = Ledger(pool), Directory(pool), MeteringLedger(pool)
    rng = random.Random(17)

    def anyone() -> str:
        return f"acct_{rng.randrange(ACCOUNTS):05d}"

    def archived_id() -> int:  # ids rise with time: the first ten months' share
        return rng.randrange(1, rows * 10 // 12)

    mid = rows // 4
    cut_from = datetime(cut.year, cut.month, 10, tzinfo=UTC)
    cut_to = cut_from + timedelta(days=10)

    async def request_of_archived() -> object:
        rid = archived_id() // 10 * 10 + 10  # every tenth row is the big account's
        return await directory.request_entry(BIG, f"req_{rid}")

    async def request_live() -> object:
        return await directory.request_entry(BIG, f"req_{rows - rng.randrange(1000) * 10}")

    return [
        (
            "ledger page 1 (51 rows), random account",
            lambda: ledger.entries(anyone(), before=None, limit=51),
        ),
        ("ledger page 1, the big account", lambda: ledger.entries(BIG, before=None, limit=51)),
        (
            "ledger deep page (a quarter of the ids), big account",
            lambda: ledger.entries(BIG, before=mid, limit=51),
        ),
        ("request entry, a live request", request_live),
        ("request entry, an archived request", request_of_archived),
        ("request entry, an unknown id", lambda: directory.request_entry(BIG, "req_nope")),
        (
            "meter usage, 10 days inside a month, random account",
            lambda: metering.meter_usage(anyone(), cut_from, cut_to),
        ),
        (
            "meter usage, 10 days inside a month, big account",
            lambda: metering.meter_usage(BIG, cut_from, cut_to),
        ),
    ]


async def _round(rows: int, runs: int, cut: date) -> dict[str, tuple[float, float]]:
    pool = await asyncpg.create_pool(DSN, min_size=1, max_size=2)
    try:
        out = {}
        for name, call in _cases(pool, rows, cut):
            out[name] = await timed(runs, call)
            print(f"  {name}: p50 {out[name][0]:.2f} ms, p99 {out[name][1]:.2f} ms", flush=True)
        return out
    finally:
        await pool.close()


async def _archive(first: date, months: int) -> None:
    pool = await asyncpg.create_pool(DSN, min_size=1, max_size=1)
    try:
        for n in range(months):
            done = await partitions.detach(pool, add_months(first, n))
            print(f"  detached {done.table} -> {done.archive} ({done.entries:,} rows)", flush=True)
        await pool.execute("VACUUM ANALYZE")
    finally:
        await pool.close()


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m tests.bench.archive_reads", description=__doc__)
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--runs", type=int, default=200)
    args = p.parse_args()
    current = month_of(datetime.now(UTC))
    first = add_months(current, -11)
    cut = add_months(first, 5)  # a month in the middle: live first, archived after
    print(f"loading {args.rows:,} rows over 12 months from {first:%Y-%m}", flush=True)
    asyncio.run(load(args.rows, first))
    try:
        print("all months live:", flush=True)
        live = asyncio.run(_round(args.rows, args.runs, cut))
        print("ten months archived:", flush=True)
        asyncio.run(_archive(first, 10))
        archived = asyncio.run(_round(args.rows, args.runs, cut))
    finally:
        asyncio.run(_drop())
    print(
        f"\n| read ({args.rows:,} rows, {args.runs} runs) | all live p50 / p99 ms"
        " | 10 of 12 months archived p50 / p99 ms |\n|---|---:|---:|"
    )
    for name, (p50, p99) in live.items():
        a50, a99 = archived[name]
        print(f"| {name} | {p50:.2f} / {p99:.2f} | {a50:.2f} / {a99:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
