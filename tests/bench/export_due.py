"""`python -m tests.bench.export_due [--rows N] [--runs R]`: the usage exporter's due read
with its scan bound at 0 (every debit of every mapped account read against usage_exports,
as before migration 025) and once the bound has moved up to the newest id.

Loads N synthetic rows (default 1,000,000) the way `tests.bench.ledger_scale` does (its
loader, into a database of its own), maps every account at Lago and gives every debit a
`sent` export row, so nothing is due: the read's whole cost is finding that out. Not part
of the test run: a benchmark, no assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from datetime import UTC, datetime

os.environ.setdefault("MW_LEDGER_SCALE_DATABASE", "meterway_export_due")

import asyncpg

from gateway.ops.ledger_months import add_months, month_of
from gateway.stores.postgres.usage.exports import ExportLedger
from tests.bench.ledger_scale import DSN, _drop, load, timed


async def _measure(runs: int) -> list[tuple[str, float, float]]:
    pool = await asyncpg.create_pool(DSN, min_size=1, max_size=2)
    try:
        await pool.execute(
            "INSERT INTO export_customers (account_id, lago_subscription_id)"
            " SELECT id, 'sub_' || id FROM accounts;"
            "INSERT INTO usage_exports (target, entry_id, status, attempts)"
            " SELECT 'lago', id, 'sent', 1 FROM ledger_entries WHERE kind = 'debit'"
        )
        await pool.execute("VACUUM ANALYZE")
        ledger = ExportLedger(pool)

        async def due() -> object:
            return await ledger.due("lago", datetime.now(UTC), 500)

        async def unbounded() -> object:
            await pool.execute("UPDATE export_scan SET through_id = 0, next_id = NULL")
            return await due()

        out = [("due, bound at 0 (the whole ledger)", *await timed(max(runs // 10, 5), unbounded))]
        for _ in range(3):
            await due()  # the bound moves to the newest id
        bound = await pool.fetchval("SELECT through_id FROM export_scan WHERE target = 'lago'")
        print(f"  bound moved to {bound:,}", flush=True)
        out.append(("due, bound at the newest id", *await timed(runs, due)))
        return out
    finally:
        await pool.close()


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m tests.bench.export_due", description=__doc__)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=200)
    args = p.parse_args()
    first = add_months(month_of(datetime.now(UTC)), -11)
    asyncio.run(load(args.rows, first))
    try:
        results = asyncio.run(_measure(args.runs))
    finally:
        asyncio.run(_drop())
    print(f"\n| read ({args.rows:,} rows, every debit sent) | p50 ms | p99 ms |\n|---|---:|---:|")
    for name, p50, p99 in results:
        print(f"| {name} | {p50:.1f} | {p99:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
