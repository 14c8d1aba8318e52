"""The server-side commands (serve, dev, migrate, settler, rebuild, reconcile, sync-plans,
export, analytics, payments, ledger, prices): their settings loaded and checked, then the
command. main.py imports this only for them, so the HTTP client commands (billing, admin,
audit, auth) start without the server's modules."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvloop

from billing.money.plans import PlanError, load_plans
from billing.pricing import PricingError, load_pricing
from gateway.cli.client import ERROR
from gateway.cli.dev_guard import DEFAULT_DATABASE_URL, DEV_ADMIN_KEY, admitted, refusal
from gateway.config import values as config_values
from gateway.config.providers import pricing_terms
from gateway.config.settings import PROVIDERS, Settings, config_dir, load_settings
from gateway.config.values import ConfigError
from gateway.stores.connect import open_stores
from gateway.stores.errors import ArchiveSchemaMismatch
from gateway.stores.postgres.migrate import ensure_database

if TYPE_CHECKING:
    from gateway.ops.rebuild import Drift

# The modules a command runs with are imported when it runs (`_run_of`, and inside the
# commands below): `meterway ledger verify` loads the ledger's code, not the whole server
# (gateway.runtime and the app), a second saved on every start.


async def _migrated(settings: Settings) -> list[str] | None:
    """The migrations applied, or None (said on stderr) when the runner refused the schema:
    an archive table whose columns differ from the ledger's."""
    try:
        async with open_stores(settings) as stores:
            return await stores.operator().migrate()
    except ArchiveSchemaMismatch as exc:
        print(f"meterway: migrate refused: {exc}", file=sys.stderr)
        return None


async def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    if args.create_database:
        await ensure_database(settings.database_url)
    applied = await _migrated(settings)
    if applied is None:
        return 2
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


async def _migrate_before_serving(settings: Settings) -> bool:
    """`serve --migrate` / MIGRATE=1: pending migrations first (an advisory lock makes
    gateways starting together apply each once); False if the schema was refused."""
    applied = await _migrated(settings)
    if applied:
        logging.getLogger("meterway").info("migrations applied: %s", ", ".join(applied))
    return applied is not None


