"""`meterway billing status|setup|portal|topup`: an end user's billing from the terminal.

`status` prints balance, plan and quota windows and the one next step; when billing is
missing or a quota is used up it prints the exact command or URL that fixes it and exits 3.
"""

from __future__ import annotations

import argparse
from typing import Any

from billing.money import format_usd
from gateway.cli.client import (
    ACTION_NEEDED,
    OK,
    Answer,
    CliError,
    add_common,
    amount_micros,
    call,
    emit,
    expect,
    run,
)

BILLING = "/v1/account/billing"


def _usd(micros: int | None) -> str:
    return "unknown" if micros is None else f"${format_usd(micros)}"


def _provider_step(billing: dict[str, Any] | None) -> dict[str, Any] | None:
    step = billing.get("next") if billing else None
    if not isinstance(step, dict) or step.get("action") in (None, "none"):
        return None
    return step


def next_step(account: dict[str, Any], billing: dict[str, Any] | None) -> dict[str, Any] | None:
    """The one thing to do now, with the exact command or URL; None when all is well."""
    offered = _provider_step(billing)
    url = offered.get("url") if offered else None
    if account["mode"] == "postpaid" and not account["billing_ready"]:
        return {"why": "billing is not set up", "command": "meterway billing setup", "url": url}
    available = account.get("available_micros")
    if account["mode"] == "prepaid" and available is not None and available <= 0:
        return {
            "why": f"the balance is used up (available {_usd(available)})",
            "command": "meterway billing topup --amount 10",
            "url": url,
        }
    for w in account.get("windows", []):
        if w["used"] >= w["limit"]:
            resets = w["resets_at"] or "never (a lifetime quota)"
            return {
                "why": f"the {w['window']} {w['metric']} quota is used up "
                f"({w['used']}/{w['limit']}; resets {resets})",
                "command": "meterway billing portal",
                "url": url,
            }
    if offered:
        return {"why": str(offered.get("reason") or offered.get("action") or "see URL"), "url": url}
    return None


def _status_text(account: dict[str, Any], step: dict[str, Any] | None) -> str:
    lines = [
        f"account   {account['id']} ({account['name']})",
        f"plan      {account['plan']} ({account['mode']})",
        f"balance   {_usd(account['balance_micros'])}  held {_usd(account['held_micros'])}"
        f"  available {_usd(account['available_micros'])}",
    ]
    for w in account.get("windows", []):
        resets = f"  resets {w['resets_at']}" if w["resets_at"] else ""
        lines.append(
            f"quota     {w['window']:<6} {w['metric']:<13} {w['used']}/{w['limit']}{resets}"
        )
    if step is None:
        lines.append("next      nothing to do")
    else:
        lines.append(f"ACTION    {step['why']}")
        if step.get("command"):
            lines.append(f"  run     {step['command']}")
        if step.get("url"):
            lines.append(f"  or open {step['url']}")
    return "\n".join(lines)


def status(args: argparse.Namespace) -> int:
    account = expect(call(args, "GET", "/v1/account"), 200)
    answer = call(args, "GET", BILLING)
    billing = answer.body if answer.status == 200 and isinstance(answer.body, dict) else None
    step = next_step(account, billing)
    emit(args, _status_text(account, step), {"account": account, "billing": billing, "next": step})
    return ACTION_NEEDED if step else OK


def _billing_post(args: argparse.Namespace, path: str, body: Any = None) -> dict[str, Any]:
    answer: Answer = call(args, "POST", BILLING + path, body if body is not None else {})
    if answer.status == 404:
        raise CliError(f"this gateway offers no {BILLING}{path}; ask its operator how to pay")
    result = expect(answer, 200, 201)
    if not isinstance(result, dict) or "url" not in result:
        raise CliError(f"unexpected answer from {BILLING}{path}: {result}")
    return result


def _back(args: argparse.Namespace) -> dict[str, Any]:
    """--return-url, where the payment page sends the person back (the gateway checks it)."""
    return {"return_url": args.return_url} if args.return_url else {}


def setup(args: argparse.Namespace) -> int:
    result = _billing_post(args, "/setup", _back(args))
    emit(args, f"Open this page to add a payment method:\n{result['url']}", result)
    return OK


def portal(args: argparse.Namespace) -> int:
    result = _billing_post(args, "/portal", _back(args))
    emit(args, f"Your billing portal:\n{result['url']}", result)
    return OK


def topup(args: argparse.Namespace) -> int:
    micros = amount_micros(args.amount)
    result = _billing_post(args, "/topups", {"amount_micros": micros} | _back(args))
    emit(
        args, f"Pay ${format_usd(micros)} here; credit appears once paid:\n{result['url']}", result
    )
    return OK


def add_parser(sub: Any) -> None:
    billing = sub.add_parser("billing", help="your account's billing (end users)")
    commands = billing.add_subparsers(dest="billing_command", required=True)
    for name, handler, text in (
        ("status", status, "balance, plan, quota windows and the next step"),
        ("setup", setup, "add a payment method (prints a URL)"),
        ("portal", portal, "open the billing portal (prints a URL)"),
        ("topup", topup, "add credit (prints a payment URL)"),
    ):
        p = commands.add_parser(name, help=text, allow_abbrev=False)  # no --token for --token-file
        add_common(p, "token", "METERWAY_TOKEN")
        p.set_defaults(client=handler)
        if name == "topup":
            p.add_argument("--amount", required=True, help="USD, e.g. 10 or 2.50")
        if name != "status":
            p.add_argument(
                "--return-url",
                help="where the page sends you back to (default: the dashboard's billing page);"
                " must be on an origin the gateway allows",
            )


def main(args: argparse.Namespace) -> int:
    return run(args.client, args)
