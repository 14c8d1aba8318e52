"""Commitments from the terminal (docs/guides/commitments.md): `meterway admin commitment |
commitment-set | commitment-end ACCOUNT` for the operator."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from billing.contracts.commitments import BILLINGS, PERIODS, POLICIES
from gateway.cli.client import OK, call, emit, expect

TERMS = (
    ("period", str),
    ("amount_micros", int),
    ("billing", str),
    ("discount_bps", int),
    ("on_exhausted", str),
    ("overage_bps", int),
    ("rollover_bps", int),
    ("rollover_cap_micros", int),
    ("rollover_periods", int),
)


def _path(args: argparse.Namespace) -> str:
    return f"/admin/v1/accounts/{quote(args.account_id, safe='')}/commitment"


def _said(body: dict[str, Any]) -> str:
    if not body["active"]:
        return f"{body['account_id']}: no commitment"
    lines = [f"{body['account_id']}: {body['amount_micros']} micros a {body['period']}"
             f" ({body['billing']}), {body['discount_bps'] / 100:g}% off, then"
             f" {body['on_exhausted']}"]  # fmt: skip
    period = body["current_period"]
    if period:
        lines.append(
            f"this period {period['starts_at'][:10]} .. {period['ends_at'][:10]}: drew"
            f" {period['drawn_micros']} of {period['allowance_micros']} micros"
        )
    if body["ends_at"]:
        lines.append(f"ends {body['ends_at'][:10]}")
    return "\n".join(lines)


def show(args: argparse.Namespace) -> int:
    body = expect(call(args, "GET", _path(args)), 200)
    emit(args, _said(body), body)
    return OK


def put(args: argparse.Namespace) -> int:
    terms = {name: getattr(args, name) for name, _ in TERMS if getattr(args, name) is not None}
    body = expect(call(args, "PUT", _path(args), terms), 200)
    emit(args, _said(body), body)
    return OK


def end(args: argparse.Namespace) -> int:
    body = expect(call(args, "DELETE", _path(args)), 200)
    emit(args, _said(body), body)
    return OK


def add_commands(commands: Any, command: Any) -> None:
    """Under `meterway admin`, made by its `_command` (the admin key, common flags)."""
    p = command(commands, "commitment", show, "an account's commitment and its period")
    p.add_argument("account_id")
    p = command(commands, "commitment-set", put, "commit an account to a spend per period")
    p.add_argument("account_id")
    choices = {"period": PERIODS, "billing": BILLINGS, "on_exhausted": POLICIES}
    for name, kind in TERMS:
        flag = "--" + name.replace("_", "-")
        required = name in ("period", "amount_micros")
        p.add_argument(flag, type=kind, choices=choices.get(name), required=required)
    p = command(commands, "commitment-end", end, "end an account's commitment with its period")
    p.add_argument("account_id")
