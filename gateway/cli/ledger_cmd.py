"""`meterway ledger partitions --ahead N` and `meterway ledger retention --before YYYY-MM
[--yes]`: the ledger's monthly partitions, created ahead and (by an operator only) archived."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from typing import Any

from gateway.config.settings import Settings
from gateway.ops.ledger_months import (
    KEEP_AHEAD,
    MonthError,
    ensure_ahead,
    parse_month,
    retain,
    retention_plan,
)
from gateway.stores.connect import Stores, open_stores
from gateway.stores.postgres import partitions


def add_parser(sub: Any) -> None:
    led = sub.add_parser("ledger", help="the ledger's monthly partitions and their retention")
    ops = led.add_subparsers(dest="ledger_command", required=True)
    p = ops.add_parser("partitions", help="create this month's partition and N more ahead")
    p.add_argument("--ahead", type=int, default=KEEP_AHEAD, help="months after the current one")
    r = ops.add_parser(
        "retention", help="detach whole months before YYYY-MM into archive tables (dry run)"
    )
    r.add_argument("--before", required=True, help="first month kept live, YYYY-MM")
    r.add_argument("--yes", action="store_true", help="detach; without it, only show what would")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    try:
        async with open_stores(settings) as stores:
            if args.ledger_command == "partitions":
                return await _partitions(stores, now, args.ahead)
            return await _retention(stores, now, parse_month(args.before), args.yes)
    except MonthError as exc:
        print(f"meterway: {exc}", file=sys.stderr)
        return 2


async def _partitions(stores: Stores, now: datetime, ahead: int) -> int:
    for added in await ensure_ahead(stores, now, ahead):
        name = partitions.partition_name(added.month)
        if not added.created:
            print(f"{name}: exists")
        else:
            print(f"{name}: created, {added.moved} row(s) moved in from DEFAULT")
    left = await stores.partitions().default_months()
    for month, n in left.items():
        print(f"DEFAULT partition holds {n} row(s) of {month:%Y-%m} (no partition for that month)")
    return 0


async def _retention(stores: Stores, now: datetime, before: date, yes: bool) -> int:
    # Confirmed, each month is summed once, inside the transaction that detaches it.
    done = await (retain if yes else retention_plan)(stores, before, now)
    if not done:
        print(f"no month before {before:%Y-%m} is attached: nothing to detach")
        return 0
    verb = "detached" if yes else "would detach"
    for m in done:
        print(
            f"{verb} {m.table}{' -> ' + m.archive if m.archive else ''}: {m.entries} entries,"
            f" {m.accounts} account(s), sum {m.amount_micros} micros"
        )
    if not yes:
        print("dry run: nothing changed; add --yes to detach (rows are kept, never deleted)")
    return 0
