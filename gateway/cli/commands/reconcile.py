"""`meterway reconcile providers --day YYYY-MM-DD [--json]`: the ledger against each
configured provider's own usage and cost reports for one UTC day (docs/guides/
reconciliation.md), the differences kept as the background task keeps them. Plain
`meterway reconcile [--repair]` is the older check of Redis's balances against the ledger
(server.py): one command, two comparisons.

Exit codes: 0 the reports and the ledger agree (to the provider's rounding), 3 differences
to look at, 1 a report could not be read, 2 no admin key is configured or the day is not a
date."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from typing import TYPE_CHECKING

from billing.proof.reconcile import ROUNDING, Difference, as_row

if TYPE_CHECKING:  # the runner's modules load when the command runs, not for `--help`
    from gateway.config.settings import Settings

DONE, ERROR, USAGE, TO_DO = 0, 1, 2, 3


def add_parser(reconcile: argparse.ArgumentParser) -> None:
    """`providers` under `meterway reconcile`, which keeps its own `--repair` check."""
    what = reconcile.add_subparsers(dest="reconcile_command")
    p = what.add_parser(
        "providers", help="compare the ledger with each provider's usage and cost reports"
    )
    p.add_argument("--day", required=True, help="the UTC day, YYYY-MM-DD")
    p.add_argument("--json", action="store_true", help="the differences as JSON")


def _line(d: Difference) -> str:
    s = d.slot
    return (
        f"{s.credential} {s.day} {s.model or '(no model)'} {d.kind}: {d.cls}"
        f" provider {d.provider_tokens}, ledger {d.ledger_tokens};"
        f" delta {d.delta_micros} micros valued by {d.valued_by} ({d.note})"
    )


async def run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        day = date.fromisoformat(args.day)
    except ValueError:
        print(f"meterway: --day must be YYYY-MM-DD, got {args.day!r}", file=sys.stderr)
        return USAGE
    config = settings.reconcile
    if not config.enabled:
        print(
            "meterway: no provider to reconcile: set RECONCILE_OPENAI_ADMIN_KEY or"
            " RECONCILE_ANTHROPIC_ADMIN_KEY",
            file=sys.stderr,
        )
        return USAGE
    import aiohttp

    from billing.proof.provider_reports import ReportError
    from gateway.outbound.provider_reports import ReportUnavailable
    from gateway.stores.connect import open_stores
    from gateway.workers.reconciler import Reconciler

    found: list[Difference] = []
    failed = False
    async with open_stores(settings) as stores, aiohttp.ClientSession() as session:
        reconciler = Reconciler(config, stores.provider_reconciliation())
        for source in config.upstreams:
            try:
                found += await reconciler.run_day(session, source, day)
            except (ReportUnavailable, ReportError) as exc:
                print(f"meterway: {source.credential} {day}: {exc}", file=sys.stderr)
                failed = True
    if args.json:
        print(json.dumps([as_row(d) for d in found], indent=2))
    else:
        for d in found:
            print(_line(d))
        print(f"{len(found)} difference(s) on {day}")
    if failed:
        return ERROR
    return TO_DO if any(d.cls != ROUNDING for d in found) else DONE
