"""The account API under /v1/account: what the people who pay see of their own account.

Callers are API keys carrying the route's scope, or signed-in users (JWT) whose `scope` claim
carries it (gateway/http/principal.py). Every route is confined to the caller's own account.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any

from aiohttp import web

from billing.grants import Grant, GrantTooWide, check_key_quotas, check_within, user_grant
from billing.quotas import Quota
from billing.reseller import arithmetic_for_customer
from gateway.appkeys import DIRECTORY, LEDGER, MEMBERS, PAYMENTS, PLANS, SETTINGS, STORE, TEAMS
from gateway.errors import InvalidRequest, NotFound, PermissionDenied
from gateway.http import (
    account_alerts,
    account_members,
    bodies,
    credit_grants,
    end_user_budgets,
    statements,
    teams,
)
from gateway.http.principal import (
    ACCOUNT_READ,
    KEYS_READ,
    KEYS_WRITE,
    USAGE_READ,
    Principal,
    principal_middleware,
    require,
)
from gateway.http.reports import json_for, ledger_response, usage_response
from gateway.http.serialize import account_json, entry_json, key_use_json
from gateway.llm.calls import parse_json
from gateway.services.keys import (
    grant_of_key,
    issue_key_within,
    revoke_key,
    rotate_key,
    set_key_quotas,
)
from gateway.services.provisioning import KeySpec
from gateway.services.request_cost import RequestCost, request_cost
from gateway.services.teams import assign_key
from gateway.services.usage_view import window_usage
from gateway.stores.records import Row
from gateway.stores.redis.keys import shard_of

MAX_GRACE_S = 7 * 86400


async def account_overview(request: web.Request, account_id: str) -> dict[str, object]:
    """Plan, mode, balance, held, available, every quota window of an account and its one
    next step (the same value GET /v1/account/billing answers)."""
    row = await request.config_dict[LEDGER].get_account(account_id)
    if row is None:
        raise NotFound("No such account.")
    store = request.config_dict[STORE]
    quotas = await store.account_quotas(account_id)
    windows = await window_usage(store, shard_of(account_id), "a", account_id, quotas)
    hot = await store.balance(account_id)
    step = await request.config_dict[PAYMENTS].next_step(row, hot, windows)
    return {**account_json(row, hot), "windows": windows, "next": step.json()}


def show_cost(request: web.Request) -> bool:
    """Whether an account's own surfaces show markup, provider cost and margin: only when
    the operator turns it on (SHOW_PROVIDER_COST=1)."""
    return request.config_dict[SETTINGS].show_provider_cost


async def get_account(request: web.Request) -> web.Response:
    who = require(request, ACCOUNT_READ)
    return json_for(show_cost(request), await account_overview(request, who.account_id))


async def list_keys(request: web.Request) -> web.Response:
    rows = await visible_keys(request, require(request, KEYS_READ))
    return web.json_response({"object": "list", "data": [key_use_json(r) for r in rows]})


async def visible_keys(request: web.Request, who: Principal) -> list[Row]:
    """The account's live keys the caller may see: all, or a member's own."""
    rows = await request.config_dict[DIRECTORY].keys_of(who.account_id, include_revoked=False)
    if who.own_keys_only:
        owned = await _owned_key_ids(request, who)
        rows = [r for r in rows if r["id"] in owned]
    return rows


async def _owned_key_ids(request: web.Request, who: Principal) -> set[str]:
    """The keys a member kept to their own created (none when they are no member here)."""
    if who.member_id is None:
        return set()
    return set(await request.config_dict[MEMBERS].keys_of_member(who.member_id))


async def caller_grant(request: web.Request, who: Principal) -> Grant:
    """What the caller may hand on: an API key its own grant, a user their scopes and plan."""
    if who.key is not None:
        row = await request.config_dict[LEDGER].get_key(who.key.key_id)
        return grant_of_key(bodies.found(row, "No such key."))
    account = await request.config_dict[LEDGER].get_account(who.account_id)
    plan = request.config_dict[PLANS].get(account["plan"]) if account else None
    return user_grant(who.scopes, plan.models if plan else ())


def spec_of_body(
    body: dict[str, object], known: Collection[str] = (), zone: str = "UTC"
) -> KeySpec:
    """A key request (JSON body or dashboard form) as a KeySpec; InvalidRequest per field.
    `known`: the providers a key may be pinned to; `zone` ends a bare expiry date."""
    data = dict(body)
    return KeySpec(
        str(bodies.text_field(data, "name")),
        tuple(bodies.str_list(data, "scopes")),
        tuple(bodies.str_list(data, "models")),
        bodies.quotas_field(data),
        bodies.on_insufficient_field(data),
        bodies.expiry_field(data, zone=zone),
        bodies.providers_field(data, known),
    )


def _denied(exc: GrantTooWide) -> PermissionDenied:
    return PermissionDenied(exc.message, param=exc.field)


async def create_key_for(request: web.Request, who: Principal, spec: KeySpec) -> dict[str, Any]:
    """Issue a key within the caller's grant; the answer carries the secret, shown once."""
    app = request.config_dict
    try:
        check_key_quotas(await app[STORE].account_quotas(who.account_id), spec.quotas)
        grant = await caller_grant(request, who)
        issued = await issue_key_within(app[LEDGER], app[STORE], who.account_id, grant, spec)
    except GrantTooWide as exc:
        raise _denied(exc) from exc
    if who.member_id is not None:
        await app[MEMBERS].own_key(issued.key_id, who.member_id)
        await _member_team(request, who.member_id, issued.key_id)
    row = bodies.found(await app[DIRECTORY].key_with_use(issued.key_id), "No such key.")
    return {**key_use_json(row), "key": issued.secret}


