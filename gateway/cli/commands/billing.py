"""`meterway billing status|setup|portal|topup`: an end user's billing from the terminal.

`status` prints balance, plan and quota windows and the account's one next step (decided by
billing.money.next_step, answered by GET /v1/account): when the account is blocked or about to be,
the exact command and the page that fix it, and exits 3.
"""

from __future__ import annotations

import argparse
from typing import Any

from billing.money.display import quota_amount, quota_label, usd
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
    table,
    when,
)
from gateway.cli.commands import alerts as alerts_cmd
from gateway.cli.commands import anomalies as anomalies_cmd
from gateway.cli.commands import byok as byok_cmd
from gateway.cli.commands import statement as statement_cmd

BILLING = "/v1/account/billing"


def _usd(micros: int | None) -> str:
    return "unknown" if micros is None else usd(micros)


def next_step(account: dict[str, Any]) -> dict[str, Any] | None:
    """The account's one next step as GET /v1/account answers it; None when all is well."""
    step = account.get("next")
    if not isinstance(step, dict) or step.get("action") in (None, "none"):
        return None
    return step


def _link(args: argparse.Namespace, url: str) -> str:
    """A page of the gateway as a full address; an operator's own page as it is."""
    return url if "://" in url else args.api_url.rstrip("/") + url


def _window_line(w: dict[str, Any]) -> str:
    """One limit: its level and name (a key's, a team's), its use, its reset, and whether it
    refuses calls now; an end-user budget's use is per end user, so only its limit."""
    level = w.get("level", w.get("scope", "account"))
    named = f"{level.replace('_', ' ')} {w['name']}" if w.get("name") else level
    head = "" if level == "account" else f"{named}: "
    label, limit = quota_label(w["window"], w["metric"]), quota_amount(w["metric"], w["limit"])
    if w["used"] is None:
        return f"quota     {head}{label:<24} {limit} each"
    resets = f"  resets {when(w['resets_at'])}" if w["resets_at"] else ""
    blocks = "  BLOCKS" if w.get("blocks") else ""
    used = quota_amount(w["metric"], w["used"])
    return f"quota     {head}{label:<24} {used} of {limit}{resets}{blocks}"


def _renewal(billing: dict[str, Any] | None) -> str:
    sub = (billing or {}).get("subscription")
    if not sub:
        return ""
    if sub.get("cancels_at"):
        return f", ends {when(sub['cancels_at'])}"
    if sub.get("renews_at"):
        return f", renews {when(sub['renews_at'])}"
    return f", subscription {sub.get('status')}"


def _card_line(billing: dict[str, Any] | None) -> list[str]:
    card = (billing or {}).get("card")
    if not card:
        return []
    expires = f" (expires {card['exp_month']}/{card['exp_year']})" if card.get("exp_year") else ""
    return [f"card      {card['brand']} •••• {card['last4']}{expires}"]


def _status_text(
    args: argparse.Namespace,
    account: dict[str, Any],
    billing: dict[str, Any] | None,
    runway: dict[str, Any] | None = None,
) -> str:
    lines = [
        f"account   {account['id']} ({account['name']})",
        f"plan      {account['plan']} ({account['mode']}){_renewal(billing)}",
        f"balance   {_usd(account['balance_micros'])}  held {_usd(account['held_micros'])}"
        f"  available {_usd(account['available_micros'])}",
    ]
    lines += _card_line(billing)
    if runway is not None and runway.get("prepaid"):
        lines.append(f"runway    {runway['words']}")
    lines += [_window_line(w) for w in account.get("limits") or account.get("windows", [])]
    step = next_step(account)
    if step is None:
        lines.append("next      nothing to do")
        return "\n".join(lines)
    lines.append(f"ACTION    {step['reason']}")
    if step.get("command"):
        lines.append(f"  run     {step['command']}")
    if step.get("url"):
        lines.append(f"  or open {_link(args, step['url'])}")
    return "\n".join(lines)


