"""The account API under /v1/account: what the people who pay see of their own account.

Callers are API keys carrying the route's scope, or signed-in users (JWT) whose `scope` claim
carries it (gateway/http/principal.py). Every route is confined to the caller's own account.
"""

from __future__ import annotations

from aiohttp import web

from billing.grants import Grant, GrantTooWide, check_within, user_grant
from gateway.appkeys import DIRECTORY, LEDGER, PLANS, SETTINGS, STORE
from gateway.errors import InvalidRequest, NotFound, PermissionDenied
from gateway.http import bodies
from gateway.http.principal import (
    ACCOUNT_READ,
    KEYS_READ,
    KEYS_WRITE,
    USAGE_READ,
    Principal,
    principal_middleware,
    require,
)
from gateway.http.reports import ledger_response, usage_response
from gateway.http.serialize import account_json, entry_json, key_use_json
from gateway.llm.calls import parse_json
from gateway.services.keys import grant_of_key, issue_key_within, revoke_key, rotate_key
from gateway.services.provisioning import KeySpec
from gateway.services.usage_view import window_usage
from gateway.stores.records import Row
from gateway.stores.redis.keys import shard_of

MAX_GRACE_S = 7 * 86400


async def account_overview(request: web.Request, account_id: str) -> dict[str, object]:
    """Plan, mode, balance, held, available and every quota window of an account."""
    row = await request.config_dict[LEDGER].get_account(account_id)
    if row is None:
        raise NotFound("No such account.")
    store = request.config_dict[STORE]
    quotas = await store.account_quotas(account_id)
    windows = await window_usage(store, shard_of(account_id), "a", account_id, quotas)
    return {**account_json(row, await store.balance(account_id)), "windows": windows}


async def get_account(request: web.Request) -> web.Response:
    who = require(request, ACCOUNT_READ)
    return web.json_response(await account_overview(request, who.account_id))


async def list_keys(request: web.Request) -> web.Response:
    who = require(request, KEYS_READ)
    rows = await request.config_dict[DIRECTORY].keys_of(who.account_id, include_revoked=False)
    return web.json_response({"object": "list", "data": [key_use_json(r) for r in rows]})


async def _caller_grant(request: web.Request, who: Principal) -> Grant:
    if who.key is not None:
        row = await request.config_dict[LEDGER].get_key(who.key.key_id)
        return grant_of_key(bodies.found(row, "No such key."))
    account = await request.config_dict[LEDGER].get_account(who.account_id)
    plan = request.config_dict[PLANS].get(account["plan"]) if account else None
    return user_grant(who.scopes, plan.models if plan else ())


def _spec(body: dict[str, object]) -> KeySpec:
    data = dict(body)
    return KeySpec(
        str(bodies.text_field(data, "name")),
        tuple(bodies.str_list(data, "scopes")),
        tuple(bodies.str_list(data, "models")),
        bodies.quotas_field(data),
        bodies.on_insufficient_field(data),
        bodies.expiry_field(data),
    )


async def create_key(request: web.Request) -> web.Response:
    who = require(request, KEYS_WRITE)
    spec = _spec(parse_json(await request.read()))
    app = request.config_dict
    try:
        issued = await issue_key_within(
            app[LEDGER], app[STORE], who.account_id, await _caller_grant(request, who), spec
        )
    except GrantTooWide as exc:
        raise PermissionDenied(exc.message, param=exc.field) from exc
    row = bodies.found(await app[DIRECTORY].key_with_use(issued.key_id), "No such key.")
    return web.json_response({**key_use_json(row), "key": issued.secret}, status=201)


async def _own_key(request: web.Request, who: Principal) -> Row:
    row = await request.config_dict[DIRECTORY].key_with_use(request.match_info["key_id"])
    if row is None or row["account_id"] != who.account_id:
        raise NotFound("No such key.")
    return row


async def delete_key(request: web.Request) -> web.Response:
    who = require(request, KEYS_WRITE)
    row = await _own_key(request, who)
    app = request.config_dict
    await revoke_key(app[LEDGER], app[STORE], row)
    return web.json_response({"id": row["id"], "object": "api_key", "deleted": True})


async def _check_rotation(request: web.Request, who: Principal, row: Row) -> None:
    """A key may rotate itself; rotating another key issues its grant, so it must fit ours."""
    if who.key is None or who.key.key_id == row["id"]:
        return
    try:
        check_within(await _caller_grant(request, who), grant_of_key(row))
    except GrantTooWide as exc:
        raise PermissionDenied(exc.message, param=exc.field) from exc


async def rotate(request: web.Request) -> web.Response:
    who = require(request, KEYS_WRITE)
    row = await _own_key(request, who)
    if row["revoked_at"] is not None:
        raise InvalidRequest("A revoked key cannot be rotated.", param="key_id")
    raw = await request.read()
    body = parse_json(raw) if raw.strip() else {}
    app = request.config_dict
    grace = bodies.int_field(body, "grace_seconds", app[SETTINGS].key_rotation_grace_s, MAX_GRACE_S)
    await _check_rotation(request, who, row)
    issued = await rotate_key(app[LEDGER], app[STORE], app[DIRECTORY], row, grace)
    new_row = bodies.found(await app[DIRECTORY].key_with_use(issued.key_id), "No such key.")
    old_row = bodies.found(await app[DIRECTORY].key_with_use(row["id"]), "No such key.")
    return web.json_response(
        {**key_use_json(new_row), "key": issued.secret, "previous": key_use_json(old_row)},
        status=201,
    )


async def usage(request: web.Request) -> web.Response:
    who = require(request, USAGE_READ)
    return await usage_response(request, who.account_id)


async def ledger(request: web.Request) -> web.Response:
    who = require(request, ACCOUNT_READ)
    return await ledger_response(request, who.account_id)


async def request_cost(request: web.Request) -> web.Response:
    who = require(request, ACCOUNT_READ)
    rid = request.match_info["request_id"]
    row = await request.config_dict[DIRECTORY].request_entry(who.account_id, rid)
    if row is None:
        raise NotFound("No settled request with this id on your account (yet).")
    return web.json_response({**entry_json(row), "object": "request_cost"})


def add_routes(app: web.Application) -> None:
    account = web.Application(middlewares=[principal_middleware])
    r = account.router
    r.add_get("", get_account)
    r.add_get("/keys", list_keys)
    r.add_post("/keys", create_key)
    r.add_delete("/keys/{key_id}", delete_key)
    r.add_post("/keys/{key_id}/rotate", rotate)
    r.add_get("/usage", usage)
    r.add_get("/ledger", ledger)
    r.add_get("/requests/{request_id}", request_cost)
    app.add_subapp("/v1/account", account)
