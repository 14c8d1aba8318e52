"""`meterway admin`: the operator API from the terminal (accounts, keys, credit and grants,
end-user budgets, teams, plans, markups, usage, monthly statements; opening accounts, keys
and members are in console.py).

Kept whole: one command tree mirroring the operator API, one short function per command.

Same conventions as `meterway billing`; the admin key comes from ~/.config/meterway/admin-key
or $METERWAY_ADMIN_KEY, never from the command line.
"""

from __future__ import annotations

import argparse
import secrets
from typing import Any, get_args
from urllib.parse import quote, urlencode

from billing.money.display import DollarsError, quota_amount, quota_label, quota_limit, usd
from billing.usage.tags import GROUP_PREFIX
from gateway.cli.client import (
    OK,
    UsageError,
    add_common,
    amount_micros,
    call,
    emit,
    expect,
    run,
    table,
    when,
)
from gateway.cli.commands import anomalies as anomalies_cmd
from gateway.cli.commands import audit as audit_cmd
from gateway.cli.commands import byok as byok_cmd
from gateway.cli.commands import commitments as commitments_cmd
from gateway.cli.commands import console as console_cmd
from gateway.cli.commands import price_review as price_review_cmd
from gateway.cli.commands import signups as signups_cmd
from gateway.cli.commands import statement as statement_cmd
from gateway.stores.records import USAGE_KINDS, GroupBy

A = "/admin/v1"


def _usd(micros: int | None) -> str:
    return "-" if micros is None else usd(micros)


def accounts(args: argparse.Namespace) -> int:
    params = {k: v for k, v in (("q", args.query), ("plan", args.plan)) if v}
    params["limit"] = str(args.limit)
    body = expect(call(args, "GET", f"{A}/accounts?{urlencode(params)}"), 200)
    rows = [
        (a["id"], a["plan"], a["mode"], a.get("external_id") or "-", a["name"])
        for a in body["data"]
    ]
    header = ("ACCOUNT", "PLAN", "MODE", "EXTERNAL ID", "NAME")
    emit(args, table(header, rows, "no accounts match"), body)
    return OK


def keys(args: argparse.Namespace) -> int:
    suffix = "?include_revoked=true" if args.all else ""
    body = expect(call(args, "GET", f"{A}/accounts/{quote(args.account_id)}/keys{suffix}"), 200)
    rows = [
        (
            k["id"],
            f"{k['prefix']}…",
            k["name"],
            ",".join(k["scopes"]) or "*",
            when(k["last_used_at"]),
            _usd(k["spend_this_month_micros"]),
            "revoked" if k["revoked"] else "active",
        )
        for k in body["data"]
    ]
    header = ("KEY", "PREFIX", "NAME", "SCOPES", "LAST USED", "THIS MONTH", "STATE")
    emit(args, table(header, rows, "no keys"), body)
    return OK


def credit(args: argparse.Namespace) -> int:
    micros = amount_micros(args.amount)
    payload = {
        "amount_micros": micros,
        "idempotency_key": args.idempotency_key or f"cli-{secrets.token_hex(8)}",
        "reason": args.reason,
    }
    grant = _grant(args)
    if grant:
        payload["grant"] = grant
    path = f"{A}/accounts/{quote(args.account_id)}/credits"
    body = expect(call(args, "POST", path, payload), 200, 201)
    replay = " (replay: already credited)" if body["idempotent_replay"] else ""
    text = f"credited {_usd(micros)}{replay}; balance {_usd(body['balance_micros'])}"
    emit(args, text, body)
    return OK


def _grant(args: argparse.Namespace) -> dict[str, Any]:
    """The grant a credit funds; a bare date for --expires is sent as it is: the gateway
    ends the grant at the end of that day in its QUOTA_TIMEZONE."""
    grant: dict[str, Any] = {}
    if args.kind:
        grant["kind"] = args.kind
    if args.priority is not None:
        grant["priority"] = args.priority
    if args.expires:
        grant["expires_at"] = args.expires
    return grant


