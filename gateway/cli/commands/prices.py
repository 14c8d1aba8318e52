"""`meterway prices show MODEL | check | diff | explain REQUEST_ID`: the prices the gateway
would bill by, read from config/pricing.toml (MW_CONFIG_DIR) over the installed catalogue;
`diff` compares them with what a running gateway bills now (its operator API), before an
upgrade is served; `explain` re-derives one debit from its ledger row and the rate card the
ledger kept for it. `propose`, `preview`, `pending`, `show-change`, `approve` and `reject`
review price changes before they bill (price_review.py)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from billing.money.plans import PlanError, load_plans
from billing.pricing import PricingError, PricingTable, load_pricing
from billing.pricing.book_explain import book_tags, explain_book
from billing.pricing.books import read_book_change
from billing.pricing.explain import diff, explain_row, show
from billing.pricing.from_cards import from_install, to_toml
from billing.pricing.shelf import Chain
from gateway.cli.client import ACTION_NEEDED, ERROR, OK, CliError, add_common, call, expect
from gateway.cli.client import run as run_client
from gateway.cli.commands import price_review as price_review_cmd
from gateway.config.providers import pricing_terms, read_providers
from gateway.config.settings import PROVIDERS, Settings
from gateway.config.values import ConfigError, read_toml
from gateway.stores.connect import open_stores


def add_parser(sub: Any) -> None:
    prices = sub.add_parser("prices", help="the prices billed: a model's rates, a full check")
    ops = prices.add_subparsers(dest="prices_command", required=True)
    s = ops.add_parser("show", help="every rate, tier and fee of a model, and their source")
    s.add_argument("model", help="a model name as clients send it")
    ops.add_parser("check", help="load every price; fail if a served model has none")
    d = ops.add_parser("diff", help="what this install would bill differently from a gateway")
    d.add_argument(
        "--write",
        type=Path,
        metavar="FILE",
        help="write the moved prices as a price change for `prices propose FILE`",
    )
    add_common(d, "admin-key", "METERWAY_ADMIN_KEY")
    e = ops.add_parser("explain", help="the arithmetic of one debit, from the ledger")
    e.add_argument("request_id")
    price_review_cmd.add_parsers(ops)


# What needs no server settings: the config directory, the catalogue, or the operator API.
OFFLINE = frozenset({"show", "check", "diff"}) | price_review_cmd.COMMANDS


def _table(config: Path, settings_file: Path | None = None) -> PricingTable:
    """pricing.toml, its providers the built-in ones and those `settings_file` (--config)
    adds with `[providers.NAME]` tables."""
    tables = read_toml(settings_file).get("providers", {})
    providers = read_providers(os.environ, tables if isinstance(tables, dict) else {})
    return load_pricing(config / "pricing.toml", PROVIDERS, *pricing_terms(providers))


def _show(config: Path, args: argparse.Namespace) -> int:
    name = args.model
    price = _table(config, args.config).lookup(name)
    if price is None:
        print(f"meterway: no model {name!r} is served", file=sys.stderr)
        return 1
    print("\n".join(show(price)))
    return 0


def _check(config: Path, args: argparse.Namespace) -> int:
    """The table loaded (else main refused it); each served model is priced now, and every
    model a plan names is served."""
    table = _table(config, args.config)
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
    table = _table(config, args.config)
    lines = diff(served["models"], table.current())
    print(f"served: {served['catalogue'] or 'no catalogue'}; installed: {table.catalogue_version}")
    print("\n".join(lines) if lines else "no price would change")
    if args.write is not None:
        change, left = from_install(served["models"], table.current())
        args.write.write_text(to_toml(change))
        print(f"wrote {len(change['models'])} models' prices to {args.write}: review, then propose")
        for line in left:
            print(f"not written: {line}")
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
        chain = await _chain(stores.price_changes(), row)
    if card is None:
        print(
            f"meterway: the debit names no known rate card ({row['price_version']})",
            file=sys.stderr,
        )
        return ERROR
    lines = explain_row(row, card["card"])
    if chain:
        lines += explain_book(row, card["card"], chain)
    print("\n".join(lines))
    return OK


async def _chain(changes: Any, row: Any) -> Chain:
    """The price books that priced the debit, each as its price change defined it."""
    books = []
    for name, version in book_tags(row):
        change = await changes.get(version)
        if change is None:
            continue
        at = int(change["effective_at"].timestamp() * 1000)
        read = read_book_change(change["document"], version, at)
        books += [b for b in read.books if b.name == name]
    return tuple(books)


def offline(args: argparse.Namespace, config: Path) -> int:
    """The subcommands that read only the config directory and the catalogue."""
    if args.prices_command in price_review_cmd.COMMANDS:
        return run_client(price_review_cmd.run, args)
    try:
        if args.prices_command == "show":
            return _show(config, args)
        if args.prices_command == "diff":
            return _diff(config, args)
        return _check(config, args)
    except (PricingError, PlanError, ConfigError) as exc:
        print(f"meterway: configuration error: {exc}", file=sys.stderr)
        return 2
