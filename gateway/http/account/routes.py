"""The account API under /v1/account: what the people who pay see of their own account.

Callers are API keys carrying the route's scope, or signed-in users (JWT) whose `scope` claim
carries it (gateway/http/principal.py). Every route is confined to the caller's own account.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any

from aiohttp import web

from billing import authority
from billing.authority import Resource, role_scopes
from billing.grants import (
    MCP_SCOPE,
    PROXY_SCOPES,
    Grant,
    GrantTooWide,
    check_key_quotas,
    check_within,
    user_grant,
)
from billing.next_step import for_caller
from billing.quotas import Quota
from billing.reseller import arithmetic_for_customer
from billing.roles import may_spend
from gateway.errors import InvalidRequest, NotFound, PermissionDenied
from gateway.http import audited, bodies, key_grants
from gateway.http.account import alerts as account_alerts
from gateway.http.account import (
    audit_log,
    credit_grants,
    end_user_budgets,
    focus,
    scim_token,
    statements,
    teams,
)
from gateway.http.account import domains as account_domains
from gateway.http.account import members as account_members
from gateway.http.account.key_narrowing import narrowed_grant
from gateway.http.account.reports import json_for, ledger_response, usage_response
from gateway.http.appkeys import (
    BUDGETS,
    DIRECTORY,
    LEDGER,
    MEMBERS,
    PAYMENTS,
    PLANS,
    SETTINGS,
    STORE,
    TEAMS,
)
from gateway.http.fields import MAX_GRACE_S
from gateway.http.openapi import account as account_doc
from gateway.http.principal import (
    ACCOUNT_READ,
    KEYS_READ,
    KEYS_WRITE,
    USAGE_READ,
    Principal,
    principal_middleware,
    require,
)
from gateway.http.routing import Route, audits, declare
from gateway.http.serialize import account_json, entry_json, key_json, key_use_json
from gateway.llm.calls import parse_json
from gateway.services.keys import (
    grant_of_key,
    revoke_key,
    rotate_key,
    set_key_grant,
    set_key_quotas,
)
from gateway.services.limits import limits_of
from gateway.services.mint import Creator, KeyStores, Right, mint_key
from gateway.services.provisioning import KeySpec
from gateway.services.request_cost import RequestCost, request_cost
from gateway.services.usage_view import window_usage
from gateway.stores.ports.hot import shard_of
from gateway.stores.records import Lineage, Row, minted_by_key

NO_REQUEST = "No settled request with this id on your account (yet)."


async def account_overview(
    request: web.Request, account_id: str, who: Principal | None = None
) -> dict[str, object]:
    """Plan, mode, balance, held, available, every quota window of an account, every limit
    on the caller's calls (`limits`: its end users', its key's, its team's, the account's,
    each with `blocks`) and its one next step as the caller may take it (the value GET
    /v1/account/billing answers, with a full key or team window counted)."""
    app = request.config_dict
    row = await app[LEDGER].get_account(account_id)
    if row is None:
        raise NotFound("No such account.")
    store = app[STORE]
    quotas = await store.account_quotas(account_id)
    windows = await window_usage(store, shard_of(account_id), "a", account_id, quotas)
    key_id = who.key.key_id if who is not None and who.key is not None else None
    stores = (store, app[LEDGER], app[TEAMS], app[BUDGETS])
    limits = await limits_of(stores, row, windows, key_id)
    hot = await store.money(account_id)
    counted = [w for w in limits if w["used"] is not None]
    step = await app[PAYMENTS].next_step(row, hot, counted)
    if who is not None:
        step = for_caller(step, who.actor())
    return {**account_json(row, hot), "windows": windows, "limits": limits, "next": step.json()}


def show_cost(request: web.Request) -> bool:
    """Whether an account's own surfaces show markup, provider cost and margin: only when
    the operator turns it on (SHOW_PROVIDER_COST=1)."""
    return request.config_dict[SETTINGS].show_provider_cost


async def get_account(request: web.Request) -> web.Response:
    who = require(request, ACCOUNT_READ)
    return json_for(show_cost(request), await account_overview(request, who.account_id, who))


async def list_keys(request: web.Request) -> web.Response:
    rows = await visible_keys(request, require(request, KEYS_READ))
    return web.json_response({"object": "list", "data": [key_use_json(r) for r in rows]})


async def visible_keys(request: web.Request, who: Principal) -> list[Row]:
    """The account's live keys the caller may see: all, or those of the member it is kept to."""
    rows = await request.config_dict[DIRECTORY].keys_of(who.account_id, include_revoked=False)
    if who.reach is not None:
        rows = [r for r in rows if r.get("member_id") == who.reach]
    return rows