def grants(args: argparse.Namespace) -> int:
    body = expect(call(args, "GET", f"{A}/accounts/{quote(args.account_id)}/grants"), 200)
    rows = [
        (
            str(g["id"]),
            g["kind"],
            g["status"],
            _usd(g["remaining_micros"]),
            _usd(g["amount_micros"]),
            when(g["expires_at"]),
        )
        for g in body["data"]
    ]
    header = ("GRANT", "KIND", "STATUS", "LEFT", "AMOUNT", "EXPIRES")
    emit(args, table(header, rows, "no grants"), body)
    return OK


def revoke_grant(args: argparse.Namespace) -> int:
    path = f"{A}/accounts/{quote(args.account_id)}/grants/{quote(args.grant_id)}/revoke"
    body = expect(call(args, "POST", path, {}), 200)
    text = f"grant {body['id']} revoked; its rest is written off within seconds"
    emit(args, text, body)
    return OK


QUOTA_HELP = "WINDOW:METRIC:LIMIT, repeatable; spend in dollars (day:spend:5 is $5 a day)"


def _quota(text: str) -> dict[str, Any]:
    """`hour:requests:10` as the API's quota object; `day:spend:5` is $5 a day (typed in
    dollars), `day:spend_micros:5000000` the same in micros, for scripts."""
    try:
        window, metric, typed = text.rsplit(":", 2)
        metric, limit = quota_limit(metric, typed)
    except DollarsError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from exc
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: want WINDOW:METRIC:LIMIT") from exc
    return {"window": window, "metric": metric, "limit": limit}


def _quota_words(quotas: list[dict[str, Any]]) -> str:
    """Limits as people read them: "$5.00 spend per day, 10 requests per hour"."""
    return ", ".join(
        f"{quota_amount(q['metric'], q['limit'])} {quota_label(q['window'], q['metric'])}"
        for q in quotas
    )


def _owner(b: dict[str, Any]) -> str:
    return str(b["end_user"] or b["key_id"] or "every end user")


def _budget_line(b: dict[str, Any]) -> str:
    owner = _owner(b)
    quotas = _quota_words(b["quotas"])
    return f"{b['applies_to']:<12} {owner:<32} {quotas or 'removed'}"


def end_user_budget(args: argparse.Namespace) -> int:
    """Set the organization's default, a key's (--key) or an end user's own (--end-user);
    no --quota removes it."""
    payload: dict[str, Any] = {"quotas": args.quota or []}
    if args.key:
        payload["key_id"] = args.key
    if args.end_user:
        payload["end_user"] = args.end_user
    path = f"{A}/accounts/{quote(args.account_id)}/end-user-budgets"
    body = expect(call(args, "PUT", path, payload), 200)
    emit(args, _budget_line(body), body)
    return OK


def end_user_budgets(args: argparse.Namespace) -> int:
    path = f"{A}/accounts/{quote(args.account_id)}/end-user-budgets"
    body = expect(call(args, "GET", path), 200)
    rows = [
        (
            b["applies_to"],
            b["end_user"] or b["key_id"] or "every end user",
            _quota_words(b["quotas"]),
        )
        for b in body["data"]
    ]
    header = ("APPLIES TO", "WHO", "LIMITS")
    emit(args, table(header, rows, "no end-user budgets"), body)
    return OK


def _team_line(t: dict[str, Any]) -> str:
    quotas = _quota_words(t["quotas"])
    keys = f"  {t['keys']} keys" if "keys" in t else ""
    return f"{t['id']:<22} {t['name']:<24} {quotas or 'no quotas'}{keys}"


def team_create(args: argparse.Namespace) -> int:
    payload = {"name": args.name, "quotas": args.quota or []}
    path = f"{A}/accounts/{quote(args.account_id)}/teams"
    body = expect(call(args, "POST", path, payload), 201)
    emit(args, _team_line(body), body)
    return OK


