"""`meterway prices show MODEL | check | diff | explain REQUEST_ID`: the prices the gateway
would bill by, read from config/pricing.toml (MW_CONFIG_DIR) over the installed catalogue;
`diff` compares them with what a running gateway bills now (its operator API), before an
upgrade is served; `explain` re-derives one debit from its ledger row and the rate card the
ledger kept for it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from billing.plans import PlanError, load_plans
from billing.pricing import PricingError, PricingTable, load_pricing
from billing.pricing.explain import diff, explain_row, show
from gateway.cli.client import ACTION_NEEDED, ERROR, OK, CliError, add_common, call, expect
from gateway.config.settings import PROVIDERS, Settings
from gateway.stores.connect import open_stores


def add_parser(sub: Any) -> None:
    prices = sub.add_parser("prices", help="the prices billed: a model's rates, a full check")
    ops = prices.add_subparsers(dest="prices_command", required=True)
    s = ops.add_parser("show", help="every rate, tier and fee of a model, and their source")
    s.add_argument("model", help="a model name as clients send it")
    ops.add_parser("check", help="load every price; fail if a served model has none")
    d = ops.add_parser("diff", help="what this install would bill differently from a gateway")
    add_common(d, "admin-key", "METERWAY_ADMIN_KEY")
    e = ops.add_parser("explain", help="the arithmetic of one debit, from the ledger")
    e.add_argument("request_id")


OFFLINE = frozenset({"show", "check", "diff"})


def _table(config: Path) -> PricingTable:
    return load_pricing(config / "pricing.toml", frozenset(PROVIDERS))


def _show(config: Path, name: str) -> int:
    price = _table(config).lookup(name)
    if price is None:
        print(f"meterway: no model {name!r} is served", file=sys.stderr)
        return 1
    print("\n".join(show(price)))
    return 0


def _check(config: Path) -> int:
    """The table loaded (else main refused it); each served model is priced now, and every
    model a plan names is served."""
    table = _table(config)
    unpriced = [m.name for m in table.served() if not m.is_priced()]
    for name in unpriced:
        print(f"meterway: {name} has no price", file=sys.stderr)
    named = {m for plan in load_plans(config / "plans.toml").plans.values() for m in plan.models}
    for name in sorted(n for n in named if table.lookup(n) is None):
        print(f"warning: a plan names {name!r}, which is not served")
    served = table.served()
    cards = table.rate_cards()
    print(f"catalogue: {table.catalogue_version or 'not served'}")
    own = len(table.models)
    print(f"{len(served)} models served ({own} from pricing.toml), {len(cards)} rate cards")
    return 1 if unpriced else 0


def _diff(config: Path, args: argparse.Namespace) -> int:
    """Exit 0 when nothing would change, 3 (action needed) when a price would."""
    try:
        served = expect(call(args, "GET", "/admin/v1/prices"), 200)
    except CliError as exc:
        print(f"meterway: {exc}", file=sys.stderr)
        return ERROR
    table = _table(config)
    lines = diff(served["models"], table.current())
    print(f"served: {served['catalogue'] or 'no catalogue'}; installed: {table.catalogue_version}")
    print("\n".join(lines) if lines else "no price would change")
    return ACTION_NEEDED if lines else OK


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """`explain`: the ledger's row and card for the request, through the stores."""
    async with open_stores(settings) as stores:
        versions = stores.price_versions()
        row = await versions.request_entry(args.request_id)
        if row is None or row["kind"] != "debit":
            print(f"meterway: no debit for request {args.request_id!r}", file=sys.stderr)
            return ERROR
        card = await versions.card(row["price_version"]) if row["price_version"] else None
    if card is None:
        print(
            f"meterway: the debit names no known rate card ({row['price_version']})",
            file=sys.stderr,
        )
        return ERROR
    print("\n".join(explain_row(row, card["card"])))
    return OK


def offline(args: argparse.Namespace, config: Path) -> int:
    """The subcommands that read only the config directory and the catalogue."""
    try:
        if args.prices_command == "show":
            return _show(config, args.model)
        if args.prices_command == "diff":
            return _diff(config, args)
        return _check(config)
    except (PricingError, PlanError) as exc:
        print(f"meterway: configuration error: {exc}", file=sys.stderr)
        return 2
