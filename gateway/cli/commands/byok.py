"""Own provider keys from the terminal (docs/guides/byok.md): `meterway billing byok |
byok-set | byok-remove` for the account's own people (a user token), `meterway admin byok
| byok-fee` for the operator. A key is read from standard input (or a prompt that does not
echo it), never from the command line, where the shell's history and `ps` would keep it."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any
from urllib.parse import quote

from gateway.cli.client import OK, call, emit, expect, table

ACCOUNT = "/v1/account/byok"
ADMIN = "/admin/v1/byok"


def _fee(fee: dict[str, Any]) -> str:
    return f"{fee['percent_bps'] / 100:g}% of the list price + {fee['fixed_micros']} micros a call"


def _keys(args: argparse.Namespace, path: str, with_account: bool) -> int:
    body = expect(call(args, "GET", path), 200)
    rows = [
        ((k.get("account_id", ""),) if with_account else ())
        + (k["upstream"], k["hint"], (k["updated_at"] or "")[:16], k["failing_since"] or "")
        for k in body["data"]
    ]
    header = (("ACCOUNT",) if with_account else ()) + ("UPSTREAM", "KEY", "STORED", "FAILING SINCE")
    emit(args, table(header, rows, "no own keys") + "\nfee: " + _fee(body["fee"]), body)
    return OK


def _read_key() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("the provider key (not echoed): ").strip()
    return sys.stdin.readline().strip()


def own_keys(args: argparse.Namespace) -> int:
    return _keys(args, ACCOUNT, False)


def own_set(args: argparse.Namespace) -> int:
    path = f"{ACCOUNT}/{quote(args.upstream, safe='')}"
    body = expect(call(args, "PUT", path, {"api_key": _read_key()}), 200)
    emit(args, f"{body['upstream']}: your own key {body['hint']} is used from now on", body)
    return OK


def own_remove(args: argparse.Namespace) -> int:
    body = expect(call(args, "DELETE", f"{ACCOUNT}/{quote(args.upstream, safe='')}"), 200)
    emit(args, f"{body['upstream']}: your own key was removed; the gateway's is used", body)
    return OK


def admin_keys(args: argparse.Namespace) -> int:
    query = f"?upstream={quote(args.upstream)}" if args.upstream else ""
    return _keys(args, ADMIN + query, True)


def admin_fee(args: argparse.Namespace) -> int:
    fee = {"percent_bps": args.percent_bps, "fixed_micros": args.fixed_micros}
    body = expect(call(args, "PUT", f"{ADMIN}/fee", fee), 200)
    emit(args, "fee: " + _fee(body), body)
    return OK


COMMANDS = (
    ("byok", own_keys, "your own provider keys (hints only) and the platform fee"),
    ("byok-set", own_set, "store or replace your own key for an upstream (read from stdin)"),
    ("byok-remove", own_remove, "remove your own key for an upstream"),
)


def add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    if name in ("byok-set", "byok-remove"):
        p.add_argument("upstream", help="the provider's name, e.g. openai")


def add_commands(commands: Any, command: Any) -> None:
    """Under `meterway admin`, made by its `_command` (the admin key, common flags)."""
    p = command(commands, "byok", admin_keys, "which accounts hold their own provider key")
    p.add_argument("--upstream", help="only this upstream's")
    p = command(commands, "byok-fee", admin_fee, "set the platform fee of own-key calls")
    p.add_argument("--percent-bps", type=int, required=True, help="basis points of list price")
    p.add_argument("--fixed-micros", type=int, default=0, help="a fixed fee per call, micros")
