"""`meterway billing alerts|alert-add|alert-remove`: a person's own alerts (balance below,
spend above) to their e-mail address or webhook, over /v1/account/alerts."""

from __future__ import annotations

import argparse
from typing import Any

from billing.money.display import usd
from gateway.cli.client import OK, CliError, amount_micros, call, emit, expect, table

ALERTS = "/v1/account/alerts"


def _what(a: dict[str, Any]) -> str:
    if a["kind"] == "balance_below":
        return f"balance below {usd(a['amount_micros'])}"
    return f"spend above {usd(a['amount_micros'])} a {a['period']}"


def _line(a: dict[str, Any]) -> str:
    return f"{a['id']}  {_what(a)}  to {_to(a)}"


def _to(a: dict[str, Any]) -> str:
    return ", ".join(t for t in (a.get("email"), a.get("webhook_url")) if t)


def list_alerts(args: argparse.Namespace) -> int:
    found = expect(call(args, "GET", ALERTS), 200)["data"]
    rows = [(a["id"], _what(a), _to(a)) for a in found]
    emit(args, table(("ALERT", "WHEN", "TO"), rows, "no alerts"), found)
    return OK


def add_alert(args: argparse.Namespace) -> int:
    if (args.balance_below is None) == (args.spend_above is None):
        raise CliError("give one of --balance-below or --spend-above")
    if not (args.email or args.webhook):
        raise CliError("give --email or --webhook (or both): where the alert goes")
    body: dict[str, Any] = {"email": args.email, "webhook_url": args.webhook}
    if args.balance_below is not None:
        body |= {"kind": "balance_below", "amount_micros": amount_micros(args.balance_below)}
    else:
        body |= {"kind": "spend_above", "amount_micros": amount_micros(args.spend_above)}
        body["period"] = args.period
    made = expect(call(args, "POST", ALERTS, {k: v for k, v in body.items() if v}), 201)
    text = f"added {_line(made)}"
    if made.get("webhook_secret"):
        text += f"\nwebhook signing secret (shown once): {made['webhook_secret']}"
    emit(args, text, made)
    return OK


def remove_alert(args: argparse.Namespace) -> int:
    expect(call(args, "DELETE", f"{ALERTS}/{args.alert_id}"), 200)
    emit(args, f"removed {args.alert_id}", {"id": args.alert_id, "deleted": True})
    return OK


COMMANDS = (
    ("alerts", list_alerts, "your alerts"),
    ("alert-add", add_alert, "alert me when the balance is low or spend is high"),
    ("alert-remove", remove_alert, "remove an alert"),
)


def add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    if name == "alert-add":
        p.add_argument("--balance-below", metavar="USD", help="when available falls under")
        p.add_argument("--spend-above", metavar="USD", help="when spend reaches")
        p.add_argument("--period", choices=("day", "month"), default="month")
        p.add_argument("--email", help="send it to this address")
        p.add_argument("--webhook", help="POST it to this URL (signed)")
    if name == "alert-remove":
        p.add_argument("alert_id")
