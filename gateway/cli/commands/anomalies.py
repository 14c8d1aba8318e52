"""Spend anomalies from the terminal: `meterway billing anomalies | key-resume |
anomaly-pause` for the account's own people (a user token), `meterway admin anomalies |
key-resume | anomaly-pause` for the operator (docs/guides/anomalies.md)."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from gateway.cli.client import OK, call, emit, expect, table

ACCOUNT = "/v1/account"
ADMIN = "/admin/v1"


def _flags(args: argparse.Namespace, path: str) -> int:
    body = expect(call(args, "GET", path), 200)
    rows = [
        (str(a["id"]), a["detected_at"][:16], f"{a['scope']} {a['scope_id']}", a["rule"],
         "paused" if a["paused"] else "", a["summary"])
        for a in body["data"]
    ]  # fmt: skip
    header = ("FLAG", "DETECTED", "SCOPE", "RULE", "KEY", "WHAT")
    emit(args, table(header, rows, "no spend anomalies"), body)
    return OK


def _resume(args: argparse.Namespace, base: str) -> int:
    body = expect(call(args, "POST", f"{base}/keys/{quote(args.key_id)}/resume", {}), 200)
    text = "the pause was lifted" if body["resumed"] else "the key was not paused"
    emit(args, f"{body['id']}: {text}", body)
    return OK


def _choice(args: argparse.Namespace) -> dict[str, Any]:
    pause = {"on": True, "off": False, "account": None}[args.choice]
    return {"pause": pause, **({"key_id": args.key} if args.key else {})}


def _chosen(args: argparse.Namespace, body: dict[str, Any]) -> int:
    keys = ", ".join(f"{k} {'on' if v else 'off'}" for k, v in body["keys"].items())
    emit(args, f"pause on a flag: {'on' if body['pause'] else 'off'}; keys: {keys or '-'}", body)
    return OK


def own_flags(args: argparse.Namespace) -> int:
    return _flags(args, ACCOUNT + "/anomalies")


def own_resume(args: argparse.Namespace) -> int:
    return _resume(args, ACCOUNT)


def own_pause(args: argparse.Namespace) -> int:
    return _chosen(args, expect(call(args, "PUT", ACCOUNT + "/anomaly-pause", _choice(args)), 200))


def admin_flags(args: argparse.Namespace) -> int:
    query = f"?account_id={quote(args.account_id)}" if args.account_id else ""
    return _flags(args, f"{ADMIN}/anomalies{query}")


def admin_resume(args: argparse.Namespace) -> int:
    return _resume(args, ADMIN)


def admin_pause(args: argparse.Namespace) -> int:
    path = f"{ADMIN}/accounts/{quote(args.account)}/anomaly-pause"
    return _chosen(args, expect(call(args, "PUT", path, _choice(args)), 200))


COMMANDS = (
    ("anomalies", own_flags, "your spend anomalies, newest first"),
    ("key-resume", own_resume, "lift a key's pause after a spend anomaly"),
    ("anomaly-pause", own_pause, "pause keys automatically on a spend anomaly: on or off"),
)


def add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    if name == "key-resume":
        p.add_argument("key_id")
    if name == "anomaly-pause":
        p.add_argument(
            "choice",
            choices=("on", "off", "account"),
            help="on/off; `account` (with --key): follow the account's choice",
        )
        p.add_argument("--key", help="this key's own choice, over the account's")  # fmt: skip


def add_commands(commands: Any, command: Any) -> None:
    """Under `meterway admin`, made by its `_command` (the admin key, common flags)."""
    p = command(commands, "anomalies", admin_flags, "spend anomalies, newest first")
    p.add_argument("--account-id", help="only this account's")
    p = command(commands, "key-resume", admin_resume, "lift a key's pause after a spend anomaly")
    p.add_argument("key_id")
    p = command(commands, "anomaly-pause", admin_pause, "pause an account's keys on a flag")
    p.add_argument("account")
    add_arguments("anomaly-pause", p)
