"""`meterway payments replay --since T` and `meterway payments reconcile [--since T]`.

Both run against the configured provider (PAYMENTS_PROVIDER) through the payments port.
Replay is safe to run any time: it applies only events never applied, each through the
webhook's path. Reconcile changes nothing and exits 1 when the provider and the ledger differ.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from billing.money.micros import format_usd
from billing.money.plans import load_plans
from gateway.cli.client import when
from gateway.config.settings import Settings
from gateway.payments.factory import make_payments, make_provider
from gateway.services.money.payment.payments import Payments
from gateway.services.money.payment.sync import ALREADY, Difference, reconcile, replay
from gateway.stores.connect import open_stores

RECONCILE_DAYS = 30


def _when(text: str) -> datetime:
    """An ISO 8601 time; one without a zone is UTC."""
    try:
        found = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def add_parser(sub: Any) -> None:
    payments = sub.add_parser("payments", help="replay provider events, reconcile payments")
    commands = payments.add_subparsers(dest="payments_command", required=True)
    r = commands.add_parser("replay", help="apply the provider's events that were missed")
    r.add_argument("--since", type=_when, required=True, help="e.g. 2026-11-01T00:00:00Z")
    c = commands.add_parser("reconcile", help="compare the provider's payments with the ledger")
    c.add_argument("--since", type=_when, default=None, help=f"default: {RECONCILE_DAYS} days ago")


@asynccontextmanager
async def _payments(settings: Settings) -> AsyncIterator[Payments]:
    async with open_stores(settings) as stores:
        plans = load_plans(settings.plans_path)
        provider = make_provider(settings, stores, plans)
        try:
            yield make_payments(settings, provider, stores, plans)
        finally:
            await provider.close()


async def run(settings: Settings, args: argparse.Namespace) -> int:
    async with _payments(settings) as payments:
        if args.payments_command == "replay":
            return await _replay(payments, args.since)
        since = args.since or datetime.now(UTC) - timedelta(days=RECONCILE_DAYS)
        return _report(await reconcile(payments, since), payments.provider.name, since)


async def _replay(payments: Payments, since: datetime) -> int:
    done = await replay(payments, since)
    for r in done:
        e = r.event
        print(f"{when(e.created, relative=False)}  {e.id} {e.type} {e.object_id}: {r.outcome}")
    already = sum(r.outcome == ALREADY for r in done)
    failed = sum(r.failed for r in done)
    ignored = sum(r.ignored for r in done)
    applied = len(done) - already - failed - ignored
    print(
        f"{len(done)} event(s) from {payments.provider.name} since {when(since, relative=False)}: "
        f"{applied} applied now, {ignored} ignored, {already} already applied, {failed} failed"
    )
    return 1 if failed else 0


def _usd(micros: int | None) -> str:
    if micros is None:
        return "-"
    return f"-${format_usd(-micros)}" if micros < 0 else f"${format_usd(micros)}"


def _report(found: list[Difference], provider: str, since: datetime) -> int:
    for d in found:
        print(
            f"{d.problem}: {d.what} {d.id} account {d.account_id}"
            f" provider {_usd(d.provider_micros)} ledger {_usd(d.ledger_micros)}"
        )
    verdict = f"{len(found)} difference(s)" if found else "the ledger matches"
    print(f"{verdict}: {provider} payments and refunds since {when(since, relative=False)}")
    return 1 if found else 0
