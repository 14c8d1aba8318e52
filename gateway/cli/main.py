"""The `meterway` command: serve, dev, migrate, settler, rebuild, reconcile, payments, ledger,
prices, and the HTTP clients `billing` (end users) and `admin` (operators). Exit codes, one
rule for every command: 0 done, 1 a failure, 2 a usage error (or a value the gateway called
invalid), 3 done with something to do. Times are printed in UTC as people read them, "26 Nov
2026 14:05 UTC", with how far off they are when within a month ("in 3 days", "2 h ago");
`--json` keeps the API's RFC 3339."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, TypeAlias

from gateway.build import build
from gateway.cli.client import ERROR

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _version() -> str:
    """The installed distribution's version (a source tree without metadata says so) and
    which build runs: `meterway 0.1.0 (compiled build)`."""
    try:
        number = metadata.version("meterway")
    except metadata.PackageNotFoundError:
        number = "(not installed)"
    return f"{number} ({build()} build)"


def _print_version(args: argparse.Namespace) -> int:
    print(f"meterway {_version()}")
    return 0


# The HTTP clients: command word -> the module whose `main` runs it.
CLIENTS: dict[str, str] = {
    "billing": "billing",
    "admin": "admin",
    "signup": "auth",
    "verify": "auth",
    "login": "auth",
    "logout": "auth",
    "auth": "auth",
    "audit": "audit",
    "receipt": "receipt",
    "invoices": "invoices",
}
# The other commands whose parser a module of their own adds (`add_parser`).
OTHERS: dict[str, str] = {
    "export": "export",
    "analytics": "analytics",
    "payments": "payments",
    "ledger": "ledger",
    "prices": "prices",
}
SERVER = ("serve", "dev", "migrate", "settler", "rebuild", "sync-plans", "reconcile")


def _module(name: str) -> Any:
    return importlib.import_module(f"gateway.cli.commands.{name}")


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every command's parser, or only `command`'s when argv names a known one: a command
    imports its own modules, never every other's (`meterway ledger verify` starts in a
    fraction of the time)."""
    parser = argparse.ArgumentParser(prog="meterway", description=__doc__)
    parser.add_argument("--version", action="version", version=f"meterway {_version()}")
    parser.add_argument("--config", type=Path, help="optional TOML settings file")
    sub = parser.add_subparsers(dest="command", required=True)
    every = command not in ("version", *SERVER, *CLIENTS, *OTHERS)
    if every or command == "version":
        sub.add_parser("version", help="the version, and which build runs (pure or compiled)")
    if every or command in SERVER:
        _server_parsers(sub)
    wanted = {**CLIENTS, **OTHERS}
    modules = dict.fromkeys(wanted.values()) if every else [wanted.get(str(command))]
    for name in modules:
        if name is not None:
            _module(name).add_parser(sub)
    return parser


def _server_parsers(sub: Subparsers) -> None:
    from gateway.cli.commands import reconcile as reconcile_cmd
    from gateway.cli.commands import settler as settler_cmd

    s = sub.add_parser("serve", help="run the gateway")
    s.add_argument("--migrate", action="store_true", help="apply pending migrations first")
    s.add_argument(
        "--embedded",
        action="store_true",
        help="run PostgreSQL and Redis embedded where no URL is set (a single machine only)",
    )
    dev = sub.add_parser(
        "dev",
        help="demo mode: local demo upstream, demo account and key",
        description="Demo mode on 127.0.0.1:8080: a local demo upstream, a demo account and "
        "key. Move it with --port/--host or LISTEN_ADDR=HOST:PORT; Ctrl-C stops it.",
    )
    dev.add_argument("--port", type=int, help="port to listen on (default 8080; LISTEN_ADDR)")
    dev.add_argument("--host", help="address to listen on (default 127.0.0.1; LISTEN_ADDR)")
    dev.add_argument(
        "--reset", action="store_true", help="start the embedded PostgreSQL and Redis clean"
    )
    m = sub.add_parser("migrate", help="apply SQL migrations")
    m.add_argument("--create-database", action="store_true")
    settler_cmd.add_parser(sub)
    rb = sub.add_parser("rebuild", help="restore Redis from the ledger and mark it consistent")
    rb.add_argument(
        "--force",
        action="store_true",
        help="on a live Redis: keep open holds, correct balances by fenced deltas",
    )
    sub.add_parser(
        "sync-plans",
        help="re-apply config/plans.toml to every account, live (markups: the approved ones)",
    )
    r = sub.add_parser(
        "reconcile",
        help="compare Redis balances with the ledger; `providers`: the ledger with the"
        " providers' own reports",
    )
    r.add_argument("--repair", action="store_true")
    reconcile_cmd.add_parser(r)


def _command_word(argv: list[str]) -> str | None:
    """The subcommand argv names: its first word that is neither an option nor --config's
    value."""
    words = iter(argv)
    for word in words:
        if word == "--config":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def main(argv: list[str] | None = None) -> int:
    """The `meterway` command. Safe in a pipe: a reader that stops early (`| head`) ends
    it quietly with exit code 1 (its output was not all read), never a traceback."""
    words = sys.argv[1:] if argv is None else argv
    args = _parser(_command_word(words)).parse_args(words)
    try:
        code = _main(args)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush finds no pipe
        return ERROR
    if args.command == "dev":
        # Everything `dev` opened is closed by now; the interpreter's teardown would only
        # free memory (the tokenizers' vocabularies), seconds on a busy machine, so Ctrl-C
        # would not stop it within 2 s. Leave without it.
        sys.stderr.flush()
        os._exit(code)
    return code


def _main(args: argparse.Namespace) -> int:
    if args.command == "version":
        return _print_version(args)
    if args.command in CLIENTS:  # talk to a gateway over HTTP: no server settings needed
        code: int = _module(CLIENTS[args.command]).main(args)
        return code
    # Lazily: the server's modules load only for its commands; a client command starts in a
    # tenth of the time.
    from gateway.cli.server import run

    return run(args)