async def caller_grant(request: web.Request, who: Principal) -> Grant:
    """What the caller may hand on: an API key its own grant, within its owner's role as it
    is now; a person their role (the proxy's scopes only for a role that may spend) and
    their plan's models; a user token without a role its scopes, the proxy's and the plan's
    models."""
    if who.key is not None:
        grant = grant_of_key(await _caller_key(request, who))
        return replace(grant, scopes=grant.scopes & who.scopes) if who.role else grant
    account = await request.config_dict[LEDGER].get_account(who.account_id)
    plan = request.config_dict[PLANS].get(account["plan"]) if account else None
    models = plan.models if plan else ()
    if who.role:
        spends = {MCP_SCOPE} if may_spend(who.role) else set()
        return Grant(role_scopes(who.role, PROXY_SCOPES) | spends, frozenset(models))
    return user_grant(who.scopes, models)


async def creator_of(request: web.Request, who: Principal) -> Creator:
    """The caller as a creator of credentials (services/mint.py): what it holds, the rights
    its scopes (and, for a person, membership) give, and what a key it makes inherits."""
    rights = set(who.scopes)
    if who.kind == "user" and who.member_id:
        rights.add(Right.LOGIN.value)
    grant = await caller_grant(request, who)
    return Creator(who.account_id, grant, frozenset(rights), await lineage_of(request, who))


def key_stores(request: web.Request) -> KeyStores:
    app = request.config_dict
    return KeyStores(app[LEDGER], app[STORE], app[TEAMS], app[BUDGETS])


async def _caller_key(request: web.Request, who: Principal) -> Row:
    assert who.key is not None
    return bodies.found(await request.config_dict[LEDGER].get_key(who.key.key_id), "No such key.")


async def lineage_of(request: web.Request, who: Principal) -> Lineage:
    """What a key the caller mints inherits: a key's owner and team, or a person's own
    member id and team. A caller kept to its own keys but no member here owns none, so
    it mints none."""
    if who.key is not None:
        return minted_by_key(await _caller_key(request, who))
    if who.reach == "":
        raise PermissionDenied("You are no member of this organization, so you own no keys.")
    if who.member_id is None:
        subject = who.token.subject if who.token else ""
        return Lineage("person", f"sub:{subject}")
    member = await request.config_dict[MEMBERS].get(who.member_id)
    team = member["team_id"] if member else None
    return Lineage("person", who.member_id, who.member_id, team)


def spec_of_body(
    body: dict[str, object], known: Collection[str] = (), zone: str = "UTC"
) -> KeySpec:
    """A key request (JSON body or dashboard form) as a KeySpec; InvalidRequest per field.
    `known`: the providers a key may be pinned to; `zone` ends a bare expiry date."""
    data = dict(body)
    return KeySpec(
        str(bodies.text_field(data, "name")),
        tuple(bodies.scopes_field(data)),
        tuple(bodies.str_list(data, "models")),
        bodies.quotas_field(data),
        bodies.on_insufficient_field(data),
        bodies.expiry_field(data, zone=zone),
        bodies.providers_field(data, known),
    )


def _denied(exc: GrantTooWide) -> PermissionDenied:
    return PermissionDenied(exc.message, param=exc.field)


async def create_key_for(
    request: web.Request,
    who: Principal,
    spec: KeySpec,
    right: Right = Right.KEY,
    token: bool = False,
) -> dict[str, Any]:
    """Mint a key for the caller (services/mint.py: within what it holds, under its
    lineage); the answer carries the secret, shown once. A `token` (/v1/auth/tokens) a
    key mints ends with that key's secret."""
    app = request.config_dict
    creator = await creator_of(request, who)
    issued = await mint_key(key_stores(request), creator, spec, right, token)
    row = bodies.found(await app[DIRECTORY].key_with_use(issued.key_id), "No such key.")
    await audited.record(
        request, "key.create", "key", row["id"], who.account_id, None, key_json(row)
    )
    return {**key_use_json(row), "key": issued.secret}


