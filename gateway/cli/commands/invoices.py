"""`meterway invoices issue|list|show|send|credit-note|details`: the operator's invoices through
the operator API (the admin key, like `meterway admin`). Amounts print in the invoice's
currency as issued; --json prints the API's own JSON (docs/guides/invoices.md)."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from gateway.cli.client import OK, call, emit, expect, run
from gateway.cli.commands.admin import _command

_ADMIN = "/admin/v1"
DETAILS = (
    "legal_name",
    "country",
    "tax_id",
    "currency",
    "rate",
    "rate_source",
    "group_by",
    "email",
)


def invoice_text(inv: dict[str, Any]) -> str:
    """An invoice as a person reads it: its number, parties, lines and totals."""
    title = "Credit note" if inv["kind"] == "credit_note" else "Invoice"
    out = [f"{title} {inv['number']} for {inv['account_id']}, {inv['month']} (UTC)"]
    if inv["credits"]:
        out.append(f"cancels {inv['credits']}: {inv['reason']}")
    out.append(f"to {inv['customer']['name'] or '(no legal name)'} {inv['customer']['tax_id']}")
    if inv["currency"] != "USD":
        out.append(f"1 USD = {inv['rate']} {inv['currency']} ({inv['rate_source']})")
    for ln in inv["lines"]:
        out.append(f"  {ln['section']:<10} {ln['label']:<40} {ln['amount']:>20}")
    tax = inv["tax"]
    total = inv["total"]
    out.append(f"{tax['name']} {tax['percent']}% {tax['mention']}".rstrip())
    out.append(f"total {total}")
    sent = inv.get("delivery")
    if sent:
        paid = f", paid {sent['paid_at']}" if sent["paid_at"] else ", not paid yet"
        out.append(f"sent {sent['sent_at']} through {sent['provider']}{paid}")
        if sent["url"]:
            out.append(f"the customer's page: {sent['url']}")
    return "\n".join(out)


def _positions(text: str) -> list[int]:
    try:
        return [int(p) for p in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("positions like 1,3") from None


def issue(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"month": args.month}
    for name in ("group_by", "currency", "rate", "rate_source"):
        if getattr(args, name):
            body[name] = getattr(args, name)
    path = f"{_ADMIN}/accounts/{quote(args.account_id)}/invoices"
    inv = expect(call(args, "POST", path, body), 201)
    emit(args, invoice_text(inv), inv)
    return OK


def listing(args: argparse.Namespace) -> int:
    path = (
        f"{_ADMIN}/accounts/{quote(args.account)}/invoices"
        if args.account
        else f"{_ADMIN}/invoices"
    )
    body = expect(call(args, "GET", path), 200)
    rows = [f"{i['number']:<14} {i['kind']:<12} {i['account_id']:<24} {i['month']} {i['total']:>20}"
            for i in body["data"]]  # fmt: skip
    emit(args, "\n".join(rows) or "no invoices", body)
    return OK


def show(args: argparse.Namespace) -> int:
    inv = expect(call(args, "GET", f"{_ADMIN}/invoices/{quote(args.number)}"), 200)
    emit(args, invoice_text(inv), inv)
    return OK


def send(args: argparse.Namespace) -> int:
    inv = expect(call(args, "POST", f"{_ADMIN}/invoices/{quote(args.number)}/send"), 200)
    emit(args, invoice_text(inv), inv)
    return OK


def credit_note(args: argparse.Namespace) -> int:
    path = f"{_ADMIN}/invoices/{quote(args.number)}/credit-note"
    body: dict[str, Any] = {"reason": args.reason}
    if args.lines:
        body["lines"] = args.lines
    inv = expect(call(args, "POST", path, body), 201)
    emit(args, invoice_text(inv), inv)
    return OK


def details(args: argparse.Namespace) -> int:
    path = f"{_ADMIN}/accounts/{quote(args.account_id)}/invoicing"
    body: dict[str, Any] = {}
    for name in DETAILS:
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    if args.address is not None:
        body["address"] = [x.strip() for x in args.address.split(";")]
    answer = expect(call(args, "PUT", path, body) if body else call(args, "GET", path), 200)
    emit(args, "\n".join(f"{k}: {v}" for k, v in answer.items()), answer)
    return OK


def add_parser(sub: Any) -> None:
    top = sub.add_parser("invoices", help="issue and read invoices and credit notes (operator)")
    commands = top.add_subparsers(dest="invoices_command", required=True)
    p = _command(commands, "issue", issue, "issue an account's invoice of a month")
    p.add_argument("account_id")
    p.add_argument("--month", required=True, help="YYYY-MM (UTC)")
    p.add_argument("--group-by", dest="group_by", help="model, team, key or tag:NAME")
    p.add_argument("--currency", help="ISO 4217 code (default: the account's)")
    p.add_argument("--rate", help="units of the currency per 1 USD, e.g. 0.92")
    p.add_argument("--rate-source", dest="rate_source", help="where the rate comes from")
    p = _command(commands, "list", listing, "invoices and credit notes")
    p.add_argument("--account", help="one account's only")
    p = _command(commands, "show", show, "one invoice or credit note")
    p.add_argument("number", help="e.g. INV-000001")
    p = _command(commands, "send", send, "send an invoice (or its credit note) through Stripe")
    p.add_argument("number", help="e.g. INV-000001")
    p = _command(commands, "credit-note", credit_note, "cancel an invoice by a credit note")
    p.add_argument("number")
    p.add_argument("--reason", required=True)
    p.add_argument(
        "--lines",
        type=_positions,
        help="positions of the lines to credit, e.g. 1,3 (default: every line not yet credited)",
    )
    p = _command(commands, "details", details, "show or set an account's invoicing details")
    p.add_argument("account_id")
    for name in DETAILS:
        p.add_argument(f"--{name.replace('_', '-')}", dest=name)
    p.add_argument("--address", help="lines separated by ';'")


def main(args: argparse.Namespace) -> int:
    return run(args.client, args)
