"""`meterway export stripe-meters|lago [--dry-run] [--batch N]`: send settled usage now;
`meterway export focus [--month YYYY-MM] [--account ID] [--format csv|parquet] [-o FILE]`:
write a month of the ledger in FOCUS 1.2 (every account's without --account)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import aiohttp

from gateway.cli.focus_file import FORMATS, focus_file
from gateway.config.settings import Settings
from gateway.outbound.egress import egress_session
from gateway.outbound.exports import LagoSink, StripeMeterSink, UsageSink
from gateway.stores.connect import open_stores
from gateway.workers.exporter import BATCH, dry_run, export_all, print_payloads

TARGETS = {"stripe-meters": "stripe", "lago": "lago", "focus": "focus"}


def add_parser(sub: Any) -> None:
    e = sub.add_parser(
        "export", help="send settled usage to Stripe meter events or Lago, or write FOCUS"
    )
    e.add_argument("target", choices=sorted(TARGETS))
    e.add_argument("--dry-run", action="store_true", help="print what would be sent, send nothing")
    e.add_argument("--batch", type=int, default=BATCH, help="rows per round")
    e.add_argument("--month", help="focus: the month, YYYY-MM (UTC); this month by default")
    e.add_argument("--account", help="focus: one account's rows (every account's without it)")
    e.add_argument("--format", choices=FORMATS, default="csv", help="focus: csv or parquet")
    e.add_argument("-o", "--output", help="focus: the file to write (standard output: csv only)")


def make_sink(settings: Settings, target: str, session: aiohttp.ClientSession) -> UsageSink | None:
    """The configured sink, or None with the missing settings named on stderr."""
    o = settings.outbound
    if target == "stripe":
        if not o.stripe_export:
            print("meterway: set STRIPE_METER_EVENT_NAME and STRIPE_API_KEY", file=sys.stderr)
            return None
        return StripeMeterSink(
            session, o.stripe_api_key, o.stripe_meter_event_name, o.stripe_api_base
        )
    if not o.lago_export:
        print("meterway: set LAGO_API_URL and LAGO_API_KEY", file=sys.stderr)
        return None
    return LagoSink(session, o.lago_api_url, o.lago_api_key, o.lago_metric_code)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    target = TARGETS[args.target]
    if target == "focus":
        return await focus_file(settings, args)
    egress = egress_session(settings.outbound.egress)
    async with open_stores(settings) as stores, egress as session:
        ledger = stores.exports()
        if args.dry_run:
            o = settings.outbound
            name = o.stripe_meter_event_name or "meterway_usage"
            payloads = await dry_run(
                ledger, target, name if target == "stripe" else o.lago_metric_code, args.batch
            )
            print_payloads(payloads)
            print(f"{len(payloads)} event(s) would be sent", file=sys.stderr)
            return 0
        sink = make_sink(settings, target, session)
        if sink is None:
            return 2
        report = await export_all(ledger, sink, args.batch)
    print(report.line(args.target))
    return 1 if report.failed else 0
