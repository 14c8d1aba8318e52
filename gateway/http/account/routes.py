"""The account API under /v1/account: what the people who pay see of their own account.

Callers are API keys carrying the route's scope, or signed-in users (JWT) whose `scope` claim
carries it (gateway/http/principal.py). Every route is confined to the caller's own account.
"""

from __future__ import annotations

from aiohttp import web

from billing import authority
from gateway.http import audited, bodies, key_grants
from gateway.http.account import commitment, receipts, runway
from gateway.http.account import domains as account_domains
from gateway.http.account.key_narrowing import narrowed_grant
from gateway.http.appkeys import (
    DIRECTORY,
    LEDGER,
    SETTINGS,
    STORE,
)
from gateway.http.fields import MAX_GRACE_S
from gateway.http.openapi.paths import account as account_doc
from gateway.http.principal import (
    ACCOUNT_READ,
    KEYS_READ,
    KEYS_WRITE,
    USAGE_READ,
    principal_middleware,
    require,
)
from gateway.http.routing import Route, audits, declare
from gateway.http.serialize import entry_json, key_json, key_use_json
from gateway.http.shared import credit_grants, end_user_budgets, scim_token, teams
from gateway.http.shared import members as account_members
from gateway.http.shared.account_keys import (
    create_key_for,
    own_key,
    revoke_key_for,
    rotate_for,
    set_quotas_for,
    spec_of_body,
    visible_keys,
)
from gateway.http.shared.contracts import byok, invoices, statements
from gateway.http.shared.overview import (
    account_overview,
    customer_arithmetic,
    request_cost_within,
    show_cost,
)
from gateway.http.shared.proof import audit_log
from gateway.http.shared.trust import alerts as account_alerts
from gateway.http.shared.trust import anomalies
from gateway.http.shared.usage import focus, tags
from gateway.http.shared.usage.reports import json_for, ledger_response, usage_response
from gateway.llm.reading.calls import parse_json
from gateway.services.keys.life_cycle import (
    set_key_grant,
)


async def get_account(request: web.Request) -> web.Response:
    who = require(request, ACCOUNT_READ)
    return json_for(show_cost(request), await account_overview(request, who.account_id, who))


async def list_keys(request: web.Request) -> web.Response:
    rows = await visible_keys(request, require(request, KEYS_READ))
    return web.json_response({"object": "list", "data": [key_use_json(r) for r in rows]})


async def create_key(request: web.Request) -> web.Response:
    who = require(request, KEYS_WRITE)
    settings = request.config_dict[SETTINGS]
    spec = spec_of_body(parse_json(await request.read()), settings.providers, settings.timezone)
    return web.json_response(await create_key_for(request, who, spec), status=201)


async def delete_key(request: web.Request) -> web.Response:
    who = require(request, KEYS_WRITE)
    row = await own_key(request, who, request.match_info["key_id"])
    await revoke_key_for(request, row)
    return web.json_response({"id": row["id"], "object": "api_key", "deleted": True})


async def rotate(request: web.Request) -> web.Response:
    who = require(request, KEYS_WRITE)
    row = await own_key(request, who, request.match_info["key_id"])
    raw = await request.read()
    body = parse_json(raw) if raw.strip() else {}
    grace = bodies.int_field(
        body, "grace_seconds", request.config_dict[SETTINGS].key_rotation_grace_s, MAX_GRACE_S
    )
    return web.json_response(await rotate_for(request, who, row, grace), status=201)


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
    anomalies.add_account_routes(account)
    byok.add_account_routes(account)
    audit_log.add_account_routes(account)
    end_user_budgets.add_account_routes(account)
    teams.add_account_routes(account)
    tags.add_account_routes(account)
    scim_token.add_account_routes(account)
    account_alerts.add_routes(account)
    account_members.add_account_routes(account)
    account_domains.add_routes(account)
    statements.add_account_routes(account)
    invoices.add_account_routes(account)
    receipts.add_account_routes(account)
    runway.add_account_routes(account)
    commitment.add_account_routes(account)
    focus.add_account_routes(account)
    app.add_subapp("/v1/account", account)