def status(args: argparse.Namespace) -> int:
    """Exit 3 only when the account is blocked or about to be (billing.money.next_step)."""
    account = expect(call(args, "GET", "/v1/account"), 200)
    answer = call(args, "GET", BILLING)
    billing = answer.body if answer.status == 200 and isinstance(answer.body, dict) else None
    found = call(args, "GET", "/v1/account/runway")
    runway = found.body if found.status == 200 and isinstance(found.body, dict) else None
    step = next_step(account)
    data = {"account": account, "billing": billing, "runway": runway, "next": account.get("next")}
    emit(args, _status_text(args, account, billing, runway), data)
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
    emit(args, f"Pay {usd(micros)} here; credit appears once paid:\n{result['url']}", result)
    return OK


def invoices(args: argparse.Namespace) -> int:
    found = expect(call(args, "GET", BILLING + "/invoices"), 200)["data"]
    rows = [
        (
            when(i["created"], relative=False),
            i["number"] or i["id"],
            usd(i["amount_micros"]),
            i["status"],
            i.get("url") or "",
        )
        for i in found
    ]
    header = ("DATE", "INVOICE", "AMOUNT", "STATUS", "LINK")
    emit(args, table(header, rows, "no invoices"), found)
    return OK


def cancel(args: argparse.Namespace) -> int:
    """The plan stays until the period it was paid for ends."""
    result = expect(call(args, "POST", BILLING + "/subscription/cancel", {}), 200)
    ends = when(result.get("effective_at"), "at the end of the period")
    emit(args, f"Your subscription ends {ends}; then your plan is {result['plan']}.", result)
    return OK


def plan(args: argparse.Namespace) -> int:
    """Change plan: now for an upgrade with a card on file, else a checkout page to pay."""
    answer = call(args, "POST", BILLING + "/subscription", {"plan": args.plan} | _back(args))
    result = expect(answer, 200, 201)
    if result.get("status") == "checkout":
        text = f"Pay for the {result['plan']} plan here:\n{result['url']}"
    elif result.get("status") == "scheduled":
        text = f"You move to {result['plan']} on {when(result.get('effective_at'), 'renewal')}."
    else:
        text = f"Your plan is {result['plan']} ({result['status']})."
    emit(args, text, result)
    return OK


def add_parser(sub: Any) -> None:
    billing = sub.add_parser("billing", help="your account's billing (end users)")
    commands = billing.add_subparsers(dest="billing_command", required=True)
    for name, handler, text in (
        ("status", status, "balance, plan, quota windows and the next step"),
        ("setup", setup, "add a payment method (prints a URL)"),
        ("portal", portal, "open the billing portal (prints a URL)"),
        ("topup", topup, "add credit (prints a payment URL)"),
        ("plan", plan, "change plan (upgrades now; may print a checkout URL)"),
        ("invoices", invoices, "your plan's invoices"),
        ("cancel", cancel, "cancel the subscription at the end of its period"),
        ("statement", statement_cmd.account_statement, "your organization's statement of a month"),
        *alerts_cmd.COMMANDS,
        *anomalies_cmd.COMMANDS,
        *byok_cmd.COMMANDS,
    ):
        p = commands.add_parser(name, help=text, allow_abbrev=False)  # no --token for --token-file
        add_common(p, "token", "METERWAY_TOKEN")
        p.set_defaults(client=handler)
        if name == "topup":
            p.add_argument("--amount", required=True, help="USD, e.g. 10 or 2.50")
        if name == "plan":
            p.add_argument("plan", help="the plan's name, e.g. starter")
        alerts_cmd.add_arguments(name, p)
        anomalies_cmd.add_arguments(name, p)
        byok_cmd.add_arguments(name, p)
        if name == "statement":
            statement_cmd.add_arguments(p)
        if name in ("setup", "portal", "topup", "plan"):  # the commands that print a page
            p.add_argument(
                "--return-url",
                help="where the page sends you back to (default: the dashboard's billing page);"
                " must be on an origin the gateway allows",
            )


def main(args: argparse.Namespace) -> int:
    return run(args.client, args)
