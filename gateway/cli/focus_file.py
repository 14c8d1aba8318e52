"""`meterway export focus`: a month of the ledger in FOCUS 1.2, written to a file or to
standard output (CSV), straight from the ledger (DATABASE_URL)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from billing.contracts.statements import InvalidMonth, month_of, parse_month
from billing.usage.focus import Issuer
from gateway.config.settings import Settings
from gateway.services.usage.focus.export import FORMATS, csv_text, focus_pages, parquet_bytes
from gateway.services.usage.focus.parquet import ParquetUnavailable
from gateway.stores.connect import open_stores
from gateway.stores.errors import ArchiveGone

__all__ = ["FORMATS", "focus_file"]


async def focus_file(settings: Settings, args: argparse.Namespace) -> int:
    """Write the month's rows; 2 for a bad month or a Parquet file with nowhere to go."""
    now = datetime.now(UTC)
    try:
        month = parse_month(args.month, now) if args.month else month_of(now)
    except InvalidMonth as exc:
        print(f"meterway: {exc}", file=sys.stderr)
        return 2
    if args.format == "parquet" and not args.output:
        print("meterway: a Parquet export needs --output FILE", file=sys.stderr)
        return 2
    async with open_stores(settings) as stores:
        pages = focus_pages(stores.focus(), args.account, month, Issuer())
        try:
            if args.format == "parquet":
                data = await parquet_bytes(pages)
                await asyncio.to_thread(Path(args.output).write_bytes, data)
                return 0
            if not args.output:
                sys.stdout.write(csv_text([], header=True))
                async for page in pages:
                    sys.stdout.write(csv_text(page, header=False))
                return 0
            chunks = [csv_text([], header=True)]
            chunks += [csv_text(page, header=False) async for page in pages]
            await asyncio.to_thread(Path(args.output).write_text, "".join(chunks))
        except (ParquetUnavailable, ArchiveGone) as exc:
            print(f"meterway: {_why(exc)}", file=sys.stderr)
            return 2
    return 0


def _why(exc: Exception) -> str:
    if isinstance(exc, ArchiveGone):
        return f"the month's archive table {exc.table} was dropped: its entries cannot be listed"
    return str(exc)
