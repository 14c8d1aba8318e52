"""`meterway admin signups | approve | reject`: the operator decides on the accounts people
opened themselves under SIGNUP_POLICY=approval (the person is e-mailed the decision).
`meterway admin farms | revoke-trials`: the suspected farms, and taking back their trials."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from gateway.cli.client import OK, call, emit, expect, table, when

A = "/admin/v1/signups"


def signups(args: argparse.Namespace) -> int:
    query = f"?status={quote(args.status)}" if args.status else ""
    body = expect(call(args, "GET", A + query), 200)
    rows = [
        (s["account_id"], s["status"], s["via"], when(s["created_at"]), s["email"])
        for s in body["data"]
    ]
    header = ("ACCOUNT", "STATUS", "VIA", "SIGNED UP", "E-MAIL")
    emit(args, table(header, rows, "no sign-ups"), body)
    return OK


def _decide(args: argparse.Namespace, verb: str) -> int:
    body = expect(call(args, "POST", f"{A}/{quote(args.account_id)}/{verb}"), 200)
    emit(args, f"{body['account_id']} ({body['email']}): {body['status']}", body)
    return OK


def approve(args: argparse.Namespace) -> int:
    return _decide(args, "approve")


def reject(args: argparse.Namespace) -> int:
    return _decide(args, "reject")


def farms(args: argparse.Namespace) -> int:
    body = expect(call(args, "GET", A + "/farms"), 200)
    blocks = []
    for n, farm in enumerate(body["data"], 1):
        shared = "; ".join(f"{k} {', '.join(v)}" for k, v in farm["shared"].items())
        rows = [
            (a["account_id"], a["trial"], a["refused_by"] or "-", a["email"])
            for a in farm["accounts"]
        ]
        header = ("ACCOUNT", "TRIAL", "REFUSED BY", "E-MAIL")
        blocks.append(
            f"farm {n}: {len(rows)} accounts sharing {shared}\n" + table(header, rows, "")
        )
    emit(args, "\n\n".join(blocks) or "no suspected farm", body)
    return OK


def revoke_trials(args: argparse.Namespace) -> int:
    body = {"account_ids": args.account_ids}
    done = expect(call(args, "POST", A + "/revoke-trials", body), 200)
    taken = [d["account_id"] for d in done["data"] if d["revoked_grants"]]
    emit(args, f"trial credit taken back from {len(taken)} account(s): {' '.join(taken)}", done)
    return OK


def add_commands(commands: Any, command: Any) -> None:
    """Under `meterway admin`, made by its `_command` (the admin key, common flags)."""
    p = command(commands, "signups", signups, "sign-ups (pending ones wait for a decision)")
    p.add_argument("--status", choices=("pending", "active", "rejected"))
    for name, handler, text in (
        ("approve", approve, "approve a pending sign-up: keys served, trial given"),
        ("reject", reject, "reject a pending sign-up: keys stay refused"),
    ):
        p = command(commands, name, handler, text)
        p.add_argument("account_id")
    command(
        commands, "farms", farms, "suspected farms: sign-ups sharing a card, network or mailbox"
    )
    p = command(commands, "revoke-trials", revoke_trials, "take back these sign-ups' trial credit")
    p.add_argument("account_ids", nargs="+", metavar="account_id")