def teams(args: argparse.Namespace) -> int:
    body = expect(call(args, "GET", f"{A}/accounts/{quote(args.account_id)}/teams"), 200)
    rows = [
        (t["id"], t["name"], _quota_words(t["quotas"]) or "no quotas", str(t.get("keys", "")))
        for t in body["data"]
    ]
    emit(args, table(("TEAM", "NAME", "LIMITS", "KEYS"), rows, "no teams"), body)
    return OK


def team_quotas(args: argparse.Namespace) -> int:
    path = f"{A}/teams/{quote(args.team_id)}/quotas"
    body = expect(call(args, "PUT", path, {"quotas": args.quota or []}), 200)
    emit(args, _team_line(body), body)
    return OK


def _tag(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r}: give a tag as NAME=VALUE")
    return name, value


def _tags_line(body: dict[str, Any]) -> str:
    said = " ".join(f"{k}={v}" for k, v in body["tags"].items()) or "no tags"
    return f"{body['id']}: {said}"


def key_tags(args: argparse.Namespace) -> int:
    """`meterway admin key-tags KEY cost_center=cc-12 ...`: replace a key's own tags (none:
    it has only its team's)."""
    path = f"{A}/keys/{quote(args.key_id)}/tags"
    body = expect(call(args, "PUT", path, {"tags": dict(args.tags)}), 200)
    emit(args, _tags_line(body), body)
    return OK


def team_tags(args: argparse.Namespace) -> int:
    """`meterway admin team-tags TEAM cost_center=cc-12 ...`: replace a team's tags."""
    path = f"{A}/teams/{quote(args.team_id)}/tags"
    body = expect(call(args, "PUT", path, {"tags": dict(args.tags)}), 200)
    emit(args, _tags_line(body), body)
    return OK


def scim_token(args: argparse.Namespace) -> int:
    """`meterway admin scim-token ACCOUNT`: the account's SCIM token, shown once; the one
    before it stops working."""
    path = f"{A}/accounts/{quote(args.account_id)}/scim/token"
    body = expect(call(args, "POST", path, {}), 201)
    emit(args, f"{body['token']}\n(shown once; the token before it no longer works)", body)
    return OK


def key_team(args: argparse.Namespace) -> int:
    """`meterway admin key-team KEY TEAM`, or `--none` to take it out of its team."""
    if args.none == (args.team_id is not None):
        raise UsageError("give a team id, or --none")
    path = f"{A}/keys/{quote(args.key_id)}/team"
    body = expect(call(args, "PUT", path, {"team_id": args.team_id}), 200)
    emit(args, f"{body['key_id']}: team {body['team_id'] or 'none'}", body)
    return OK


def plan(args: argparse.Namespace) -> int:
    payload: dict[str, Any] = {"plan": args.plan}
    if args.mode:
        payload["mode"] = args.mode
    body = expect(call(args, "PUT", f"{A}/accounts/{quote(args.account_id)}/plan", payload), 200)
    emit(args, f"{body['id']} is on {body['plan']} ({body['mode']})", body)
    return OK


def markup(args: argparse.Namespace) -> int:
    """`meterway admin markup ACCOUNT 2000` (basis points) or `--clear` (back to its plan's)."""
    if args.clear == (args.markup_bps is not None):
        raise UsageError("give a markup in basis points, or --clear")
    payload: dict[str, Any] = {"markup_bps": None if args.clear else args.markup_bps}
    if args.effective_at:
        payload["effective_at"] = price_review_cmd.effective_at(args.effective_at)
    path = f"{A}/accounts/{quote(args.account_id)}/markup"
    body = expect(call(args, "PUT", path, payload), 202)
    own = body["markup"]["markup_bps"]
    what = "its plan's markup" if own is None else f"markup {own} bps"
    text = (
        f"price change {body['id']} proposed: {args.account_id} at {what} from"
        f" {body['effective_at']}, pending approval (meterway prices approve {body['id']})"
    )
    emit(args, text, body)
    return OK