async def create_key(request: web.Request) -> web.Response:
    who = require(request, KEYS_WRITE)
    settings = request.config_dict[SETTINGS]
    spec = spec_of_body(parse_json(await request.read()), settings.providers, settings.timezone)
    return web.json_response(await create_key_for(request, who, spec), status=201)


async def own_key(request: web.Request, who: Principal, key_id: str) -> Row:
    """One of the caller's account's keys within its reach, or NotFound (never another
    account's, nor another member's for a caller kept to its own keys)."""
    row = await request.config_dict[DIRECTORY].key_with_use(key_id)
    if row is None:
        raise NotFound("No such key.")
    who.check(request, Resource(row["account_id"], row.get("member_id")), "No such key.")
    return row


async def delete_key(request: web.Request) -> web.Response:
    who = require(request, KEYS_WRITE)
    row = await own_key(request, who, request.match_info["key_id"])
    await revoke_key_for(request, row)
    return web.json_response({"id": row["id"], "object": "api_key", "deleted": True})


async def revoke_key_for(request: web.Request, row: Row) -> None:
    """Revoke one of the caller's keys (the API and the dashboard)."""
    app = request.config_dict
    revoked = await revoke_key(app[LEDGER], app[STORE], row)
    after = key_json(revoked) if revoked is not None else None
    await audited.record(
        request, "key.revoke", "key", row["id"], row["account_id"], key_json(row), after
    )


async def _check_rotation(request: web.Request, who: Principal, row: Row) -> None:
    """A key may rotate itself; rotating another key issues its grant, so it must fit ours."""
    if who.key is None or who.key.key_id == row["id"]:
        return
    try:
        check_within(await caller_grant(request, who), grant_of_key(row))
    except GrantTooWide as exc:
        raise _denied(exc) from exc


async def rotate_for(request: web.Request, who: Principal, row: Row, grace: int) -> dict[str, Any]:
    """A new secret for `row`; the old one keeps working for `grace` seconds."""
    if row["revoked_at"] is not None:
        raise InvalidRequest("A revoked key cannot be rotated.", param="key_id")
    await _check_rotation(request, who, row)
    app = request.config_dict
    org = (app[TEAMS], app[BUDGETS])
    issued = await rotate_key(app[LEDGER], app[STORE], app[DIRECTORY], row, grace, org)
    new_row = bodies.found(await app[DIRECTORY].key_with_use(issued.key_id), "No such key.")
    old_row = bodies.found(await app[DIRECTORY].key_with_use(row["id"]), "No such key.")
    await audited.record(
        request, "key.rotate", "key", row["id"], row["account_id"], key_json(row), key_json(new_row)
    )
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
    """A key's own limits, within the account's limits and, for a key, within its own grant:
    a key tightens its own quotas but never loosens them, nor those of a key it reaches."""
    app = request.config_dict
    try:
        check_key_quotas(await app[STORE].account_quotas(who.account_id), quotas)
        if who.key is not None:
            check_within(
                await caller_grant(request, who), replace(grant_of_key(row), quotas=quotas)
            )
    except GrantTooWide as exc:
        raise _denied(exc) from exc
    written = await set_key_quotas(app[LEDGER], app[STORE], row, quotas)
    now = bodies.found(await app[DIRECTORY].key_with_use(row["id"]), "No such key.")
    await audited.record(
        request, "key.quotas", "key", row["id"], row["account_id"], key_json(row), key_json(now)
    )
    await key_grants.followed(request, written)
    return key_use_json(now)


async def put_quotas(request: web.Request) -> web.Response:
    who = require(request, KEYS_WRITE)
    row = await own_key(request, who, request.match_info["key_id"])
    quotas = bodies.quotas_field(parse_json(await request.read()))
    return web.json_response(await set_quotas_for(request, who, row, quotas))