async def create_key(request: web.Request) -> web.Response:
    who = require(request, KEYS_WRITE)
    settings = request.config_dict[SETTINGS]
    spec = spec_of_body(parse_json(await request.read()), settings.providers, settings.timezone)
    return web.json_response(await create_key_for(request, who, spec), status=201)


async def own_key(request: web.Request, who: Principal, key_id: str) -> Row:
    """One of the caller's account's keys, or NotFound (never another account's)."""
    row = await request.config_dict[DIRECTORY].key_with_use(key_id)
    if row is None or row["account_id"] != who.account_id:
        raise NotFound("No such key.")
    if who.own_keys_only and key_id not in await _owned_key_ids(request, who):
        raise NotFound("No such key.")
    return row


async def delete_key(request: web.Request) -> web.Response:
    who = require(request, KEYS_WRITE)
    row = await own_key(request, who, request.match_info["key_id"])
    app = request.config_dict
    await revoke_key(app[LEDGER], app[STORE], row)
    return web.json_response({"id": row["id"], "object": "api_key", "deleted": True})


async def _check_rotation(request: web.Request, who: Principal, row: Row) -> None:
    """A key may rotate itself; rotating another key issues its grant, so it must fit ours."""
    if who.key is None or who.key.key_id == row["id"]:
        return
    try:
        check_within(await caller_grant(request, who), grant_of_key(row))
    except GrantTooWide as exc:
        raise _denied(exc) from exc


async def _member_team(request: web.Request, member_id: str, key_id: str) -> None:
    """A key a member of a team creates joins their team."""
    app = request.config_dict
    member = await app[MEMBERS].get(member_id)
    team = await app[TEAMS].get(member["team_id"]) if member and member["team_id"] else None
    if team is not None:
        key = {"id": key_id, "account_id": team["account_id"]}
        await assign_key(app[TEAMS], app[STORE], key, team)


async def _same_team(request: web.Request, old_key_id: str, new_key_id: str) -> None:
    """A rotated key's successor stays in its team."""
    app = request.config_dict
    old = await app[LEDGER].get_key(old_key_id)
    team = await app[TEAMS].get(old["team_id"]) if old and old.get("team_id") else None
    if team is not None:
        new = {"id": new_key_id, "account_id": team["account_id"]}
        await assign_key(app[TEAMS], app[STORE], new, team)


async def rotate_for(request: web.Request, who: Principal, row: Row, grace: int) -> dict[str, Any]:
    """A new secret for `row`; the old one keeps working for `grace` seconds."""
    if row["revoked_at"] is not None:
        raise InvalidRequest("A revoked key cannot be rotated.", param="key_id")
    await _check_rotation(request, who, row)
    app = request.config_dict
    issued = await rotate_key(app[LEDGER], app[STORE], app[DIRECTORY], row, grace)
    await _same_team(request, row["id"], issued.key_id)
    new_row = bodies.found(await app[DIRECTORY].key_with_use(issued.key_id), "No such key.")
    old_row = bodies.found(await app[DIRECTORY].key_with_use(row["id"]), "No such key.")
    return {**key_use_json(new_row), "key": issued.secret, "previous": key_use_json(old_row)}


