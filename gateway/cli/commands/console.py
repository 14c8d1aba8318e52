"""`meterway admin` for onboarding a customer without curl: open an account on a plan with
its opening credit, issue, rotate and revoke its keys, invite its people, change their roles
and remove them. Each command is one or two operator API calls (docs/reference/operator-api.md);
conventions (token file, --json, exit codes) are `meterway admin`'s.
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from billing.money.display import usd
from gateway.cli.client import OK, amount_micros, call, emit, expect, table, when

A = "/admin/v1"
Command = Callable[[Any, str, Any, str], argparse.ArgumentParser]


def account_create(args: argparse.Namespace) -> int:
    """Open the account, then fund its opening credit. One idempotency key names both (the
    credit's is the account's plus `:opening-credit`): run again with the same
    --idempotency-key, the command finishes what a failed run left and adds nothing twice."""
    credit = None if args.credit is None else amount_micros(args.credit, "--credit")
    idem = args.idempotency_key or f"cli-{secrets.token_hex(8)}"
    payload: dict[str, Any] = {"name": args.name, "idempotency_key": idem}
    if args.plan:
        payload["plan"] = args.plan
    if args.external_id:
        payload["external_id"] = args.external_id
    made = expect(call(args, "POST", f"{A}/accounts", payload), 200, 201)
    funded = None
    if credit is not None:
        body = {"amount_micros": credit, "idempotency_key": f"{idem}:opening-credit"}
        body["reason"] = args.reason
        path = f"{A}/accounts/{quote(made['id'])}/credits"
        funded = expect(call(args, "POST", path, body), 200, 201)
    account = expect(call(args, "GET", f"{A}/accounts/{quote(made['id'])}"), 200)
    text = f"{account['id']}  {account['name']}  {account['plan']} ({account['mode']})"
    text += f"  balance {usd(account['balance_micros'] or 0)}"
    emit(args, text, {**account, "opening_credit": funded})
    return OK


def account(args: argparse.Namespace) -> int:
    body = expect(call(args, "GET", f"{A}/accounts/{quote(args.account_id)}"), 200)
    held = usd(body["held_micros"] or 0)
    text = (
        f"{body['id']}  {body['name']}\nplan     {body['plan']} ({body['mode']})\n"
        f"balance  {usd(body['balance_micros'] or 0)} ({held} held)"
    )
    emit(args, text, body)
    return OK


def key_create(args: argparse.Namespace) -> int:
    """Issue the key, then put it in --team; the secret is printed once, on its own line."""
    payload: dict[str, Any] = {"account_id": args.account_id, "name": args.name}
    payload |= {"scopes": args.scope or [], "models": args.model or [], "quotas": args.quota or []}
    if args.expires:
        payload["expires_at"] = args.expires
    made = expect(call(args, "POST", f"{A}/keys", payload), 201)
    if args.team:
        path = f"{A}/keys/{quote(made['id'])}/team"
        expect(call(args, "PUT", path, {"team_id": args.team}), 200)
        made["team_id"] = args.team
    emit(args, f"{made['id']}  {made['name']}\n{made['key']}", made)
    return OK


def key_rotate(args: argparse.Namespace) -> int:
    payload = {} if args.grace is None else {"grace_seconds": args.grace}
    path = f"{A}/keys/{quote(args.key_id)}/rotate"
    made = expect(call(args, "POST", path, payload), 201)
    old = made["previous"]
    ends = when(old.get("expires_at"), "now")
    emit(args, f"{made['id']}  {made['name']} (old secret works until {ends})\n{made['key']}", made)
    return OK


def key_revoke(args: argparse.Namespace) -> int:
    body = expect(call(args, "DELETE", f"{A}/keys/{quote(args.key_id)}"), 200)
    emit(args, f"{body['id']} revoked, with every key minted under it", body)
    return OK


def members(args: argparse.Namespace) -> int:
    body = expect(call(args, "GET", f"{A}/accounts/{quote(args.account_id)}/members"), 200)
    rows = [
        (
            m["id"],
            m["email"],
            m["role"],
            "member" if m["accepted_at"] else "invited",
            when(m["signed_in_at"]),
        )
        for m in body["data"]
    ]
    header = ("MEMBER", "EMAIL", "ROLE", "STATE", "SIGNED IN")
    emit(args, table(header, rows, "no members"), body)
    return OK


def member_invite(args: argparse.Namespace) -> int:
    """Invite; the accept link is printed once (and e-mailed when SMTP is set)."""
    payload = {"email": args.email, "role": args.role}
    path = f"{A}/accounts/{quote(args.account_id)}/members"
    body = expect(call(args, "POST", path, payload), 201)
    text = f"{body['id']}  {body['email']} invited as {body['role']}\n{body['accept_url']}"
    emit(args, text, body)
    return OK


def member_role(args: argparse.Namespace) -> int:
    path = f"{A}/accounts/{quote(args.account_id)}/members/{quote(args.member_id)}/role"
    body = expect(call(args, "PUT", path, {"role": args.role}), 200)
    emit(args, f"{body['id']}  {body['email']} is now {body['role']}", body)
    return OK


def member_remove(args: argparse.Namespace) -> int:
    path = f"{A}/accounts/{quote(args.account_id)}/members/{quote(args.member_id)}"
    body = expect(call(args, "DELETE", path), 200)
    emit(args, f"{body['id']} removed; the keys minted under them are revoked", body)
    return OK


def add_commands(commands: Any, command: Command, quota: Callable[[str], Any]) -> None:
    """The onboarding commands on `meterway admin`'s parser (`command` adds one with the
    common options; `quota` reads WINDOW:METRIC:LIMIT)."""
    p = command(commands, "account-create", account_create, "open an account: plan, credit")
    p.add_argument("name")
    p.add_argument("--plan", help="a plan of config/plans.toml (default: the default plan)")
    p.add_argument("--credit", help="opening credit in USD, e.g. 25 or 0.50")
    p.add_argument("--reason", default="opening credit", help="the opening credit's reason")
    p.add_argument("--external-id", help="the identity provider's subject for this account")
    p.add_argument("--idempotency-key", help="run again safely (default: a new key)")
    p = command(commands, "account", account, "one account: plan and balance")
    p.add_argument("account_id")
    p = command(commands, "key-create", key_create, "issue a key (its secret shown once)")
    p.add_argument("account_id")
    p.add_argument("name")
    p.add_argument("--scope", action="append", help="repeatable: inference, billing, ...")
    p.add_argument("--model", action="append", help="repeatable: the only models it may call")
    p.add_argument("--quota", type=quota, action="append", help="WINDOW:METRIC:LIMIT")
    p.add_argument("--team", help="the team it joins (its limits apply too)")
    p.add_argument("--expires", help="YYYY-MM-DD (the end of that day) or RFC 3339")
    p = command(commands, "key-rotate", key_rotate, "a new secret; the old works for a while")
    p.add_argument("key_id")
    p.add_argument("--grace", type=int, help="seconds the old secret keeps working")
    p = command(commands, "key-revoke", key_revoke, "revoke a key and the keys it minted")
    p.add_argument("key_id")
    p = command(commands, "members", members, "an account's members and invitations")
    p.add_argument("account_id")
    p = command(commands, "member-invite", member_invite, "invite someone by e-mail")
    p.add_argument("account_id")
    p.add_argument("email")
    p.add_argument(
        "--role", default="owner", help="owner (default), admin, billing, member or viewer"
    )
    p = command(commands, "member-role", member_role, "change a member's role")
    p.add_argument("account_id")
    p.add_argument("member_id")
    p.add_argument("role")
    p = command(commands, "member-remove", member_remove, "remove a member (revokes their keys)")
    p.add_argument("account_id")
    p.add_argument("member_id")