async def narrow_key(request: web.Request) -> web.Response:
    """Narrow a key's scopes or expiry; the keys minted under it follow."""
    who = require(request, KEYS_WRITE)
    row = await own_key(request, who, request.match_info["key_id"])
    app = request.config_dict
    grant = narrowed_grant(row, parse_json(await request.read()), app[SETTINGS].timezone)
    written = await set_key_grant(app[LEDGER], app[STORE], row, grant)
    now = bodies.found(await app[DIRECTORY].key_with_use(row["id"]), "No such key.")
    await audited.record(
        request, "key.narrow", "key", row["id"], row["account_id"], key_json(row), key_json(now)
    )
    await key_grants.followed(request, written)
    return web.json_response(key_use_json(now))


async def usage(request: web.Request) -> web.Response:
    who = require(request, USAGE_READ)
    return await usage_response(request, who.account_id, show_cost=show_cost(request))


async def ledger(request: web.Request) -> web.Response:
    who = require(request, ACCOUNT_READ)
    return await ledger_response(request, who.account_id, who.reach, show_cost=show_cost(request))


async def request_cost_within(request: web.Request, who: Principal, rid: str) -> RequestCost:
    """A request of the account whose key is within the caller's reach, else NotFound."""
    cost = await request_cost(request.config_dict[DIRECTORY], who.account_id, rid)
    if cost is None:
        raise NotFound(NO_REQUEST)
    if who.reach is not None:
        key = await request.config_dict[LEDGER].get_key(cost.entry.get("key_id") or "")
        owner = key.get("member_id") if key else None
        who.check(request, Resource(who.account_id, owner), NO_REQUEST)
    return cost


async def request_cost_of(request: web.Request) -> web.Response:
    """The request's entry (its debit, else its newest row), every ledger row of the request
    oldest first, and the debit's price arithmetic as the dashboard's request page prints it
    (null without a registered price version)."""
    who = require(request, ACCOUNT_READ)
    rid = request.match_info["request_id"]
    cost = await request_cost_within(request, who, rid)
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
    declare(
        r,
        Route("GET", "", get_account, authority.ACCOUNT_READ, doc=account_doc.GET_ACCOUNT),
        Route("GET", "/keys", list_keys, authority.KEYS_READ, doc=account_doc.LIST_KEYS),
        Route(
            "POST",
            "/keys",
            create_key,
            authority.KEYS_WRITE,
            audits("key.create"),
            doc=account_doc.CREATE_KEY,
        ),
        Route(
            "DELETE",
            "/keys/{key_id}",
            delete_key,
            authority.KEYS_WRITE,
            audits("key.revoke"),
            doc=account_doc.DELETE_KEY,
        ),
        Route(
            "PATCH",
            "/keys/{key_id}",
            narrow_key,
            authority.KEYS_WRITE,
            audits("key.narrow"),
            doc=account_doc.NARROW_KEY,
        ),
        Route(
            "POST",
            "/keys/{key_id}/rotate",
            rotate,
            authority.KEYS_WRITE,
            audits("key.rotate"),
            doc=account_doc.ROTATE_KEY,
        ),
        Route(
            "PUT",
            "/keys/{key_id}/quotas",
            put_quotas,
            authority.KEYS_WRITE,
            audits("key.quotas"),
            doc=account_doc.PUT_QUOTAS,
        ),
        Route("GET", "/usage", usage, authority.USAGE_READ, doc=account_doc.USAGE),
        Route("GET", "/ledger", ledger, authority.LEDGER_READ, doc=account_doc.LEDGER),
        Route(
            "GET",
            "/requests/{request_id}",
            request_cost_of,
            authority.LEDGER_READ,
            doc=account_doc.REQUEST_COST_OF,
        ),
    )
    credit_grants.add_account_routes(account)
    audit_log.add_account_routes(account)
    end_user_budgets.add_account_routes(account)
    teams.add_account_routes(account)
    scim_token.add_account_routes(account)
    account_alerts.add_routes(account)
    account_members.add_account_routes(account)
    account_domains.add_routes(account)
    statements.add_account_routes(account)
    focus.add_account_routes(account)
    app.add_subapp("/v1/account", account)
