"""`meterway prices propose|preview|pending|show-change|approve|reject`: price changes reviewed
before they bill, through a running gateway's operator API (docs/concepts/prices.md).

A change is written as pricing.toml's `[models."NAME"]` tables in a file of its own: the
rates a served model takes from the effective time, or a new model's route and rates.
"""

from __future__ import annotations

import argparse
import re
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from billing.money.micros import format_usd
from gateway.cli.client import ACTION_NEEDED, OK, UsageError, add_common, call, emit, expect, table

COMMANDS = frozenset(
    {"propose", "preview", "pending", "show-change", "approve", "reject", "unpriced", "books"}
)
_AHEAD = re.compile(r"\+(\d+)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def add_parsers(ops: Any) -> None:
    for name, what in (
        ("propose", "propose a price change: pending until approved"),
        ("preview", "what a price change would move, per account, without proposing it"),
    ):
        p = ops.add_parser(name, help=what)
        p.add_argument(
            "file",
            type=Path,
            help='TOML: [models."NAME"] tables of rates, or [books.NAME] and [assign.accounts]',
        )
        p.add_argument(
            "--effective-at", required=True, help="RFC 3339 time, or +30m, +2h, +7d from now"
        )
        if name == "propose":
            p.add_argument("--note", default="", help="why, for the reviewer and the audit log")
        add_common(p, "admin-key", "METERWAY_ADMIN_KEY")
    p = ops.add_parser("unpriced", help="models refused for want of a price, and their demand")
    add_common(p, "admin-key", "METERWAY_ADMIN_KEY")
    p = ops.add_parser("books", help="price books: every version, its rules, its accounts")
    add_common(p, "admin-key", "METERWAY_ADMIN_KEY")
    p = ops.add_parser("pending", help="price changes awaiting approval (--all: every one)")
    p.add_argument("--all", action="store_true")
    add_common(p, "admin-key", "METERWAY_ADMIN_KEY")
    for name, what in (
        ("show-change", "one price change: its diff and preview"),
        ("approve", "approve a pending price change"),
        ("reject", "reject a pending price change"),
    ):
        p = ops.add_parser(name, help=what)
        p.add_argument("change_id", type=int)
        if name == "approve":
            p.add_argument("--confirm", help="the largest move its preview shows, e.g. 12.5%%")
        add_common(p, "admin-key", "METERWAY_ADMIN_KEY")


def effective_at(text: str, now: datetime | None = None) -> str:
    """An RFC 3339 time with its offset, or `+N[smhd]` from now."""
    ahead = _AHEAD.fullmatch(text.strip())
    if ahead:
        seconds = int(ahead[1]) * _UNIT_S[ahead[2]]
        return ((now or datetime.now(UTC)) + timedelta(seconds=seconds)).isoformat()
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise UsageError(f"--effective-at: an RFC 3339 time with its offset, or +2h: {text!r}")
    return when.isoformat()


def _document(path: Path) -> dict[str, Any]:
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc
    books: dict[str, Any] = {k: doc[k] for k in ("books", "assign") if k in doc}
    return books or {"models": doc.get("models", doc)}


def books_text(shelf: dict[str, Any]) -> str:
    """Every book version with its rules, then every assignment (`GET /admin/v1/prices/books`)."""
    lines = []
    for b in shelf["data"]:
        default = "list" if b["adjust_bps"] is None else f"{b['adjust_bps']:+d} bps"
        parent = f", inherits {b['parent']}" if b["parent"] else ""
        lines.append(
            f"{b['name']}@{b['version']} {b['status']} from {b['effective_at']}"
            f" until {b['until'] or 'open'}{parent}; the rest at {default}"
        )
        for r in b["rules"]:
            scope = r.get("model") or f"family {r['family']}"
            value = r.get("rate_micros_per_unit")
            said = f"{r['adjust_bps']:+d} bps" if value is None else f"{value} micro-USD per unit"
            lines.append(f"  {scope} {r.get('dimension') or 'every dimension'}: {said}")
    rows = [
        (a["kind"], a["id"], a["book"] or "none", a["effective_at"]) for a in shelf["assignments"]
    ]
    lines.append(table(("kind", "id", "book", "from"), rows, "no assignment"))
    return "\n".join(lines) if shelf["data"] else "no price book\n" + lines[-1]


def describe(change: dict[str, Any]) -> str:
    """A change as a reviewer reads it: its state, the moved rates, each account's spend."""
    head = []
    if "id" in change:
        head.append(
            f"price change {change['id']}: {change['status']}, effective {change['effective_at']}"
            f", proposed by {change['proposed_by']}"
        )
        if change.get("note"):
            head.append(f"  note: {change['note']}")
        if change.get("decided_by"):
            head.append(f"  {change['status']} by {change['decided_by']}")
    diff = change["diff"] or ["no rate changes"]
    if "books" in change or "assign" in change:
        head.append("  a price book change")
    preview = change["preview"]
    rows = [
        (a["account_id"], str(a["calls"]), format_usd(a["before_micros"]),
         format_usd(a["after_micros"]), a["change_percent"])
        for a in preview["accounts"]
    ]  # fmt: skip
    total = preview["total"]
    lines = [
        *head,
        *diff,
        f"the last {preview['days']} days of usage re-priced:",
        table(("account", "calls", "before", "after", "change"), rows, "  (no usage to re-price)"),
        f"total {format_usd(total['before_micros'])} -> {format_usd(total['after_micros'])};"
        f" largest move of an account's spend {change['largest_move_percent']}",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    command = args.prices_command
    if command in ("propose", "preview"):
        body = {**_document(args.file), "effective_at": effective_at(args.effective_at)}
        if command == "preview":
            answer = expect(call(args, "POST", "/admin/v1/prices/preview", body), 200)
        else:
            body["note"] = args.note
            answer = expect(call(args, "POST", "/admin/v1/prices/changes", body), 201)
        emit(args, describe(answer), answer)
        return OK
    if command == "unpriced":
        found = expect(call(args, "GET", "/admin/v1/prices/unpriced"), 200)["data"]
        rows = [(m["model"], str(m["calls"]), str(m["accounts"]), m["last_seen"]) for m in found]
        text = table(("model", "calls", "accounts", "last refused"), rows, "no model was refused")
        if found:
            text += "\nprice one: meterway prices propose FILE --effective-at +1d, FILE holding"
            text += ' [models."NAME"] with provider, max_output_tokens, input and output'
        emit(args, text, found)
        return OK
    if command == "books":
        shelf = expect(call(args, "GET", "/admin/v1/prices/books"), 200)
        emit(args, books_text(shelf), shelf)
        return OK
    if command == "pending":
        path = "/admin/v1/prices/changes" + ("" if args.all else "?status=pending")
        found = expect(call(args, "GET", path), 200)["data"]
        text = "\n\n".join(describe(c) for c in found) or "no price change is pending"
        emit(args, text, found)
        return ACTION_NEEDED if found and not args.all else OK
    path = f"/admin/v1/prices/changes/{args.change_id}"
    if command == "show-change":
        answer = expect(call(args, "GET", path), 200)
    else:
        body = {"confirm": args.confirm} if command == "approve" and args.confirm else {}
        answer = expect(call(args, "POST", f"{path}/{command}", body), 200)
    emit(args, describe(answer), answer)
    return OK