def _usage_row(name: str, row: dict[str, Any]) -> tuple[str, ...]:
    counts = (f"{row[f]:,}" for f in ("requests", "input_tokens", "output_tokens"))
    return (name, *counts, _usd(row["spend_micros"]))


def credit_line(args: argparse.Namespace) -> int:
    """`meterway admin credit-line ACCOUNT 50000000` (micros; 0 removes it)."""
    payload = {"credit_line_micros": args.micros}
    path = f"{A}/accounts/{quote(args.account_id)}/credit-line"
    body = expect(call(args, "PUT", path, payload), 200)
    emit(args, f"{body['id']}: credit line {body['credit_line_micros']} micros", body)
    return OK


def _group_by(text: str) -> str:
    if text in get_args(GroupBy) or text.startswith(GROUP_PREFIX):
        return text
    words = ", ".join(get_args(GroupBy))
    raise argparse.ArgumentTypeError(f"{text!r}: one of {words}, or tag:NAME")


def usage(args: argparse.Namespace) -> int:
    params = {"group_by": args.group_by, "format": "csv" if args.csv else "json"}
    given = (
        ("from", args.since),
        ("to", args.until),
        ("model", args.model),
        ("team_id", args.team_id),
        ("kind", args.kind),
        ("end_user", args.end_user),
    )
    params.update({k: v for k, v in given if v})
    path = f"{A}/accounts/{quote(args.account_id)}/usage/report?{urlencode(params)}"
    body = expect(call(args, "GET", path), 200)
    if args.csv:
        emit(args, str(body).rstrip("\n"), body)
        return OK
    totals = body["totals"]
    rows = [_usage_row(str(row[args.group_by]), row) for row in body["data"]]
    rows.append(_usage_row("total", totals))
    header = (args.group_by.upper().replace("_", " "), "REQUESTS", "INPUT", "OUTPUT", "SPEND")
    emit(args, table(header, rows, ""), body)
    return OK


