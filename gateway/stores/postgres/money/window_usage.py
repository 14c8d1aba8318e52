"""What the quota windows count, read from the ledger: live debits for any window, and what
retention archived (ledger_archived_usage, migration 022) for a `total` window.

One home for the per-metric sums of debit rows (reserve.lua's metric codes), used both by
the rebuild's read of the live ledger and by retention when it records a month it detaches,
so a window counts a row the same before and after its month leaves.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from billing.money.windows import SLIDING_MS, granule_ms

# metric code -> (ledger_archived_usage column, what one debit row adds)
METRICS = {
    "r": ("requests", "(meter IS NULL)::int"),  # LLM calls; a meter's debit is no request
    "i": ("input_tokens", "input_tokens + cached_input_tokens + cache_write_tokens"),
    "o": ("output_tokens", "output_tokens"),
    "s": ("spend_micros", "-amount_micros"),  # every debit, metered ones included
}
_SUMS = ", ".join(f"sum({row})::bigint AS {code}" for code, (_, row) in METRICS.items())
_ARCHIVED = ", ".join(f"sum({col})::bigint AS {code}" for code, (col, _) in METRICS.items())
SCOPE_COLUMN = {"a": "account_id", "k": "key_id"}
RECORD_ARCHIVED = f"""
INSERT INTO ledger_archived_usage (archive_table, month, account_id, key_id, meter,
    {", ".join(col for col, _ in METRICS.values())}, quantity, debits)
SELECT $2, $1, account_id, key_id, meter, {", ".join(f"sum({r})" for _, r in METRICS.values())},
    coalesce(sum(quantity), 0), count(*)
FROM {{table}} WHERE kind = 'debit' GROUP BY account_id, key_id, meter
"""

Usage = dict[tuple[str, int], dict[str, int]]  # (id, bucket) -> metric code -> amount


def _add(usage: Usage, rows: list[asyncpg.Record]) -> None:
    """Add each row's sums; `t` (tokens) is input plus output, as reserve.lua counts it."""
    for r in rows:
        into = usage.setdefault((r["id"], int(r["b"])), {})
        amounts = {code: int(r[code] or 0) for code in METRICS}
        amounts["t"] = amounts["i"] + amounts["o"]
        for code, amount in amounts.items():
            into[code] = into.get(code, 0) + amount


def _add_meters(usage: Usage, rows: list[asyncpg.Record]) -> None:
    for r in rows:  # a meter's quota code is "m.<name>" (billing.money.quotas.metric_code)
        into = usage.setdefault((r["id"], int(r["b"])), {})
        into["m." + r["meter"]] = into.get("m." + r["meter"], 0) + int(r["q"] or 0)


async def _read(
    pool: asyncpg.Pool, usage: Usage, scope: str, rows: str, sums: str, *args: object
) -> None:
    """Per-metric and per-meter sums per account or key (`scope` 'a' or 'k') and bucket `b`,
    added to `usage`. `rows`: the columns `b` and the FROM and WHERE to read."""
    column = SCOPE_COLUMN[scope]
    head, rows = f"SELECT {column} AS id", f"{rows} AND {column} IS NOT NULL"
    _add(usage, await pool.fetch(f"{head}, {sums}, {rows} GROUP BY {column}, b", *args))
    _add_meters(usage, await pool.fetch(
        f"{head}, meter, sum(quantity)::bigint AS q, {rows} AND meter IS NOT NULL"
        f" GROUP BY {column}, b, meter",
        *args,
    ))  # fmt: skip


async def _live(
    pool: asyncpg.Pool, scope: str, window: str, start: int | None, usage: Usage
) -> None:
    """Debits of the live ledger since `start` (UTC ms; None: all) per account or key
    (`scope` 'a' or 'k') and bucket: a granule index for a sliding window, else 0."""
    bucket = "0"
    if window in SLIDING_MS:
        bucket = f"floor(extract(epoch FROM occurred_at) * 1000 / {granule_ms(window)})::bigint"
    since = None if start is None else datetime.fromtimestamp(start / 1000, UTC)
    rows = (
        f"{bucket} AS b FROM ledger_entries"
        " WHERE kind = 'debit' AND ($1::timestamptz IS NULL OR occurred_at >= $1)"
    )
    await _read(pool, usage, scope, rows, _SUMS, since)


async def _archived(pool: asyncpg.Pool, scope: str, usage: Usage) -> None:
    """What retention archived, per account or key, into bucket 0 (each archived debit was
    summed once, in the transaction that detached its month)."""
    await _read(pool, usage, scope, "0 AS b FROM ledger_archived_usage WHERE true", _ARCHIVED)


async def window_usage(pool: asyncpg.Pool, scope: str, window: str, start: int | None) -> Usage:
    """Everything a window starting at `start` (UTC ms; None for `total`) counts, per
    account or key (`scope` 'a' or 'k') and bucket. Only a window with no start reaches
    archived months: retention refuses the current and the last month, and every other
    window starts in one of them (tests/unit/test_retention_windows.py)."""
    usage: Usage = {}
    await _live(pool, scope, window, start, usage)
    if start is None:
        await _archived(pool, scope, usage)
    return usage