async def _rebuild(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.ops.rebuild import RebuildRefused, approved_plan_markups
    from gateway.ops.self_restore import rebuild_command

    async with open_stores(settings) as stores:
        try:
            plans = load_plans(settings.plans_path)
            if settings.price_review.at_start == "review":
                await approved_plan_markups(stores, plans)
            result = await rebuild_command(stores, plans, settings, args.force)
        except RebuildRefused as exc:
            print(f"meterway: rebuild refused: {exc}", file=sys.stderr)
            return 1
    print(json.dumps(result))
    return 0


async def _sync_plans(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.ops.rebuild import approved_plan_markups, sync_plans

    async with open_stores(settings) as stores:
        plans = load_plans(settings.plans_path)
        if settings.price_review.at_start == "review":
            for line in await approved_plan_markups(stores, plans):
                print(line, file=sys.stderr)
        count = await sync_plans(stores, plans)
    print(f"plans re-applied to {count} account(s)")
    return 0


async def _reconcile(settings: Settings, args: argparse.Namespace) -> int:
    if getattr(args, "reconcile_command", None) == "providers":
        from gateway.cli.commands import reconcile as reconcile_cmd

        return await reconcile_cmd.run(settings, args)
    from gateway.ops.rebuild import reconcile
    from gateway.ops.reconcile import parked

    async with open_stores(settings) as stores:
        drifts = await reconcile(stores, repair=args.repair)
        dead = await parked(stores)
    for d in drifts:
        print(_drift_line(d, args.repair))
    print(f"{len(drifts)} account(s) drifted")
    if dead.count:
        print(
            f"{dead.count} settlement(s) parked in the dead-letter streams, the ledger lacks "
            f"them: {sum(dead.owed.values())} micros owed by {len(dead.owed)} account(s)"
            + (f", {dead.unreadable} unreadable" if dead.unreadable else "")
            + "; see `meterway settler dead-letters`"
        )
    return 1 if drifts or dead.count else 0


def _drift_line(d: Drift, repair: bool) -> str:
    line = (
        f"drift {d.account_id}: ledger {d.ledger_micros} - queued {d.queued_micros} "
        f"!= redis {d.redis_micros}"
    )
    if d.unapplied_credits:
        line += f" ({d.unapplied_credits} ledger credit(s) never applied to Redis)"
    if d.redis_micros is None:
        return line + " (missing from Redis: run `meterway rebuild`)"
    if not d.checked:
        return line + " (kept moving: not checked exactly, not repaired; run again)"
    return line + (" (repaired)" if d.repaired else "")


async def _dev(settings: Settings, args: argparse.Namespace) -> int:
    # devtools (the demo provider) is imported only here, so production commands never load it.
    from gateway.devtools.dev import PortTaken, run_dev

    try:
        await run_dev(settings, getattr(args, "stores_line", ""))
    except PortTaken:
        where = f"{settings.listen_host}:{settings.listen_port}"
        print(
            f"meterway: port {settings.listen_port} is taken ({where} is in use). Choose"
            f" another: meterway dev --port {settings.listen_port + 1} (or --host), or set"
            " LISTEN_ADDR=HOST:PORT.",
            file=sys.stderr,
        )
        return ERROR
    return 0


Command = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]


def _run_of(module: str) -> Command:
    """The `run` of gateway.cli.commands.`module`, imported when the command runs."""

    async def run(settings: Settings, args: argparse.Namespace) -> int:
        command: Command = importlib.import_module(f"gateway.cli.commands.{module}").run
        return await command(settings, args)

    return run


COMMANDS: dict[str, Command] = {
    "migrate": _migrate,
    "settler": _run_of("settler"),
    "rebuild": _rebuild,
    "reconcile": _reconcile,
    "dev": _dev,
    "sync-plans": _sync_plans,
    "export": _run_of("export"),
    "analytics": _run_of("analytics"),
    "payments": _run_of("payments"),
    "ledger": _run_of("ledger"),
    "prices": _run_of("prices"),
}


# The commands that price calls: they check pricing.toml first, with the providers the
# settings name (an upstream of its own is one --config's `[providers.NAME]` adds). The
# others (migrate, ledger, settler, payments...) never read it, so they need no --config.
PRICED = frozenset({"serve", "dev"})


def dev_env(
    env: dict[str, str], host: str | None = None, port: int | None = None
) -> dict[str, str]:
    """`dev`'s settings: its defaults (naming the development-only components it runs
    itself), the environment over them, --host/--port over both."""
    defaults = {
        "ADMIN_API_KEY": DEV_ADMIN_KEY,
        "DATABASE_URL": DEFAULT_DATABASE_URL,
        "LISTEN_ADDR": "127.0.0.1:8080",
        "PAYMENTS_PROVIDER": "local",
    }
    merged = {**defaults, **env}
    if host is not None or port is not None:
        was_host, _, was_port = merged["LISTEN_ADDR"].rpartition(":")
        merged["LISTEN_ADDR"] = f"{host or was_host}:{port if port is not None else was_port}"
    return merged


def _serve_refusal(settings: Settings, env: dict[str, str], config: Path | None) -> str | None:
    """A development-only component `serve` was not told to run, as one line (else None);
    the admitted ones are logged as warnings."""
    gw = config_values.read_toml(config).get("gateway", {})

    def explicit(name: str) -> str | None:
        raw = env.get(name, gw.get(name.lower()) if isinstance(gw, dict) else None)
        return None if raw is None else str(raw)

    line = refusal(settings, explicit)
    if line is None:
        for running in admitted(settings):
            logging.getLogger("meterway").warning("development-only: %s", running)
    return line


def run(args: argparse.Namespace) -> int:
    """A server command: `prices show/check` need no settings; the others load them (and,
    for `dev` and `serve --embedded`, start the embedded servers first)."""
    if args.command == "prices":
        from gateway.cli.commands import prices as prices_cmd

        if args.prices_command in prices_cmd.OFFLINE:
            offline: int = prices_cmd.offline(args, config_dir(os.environ))
            return offline
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    env = dict(os.environ)
    if args.command == "dev" or (args.command == "serve" and args.embedded):
        # Lazily: only these two may load devtools (the embedded servers' room).
        from gateway.devtools.embedded.command import with_embedded

        return with_embedded(args, env, configured)
    return configured(args, env)


def configured(args: argparse.Namespace, env: dict[str, str]) -> int:
    """The command, once its settings load: `env` already names any embedded server."""
    if args.command == "dev":
        env = dev_env(env, args.host, args.port)
    try:
        settings = load_settings(env, args.config)
        load_plans(settings.plans_path)
        if args.command in PRICED:
            load_pricing(settings.pricing_path, PROVIDERS, *pricing_terms(settings.providers))
    except (ConfigError, PlanError, PricingError) as exc:
        print(f"meterway: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(settings, env, args)
    return uvloop.run(COMMANDS[args.command](settings, args))


def _serve(settings: Settings, env: dict[str, str], args: argparse.Namespace) -> int:
    if refused := _serve_refusal(settings, env, args.config):
        print(f"meterway: configuration error: {refused}", file=sys.stderr)
        return 2
    if (args.migrate or settings.migrate_on_start) and not uvloop.run(
        _migrate_before_serving(settings)
    ):
        return 2
    from gateway.runtime import serve_workers

    serve_workers(settings)
    return 0