def _command(commands: Any, name: str, handler: Any, text: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = commands.add_parser(name, help=text, allow_abbrev=False)
    add_common(p, "admin-key", "METERWAY_ADMIN_KEY")
    p.set_defaults(client=handler)
    return p


def add_parser(sub: Any) -> None:
    admin = sub.add_parser("admin", help="the operator API (accounts, keys, credit, plan, usage)")
    commands = admin.add_subparsers(dest="admin_command", required=True)
    console_cmd.add_commands(commands, _command, _quota)
    p = _command(commands, "accounts", accounts, "search accounts")
    p.add_argument("--query", help="name prefix, account id or external id")
    p.add_argument("--plan")
    p.add_argument("--limit", type=int, default=50)
    p = _command(commands, "scim-token", scim_token, "mint (or rotate) an account's SCIM token")
    p.add_argument("account_id")
    p = _command(commands, "keys", keys, "an account's keys")
    p.add_argument("account_id")
    p.add_argument("--all", action="store_true", help="include revoked keys")
    p = _command(commands, "credit", credit, "add credit to an account")
    p.add_argument("account_id")
    p.add_argument("--amount", required=True, help="USD, e.g. 25 or 0.50")
    p.add_argument("--reason", default="operator credit")
    p.add_argument("--idempotency-key", help="repeat a credit safely (default: a new key)")
    p.add_argument("--kind", help="the grant it funds: paid (default), promotional, trial, ...")
    p.add_argument("--expires", help="when the grant's rest is written off: YYYY-MM-DD or RFC 3339")
    p.add_argument("--priority", type=int, help="0-1000, lower is spent first (default 50)")
    p = _command(commands, "grants", grants, "an account's credit grants")
    p.add_argument("account_id")
    p = _command(commands, "revoke-grant", revoke_grant, "revoke a credit grant")
    p.add_argument("account_id")
    p.add_argument("grant_id")
    p = _command(commands, "end-user-budget", end_user_budget, "set an end-user budget")
    p.add_argument("account_id")
    owner = p.add_mutually_exclusive_group()
    owner.add_argument("--key", help="this key's default for its end users")
    owner.add_argument("--end-user", help="this end user's own budget")
    p.add_argument(
        "--quota",
        type=_quota,
        action="append",
        help=f"{QUOTA_HELP} (none removes)",
    )
    p = _command(commands, "end-user-budgets", end_user_budgets, "an account's end-user budgets")
    p.add_argument("account_id")
    p = _command(commands, "team-create", team_create, "create a team in an account")
    p.add_argument("account_id")
    p.add_argument("name")
    p.add_argument("--quota", type=_quota, action="append", help=QUOTA_HELP)
    p = _command(commands, "teams", teams, "an account's teams")
    p.add_argument("account_id")
    p = _command(commands, "team-quotas", team_quotas, "set a team's quotas (none: no limits)")
    p.add_argument("team_id")
    p.add_argument("--quota", type=_quota, action="append", help=QUOTA_HELP)
    p = _command(commands, "team-tags", team_tags, "set a team's tags (none: no tags)")
    p.add_argument("team_id")
    p.add_argument("tags", nargs="*", type=_tag, metavar="NAME=VALUE")
    p = _command(commands, "key-tags", key_tags, "set a key's own tags (none: its team's only)")
    p.add_argument("key_id")
    p.add_argument("tags", nargs="*", type=_tag, metavar="NAME=VALUE")
    p = _command(commands, "key-team", key_team, "put a key in a team")
    p.add_argument("key_id")
    p.add_argument("team_id", nargs="?")
    p.add_argument("--none", action="store_true", help="take the key out of its team")
    p = _command(commands, "plan", plan, "move an account to a plan")
    p.add_argument("account_id")
    p.add_argument("plan")
    p.add_argument("--mode", choices=("prepaid", "postpaid"))
    p = _command(commands, "markup", markup, "set an account's markup over provider cost")
    p.add_argument("account_id")
    p.add_argument("markup_bps", nargs="?", type=int, help="basis points: 2000 is +20%%")
    p.add_argument("--clear", action="store_true", help="follow the plan's markup again")
    p.add_argument("--effective-at", help="RFC 3339 time, or +2h, +7d (default: a day ahead)")
    p = _command(commands, "credit-line", credit_line, "let an account's balance go below 0")
    p.add_argument("account_id")
    p.add_argument("micros", type=int, help="how far below 0, in micros (0 removes it)")
    p = _command(commands, "usage", usage, "an account's usage report")
    p.add_argument("account_id")
    p.add_argument("--from", dest="since", help="first UTC day, YYYY-MM-DD")
    p.add_argument("--to", dest="until", help="day after the last, YYYY-MM-DD")
    p.add_argument(
        "--group-by",
        type=_group_by,
        default="day",
        help=f"{', '.join(get_args(GroupBy))}, or tag:NAME (a tag's values)",
    )
    p.add_argument("--model", help="only this model's usage")
    p.add_argument("--team-id", help="only the usage of this team's keys")
    p.add_argument("--kind", choices=USAGE_KINDS, help="only this kind of usage")
    p.add_argument("--end-user", help="only this end user's usage")
    p.add_argument("--csv", action="store_true")
    p = _command(commands, "statement", statement_cmd.admin_statement, "an account's statement")
    p.add_argument("account_id")
    statement_cmd.add_arguments(p)
    p = _command(commands, "audit", audit_cmd.admin_audit, "the audit log (every account's)")
    p.add_argument("--account-id", dest="account_id", help="only this account's records")
    audit_cmd.add_arguments(p)
    signups_cmd.add_commands(commands, _command)
    anomalies_cmd.add_commands(commands, _command)
    byok_cmd.add_commands(commands, _command)
    commitments_cmd.add_commands(commands, _command)


def main(args: argparse.Namespace) -> int:
    return run(args.client, args)
