"""`meterway analytics backfill|verify`: the copy of the ledger to ClickHouse by hand.

backfill copies now, in the foreground, everything the copy has not (the whole ledger on a
new ClickHouse, archived months included); verify compares, per account and UTC day, the
entries and micros of the ledger with ClickHouse's rows and with its hourly rollup, and
exits 1 naming each difference.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the runner's modules load when the command runs, not for its parser
    from gateway.config.settings import Settings


def add_parser(sub: Any) -> None:
    a = sub.add_parser("analytics", help="copy the ledger to ClickHouse now, or verify the copy")
    a.add_argument("action", choices=("backfill", "verify"))


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.background import open_analytics
    from gateway.stores.connect import open_stores
    from gateway.workers.analytics_copy import differences

    if not settings.analytics.enabled:
        print("meterway: set CLICKHOUSE_URL", file=sys.stderr)
        return 2
    async with open_stores(settings) as stores, open_analytics(settings, stores) as (copier, _, _):
        if args.action == "backfill":
            total = 0
            while sent := await copier.round(wait=True):
                total += sent
            print(f"analytics: {total} ledger entries copied, through id {copier.copied_through}")
            return 0
        await copier.round(wait=True)
        found = await differences(copier.ledger, copier.store, copier.copied_through)
    for line in found:
        print(line)
    print(f"analytics: {len(found)} difference(s) through id {copier.copied_through}")
    return 1 if found else 0
