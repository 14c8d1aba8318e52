"""`meterway admin statement ACCOUNT --month YYYY-MM` and `meterway billing statement --month
YYYY-MM`: a month's statement from the operator API or the account API, as text, JSON
(--json) or the API's own CSV (--csv). Amounts are exact (no rounding), so the lines
visibly add up to the closing balance."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from billing.money.display import usd_line
from gateway.cli.client import OK, call, emit, expect

_TITLES = (
    ("credits", "top-ups and grants"),
    ("expiries", "expired or revoked grants"),
    ("refunds", "refunds"),
    ("adjustments", "adjustments"),
    ("other", "other"),
)
_VIEWS = (("by_model", "by model"), ("by_team", "by team"), ("by_kind", "by kind"))


def _row(label: str, amount: int, entries: int | None = None, indent: int = 0) -> str:
    count = "" if entries is None else f"{entries:>7} " + ("entry" if entries == 1 else "entries")
    return f"{' ' * indent}{label:<{40 - indent}}{count:>16} {usd_line(amount):>18}"


def statement_text(s: dict[str, Any]) -> str:
    """The statement as a person reads it: each section's total, then its lines."""
    state = "final" if s["final"] else "so far (the month is not over)"
    out = [f"Statement of {s['account_id']} for {s['month']} (UTC), {state}", ""]
    out.append(_row("opening balance", s["opening_balance_micros"]))
    usage = s["usage"]
    out.append(
        _row(f"usage ({usage['requests']} requests)", usage["total_micros"], usage["entries"])
    )
    for view, title in _VIEWS:
        out.append(f"  {title}")
        out += [_row(x["label"], x["amount_micros"], x["entries"], 4) for x in usage[view]]
    for name, title in _TITLES:
        section = s[name]
        if section["lines"]:
            out.append(_row(title, section["total_micros"], section["entries"]))
            out += [_row(x["label"], x["amount_micros"], x["entries"], 2) for x in section["lines"]]
    out.append(_row("closing balance", s["closing_balance_micros"]))
    if s["missing_archives"]:
        out.append(f"not itemized: archive tables dropped ({', '.join(s['missing_archives'])})")
    return "\n".join(out)


def show(args: argparse.Namespace, path: str) -> int:
    path = f"{path}/{quote(args.month)}" + ("?format=csv" if args.csv else "")
    body = expect(call(args, "GET", path), 200)
    emit(args, str(body).rstrip("\n") if args.csv else statement_text(body), body)
    return OK


def admin_statement(args: argparse.Namespace) -> int:
    return show(args, f"/admin/v1/accounts/{quote(args.account_id)}/statements")


def account_statement(args: argparse.Namespace) -> int:
    return show(args, "/v1/account/statements")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--month", required=True, help="the month, YYYY-MM (UTC)")
    p.add_argument("--csv", action="store_true", help="the statement as CSV")
