"""`meterway admin audit` (every account's audit log, `--account-id` to filter) and
`meterway audit` (your organization's, for its owner): the records newest first as text,
JSON (--json), or the API's own CSV or JSON lines (--csv, --jsonl: every matching record)."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import urlencode

from billing.proof.audit_words import KINDS
from gateway.cli.client import OK, add_common, call, emit, expect, run, when

_FILTERS = (
    "action", "kind", "actor", "target_kind", "target_id", "since", "until", "before", "limit"
)  # fmt: skip


def record_line(r: dict[str, Any]) -> str:
    """One record for a person: when, the record in words (billing/proof/audit_words.py, as the
    API gives it), then the action, its target and who did it (and how), to grep by."""
    via = f" ({r['actor_via']})" if r.get("actor_via") else ""
    who = f"{r['actor_kind']} {r['actor_id']}{via}"
    said = r.get("sentence") or ""
    return (
        f"{when(r['occurred_at'], relative=False)}  {said}\n"
        f"    {r['action']} {r['target_kind']} {r['target_id']} by {who}"
    )


def _query(args: argparse.Namespace, account_id: str | None) -> str:
    params = {f: str(getattr(args, f)) for f in _FILTERS if getattr(args, f) is not None}
    if account_id:
        params["account_id"] = account_id
    if args.csv or args.jsonl:
        params["format"] = "csv" if args.csv else "jsonl"
    return urlencode(params)


def show(args: argparse.Namespace, path: str, account_id: str | None = None) -> int:
    body = expect(call(args, "GET", f"{path}?{_query(args, account_id)}"), 200)
    if args.csv or args.jsonl:
        emit(args, str(body).rstrip("\n"), body)
        return OK
    lines = [record_line(r) for r in body["data"]]
    if body.get("has_more"):
        lines.append(f"... more: --before {body['next_before']}")
    emit(args, "\n".join(lines) or "no records", body)
    return OK


def admin_audit(args: argparse.Namespace) -> int:
    return show(args, "/admin/v1/audit", args.account_id)


def account_audit(args: argparse.Namespace) -> int:
    return show(args, "/v1/account/audit")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--action", help="only this action, e.g. key.revoke")
    p.add_argument("--kind", choices=sorted(KINDS), help="only this kind of action")
    p.add_argument("--actor", help="only what this person (an e-mail) or actor id did")
    p.add_argument("--target-kind", dest="target_kind", help="only targets of this kind")
    p.add_argument("--target-id", dest="target_id", help="only this target")
    p.add_argument("--since", help="from this time or day (RFC 3339 or YYYY-MM-DD)")
    p.add_argument("--until", help="before this time or day")
    p.add_argument("--limit", type=int, help="records a page (default 50)")
    p.add_argument("--before", type=int, help="the page after this record id")
    form = p.add_mutually_exclusive_group()
    form.add_argument("--csv", action="store_true", help="every matching record as CSV")
    form.add_argument("--jsonl", action="store_true", help="every matching record as JSON lines")


def add_parser(sub: Any) -> None:
    """`meterway audit`: the organization's audit log, with an owner's token."""
    p = sub.add_parser("audit", help="your organization's audit log (owners)")
    add_common(p, "token", "METERWAY_TOKEN")
    add_arguments(p)
    p.set_defaults(client=account_audit)


def main(args: argparse.Namespace) -> int:
    return run(args.client, args)