async def rotate(request: web.Request) -> web.Response:
    who = require(request, KEYS_WRITE)
    row = await own_key(request, who, request.match_info["key_id"])
    raw = await request.read()
    body = parse_json(raw) if raw.strip() else {}
    grace = bodies.int_field(
        body, "grace_seconds", request.config_dict[SETTINGS].key_rotation_grace_s, MAX_GRACE_S
    )
    return web.json_response(await rotate_for(request, who, row, grace), status=201)


async def set_quotas_for(
    request: web.Request, who: Principal, row: Row, quotas: tuple[Quota, ...]
) -> dict[str, Any]:
    """A key's own limits, within the account's limits and the caller's own grant."""
    app = request.config_dict
    try:
        check_key_quotas(await app[STORE].account_quotas(who.account_id), quotas)
        if who.key is not None and who.key.key_id != row["id"]:
            check_within(
                await caller_grant(request, who), replace(grant_of_key(row), quotas=quotas)
            )
    except GrantTooWide as exc:
        raise _denied(exc) from exc
    await set_key_quotas(app[LEDGER], app[STORE], row, quotas)
    return key_use_json(bodies.found(await app[DIRECTORY].key_with_use(row["id"]), "No such key."))


async def put_quotas(request: web.Request) -> web.Response:
    who = require(request, KEYS_WRITE)
    row = await own_key(request, who, request.match_info["key_id"])
    quotas = bodies.quotas_field(parse_json(await request.read()))
    return web.json_response(await set_quotas_for(request, who, row, quotas))


async def usage(request: web.Request) -> web.Response:
    who = require(request, USAGE_READ)
    return await usage_response(request, who.account_id, show_cost=show_cost(request))


async def ledger(request: web.Request) -> web.Response:
    who = require(request, ACCOUNT_READ)
    return await ledger_response(request, who.account_id, show_cost=show_cost(request))


async def request_cost_of(request: web.Request) -> web.Response:
    """The request's entry (its debit, else its newest row), every ledger row of the request
    oldest first, and the debit's price arithmetic as the dashboard's request page prints it
    (null without a registered price version)."""
    who = require(request, ACCOUNT_READ)
    rid = request.match_info["request_id"]
    cost = await request_cost(request.config_dict[DIRECTORY], who.account_id, rid)
    if cost is None:
        raise NotFound("No settled request with this id on your account (yet).")
    shown = show_cost(request)
    return json_for(
        shown,
        {
            **entry_json(cost.entry),
            "object": "request_cost",
            "entries": [entry_json(e) for e in cost.entries],
            "arithmetic": customer_arithmetic(cost, shown),
        },
    )


def customer_arithmetic(cost: RequestCost, shown: bool) -> list[str] | None:
    """The debit's arithmetic as the account may read it (billing/reseller.py)."""
    debit = cost.debit
    if debit is None:
        return cost.arithmetic
    charged, provider = -debit["amount_micros"], debit.get("provider_cost_micros")
    return arithmetic_for_customer(cost.arithmetic, charged, provider, shown)


def add_routes(app: web.Application) -> None:
    account = web.Application(middlewares=[principal_middleware])
    r = account.router
    r.add_get("", get_account)
    r.add_get("/keys", list_keys)
    r.add_post("/keys", create_key)
    r.add_delete("/keys/{key_id}", delete_key)
    r.add_post("/keys/{key_id}/rotate", rotate)
    r.add_put("/keys/{key_id}/quotas", put_quotas)
    r.add_get("/usage", usage)
    r.add_get("/ledger", ledger)
    r.add_get("/requests/{request_id}", request_cost_of)
    credit_grants.add_account_routes(account)
    end_user_budgets.add_account_routes(account)
    teams.add_account_routes(account)
    account_alerts.add_routes(account)
    account_members.add_account_routes(account)
    statements.add_account_routes(account)
    app.add_subapp("/v1/account", account)
