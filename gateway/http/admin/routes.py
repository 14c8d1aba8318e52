"""The operator API under /admin/v1: accounts, credits, keys, quotas, plans, usage, ledger.

Writes go to PostgreSQL first (the record of truth) and then to Redis (what the hot path
reads), so a change is live on every gateway process as soon as the call returns.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from billing import authority
from billing.display import usd_exact
from billing.money import MAX_CREDIT_LINE_MICROS as MAX_CREDIT_LINE
from billing.plans import markup_bps
from billing.quotas import parse_quotas, quota_to_json
from gateway.errors import Conflict, InvalidRequest, NotFound
from gateway.http import audited, bodies, key_grants
from gateway.http.account import (
    audit_log,
    credit_grants,
    end_user_budgets,
    focus,
    scim_token,
    statements,
    teams,
)
from gateway.http.account.reports import ledger_response
from gateway.http.admin import directory as admin_directory
from gateway.http.admin import keys as admin_keys
from gateway.http.admin import money as admin_money
from gateway.http.admin import prices as admin_prices
from gateway.http.admin import services as admin_services
from gateway.http.admin import signups as admin_signups
from gateway.http.admin import system as admin_system
from gateway.http.admin.operator import verify_operator
from gateway.http.appkeys import BUDGETS, IDEMPOTENCY, LEDGER, PLANS, SETTINGS, STORE, TEAMS
from gateway.http.audited import ACTOR
from gateway.http.openapi import paths as ops_doc
from gateway.http.routing import Route, audits, declare
from gateway.http.serialize import account_json, key_json
from gateway.http.whole import json_whole
from gateway.llm.calls import parse_json
from gateway.services import keys as key_service
from gateway.services import mint
from gateway.services.audit import Actor
from gateway.services.auth import new_id
from gateway.services.idempotency import idempotent, plan_use
from gateway.services.mint import KeyStores, Right, mint_key
from gateway.services.plan_change import (
    apply_credit_line,
    apply_markup,
    apply_plan,
    put_account_row,
)
from gateway.services.provisioning import KeySpec
from gateway.services.usage_view import window_usage
from gateway.stores.errors import LineTooLow
from gateway.stores.ports.hot import shard_of
from gateway.stores.records import HotBalance, Row

ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")


@web.middleware
async def admin_auth(request: web.Request, handler: Any) -> web.StreamResponse:
    """Only the admin sub-application runs this, so proxied calls never pay for it.

    The ADMIN_API_KEY, or a user token with the `admin` scope (http/admin/operator.py)."""
    auth = request.headers.get("Authorization", "")
    op = await verify_operator(request, auth[7:].strip() if auth[:7].lower() == "bearer " else "")
    request[ACTOR] = Actor("operator", op.label, "jwt" if op.token else "admin key")
    response: web.StreamResponse = await handler(request)
    return response


def _path_id(request: web.Request, name: str) -> str:
    """Ids are short ASCII tokens; anything else (a NUL, 10 kB) is simply not found."""
    value = request.match_info[name]
    if not ID_SHAPE.fullmatch(value):
        raise NotFound("No such resource.")
    return value


def _found(row: Row | None, message: str) -> Row:
    if row is None:
        raise NotFound(message)
    return row


async def _account(request: web.Request) -> Row:
    row = await request.config_dict[LEDGER].get_account(_path_id(request, "account_id"))
    return _found(row, "No such account.")


async def open_account(request: web.Request, body: dict[str, Any]) -> tuple[Row, bool]:
    """Redis first, then PostgreSQL: an account the ledger knows always has its hot record
    (the proxy called the keys of one without it invalid), and a hot record whose insert
    failed is inert. With `idempotency_key` a retry names the same account (not created)
    and completes whatever the failed call left undone. The API and the Operators pages."""
    name = str(bodies.text_field(body, "name"))
    plans = request.config_dict[PLANS]
    plan_name = bodies.text_field(body, "plan", required=False) or plans.default
    plan = plans.get(plan_name)
    if plan is None:
        raise InvalidRequest(f"Unknown plan '{plan_name}'.", param="plan")
    idem = bodies.text_field(body, "idempotency_key", required=False)
    ledger, store = request.config_dict[LEDGER], request.config_dict[STORE]
    prior = await ledger.account_by_idempotency_key(str(idem)) if idem else None
    if prior is not None:
        return await _replayed(request, prior, name, body), False
    await admin_directory.refuse_taken_external_id(request, body)
    account_id = new_id("acct")
    await store.put_account(
        account_id,
        plan=plan.name,
        mode=plan.mode,
        billing_ready=False,
        quotas=plan.quotas,
        markup_bps=plan.markup_bps,
    )
    if idem:
        row, created = await ledger.open_account(account_id, name, plan.name, plan.mode, idem)
        if not created:  # a concurrent call with the same key won
            return await _replayed(request, row, name, body), False
    else:
        await ledger.create_account(account_id, name, plan.name, plan.mode)
    await admin_directory.apply_external_id(request, account_id, body)
    row = _found(await ledger.get_account(account_id), "No such account.")
    await audited.record(
        request, "account.create", "account", account_id, account_id, None, plan_of(row)
    )
    return row, True


async def create_account(request: web.Request) -> web.Response:
    row, created = await open_account(request, parse_json(await request.read()))
    if created:
        return web.json_response(account_json(row, HotBalance(0, 0, 0)), status=201)
    return web.json_response(account_json(row, await request.config_dict[STORE].money(row["id"])))


async def _replayed(request: web.Request, row: Row, name: str, body: Any) -> Row:
    """The account an idempotency key already opened: its hot record written again (the
    first call may have failed before it), its external id applied."""
    if row["name"] != name:
        raise Conflict(
            "This idempotency_key was already used for a different account.",
            param="idempotency_key",
        )
    app = request.config_dict
    await put_account_row(app[STORE], row, app[PLANS].get(row["plan"]))
    await admin_directory.apply_external_id(request, row["id"], body)
    return _found(await app[LEDGER].get_account(row["id"]), "No such account.")


def plan_of(row: Row) -> dict[str, Any]:
    """An account's plan as the audit log keeps it."""
    return {"plan": row["plan"], "mode": row["mode"], "billing_ready": row["billing_ready"]}


async def get_account(request: web.Request) -> web.Response:
    row = await _account(request)
    hot = await request.config_dict[STORE].money(row["id"])
    return web.json_response(account_json(row, hot))


async def set_account_plan(request: web.Request, row: Row, body: dict[str, Any]) -> None:
    """Plan (and optionally mode, billing_ready) from a body; live on the next request."""
    plan = request.config_dict[PLANS].get(str(bodies.text_field(body, "plan")))
    if plan is None:
        raise InvalidRequest(f"Unknown plan '{body['plan']}'.", param="plan")
    mode = body.get("mode", plan.mode)
    if mode not in ("prepaid", "postpaid"):
        raise InvalidRequest("'mode' must be prepaid or postpaid.", param="mode")
    billing_ready = body.get("billing_ready", row["billing_ready"])
    if not isinstance(billing_ready, bool):
        raise InvalidRequest("'billing_ready' must be a boolean.", param="billing_ready")
    idem = bodies.text_field(body, "idempotency_key", required=False)
    ledger, store = request.config_dict[LEDGER], request.config_dict[STORE]
    if idem is None:
        await apply_plan(ledger, store, row["id"], plan, mode=mode, billing_ready=billing_ready)
    else:
        use = plan_use(row["id"], plan.name, body.get("mode"), body.get("billing_ready"))
        async with idempotent(request.config_dict[IDEMPOTENCY], row["id"], str(idem), use):
            await apply_plan(ledger, store, row["id"], plan, mode=mode, billing_ready=billing_ready)
    after = {"plan": plan.name, "mode": mode, "billing_ready": billing_ready}
    await audited.record(
        request, "account.plan", "account", row["id"], row["id"], plan_of(row), after
    )


async def set_plan(request: web.Request) -> web.Response:
    row = await _account(request)
    await set_account_plan(request, row, parse_json(await request.read()))
    return await get_account(request)


async def set_markup(request: web.Request) -> web.Response:
    """`{"markup_bps": 2000}` sets the account's own markup over provider cost, overriding
    its plan's; `null` clears it. Live on the next request; holds made keep theirs."""
    row = await _account(request)
    body = parse_json(await request.read())
    if "markup_bps" not in body:
        raise InvalidRequest("'markup_bps' is required (null clears it).", param="markup_bps")
    raw = body["markup_bps"]
    try:
        markup = None if raw is None else markup_bps(raw)
    except ValueError as exc:
        raise InvalidRequest(f"{exc}.", param="markup_bps") from exc
    app = request.config_dict
    await apply_markup(app[LEDGER], app[STORE], app[PLANS], row["id"], markup)
    await audited.record(
        request,
        "account.markup",
        "account",
        row["id"],
        row["id"],
        {"markup_bps": row.get("markup_bps")},
        {"markup_bps": markup},
    )
    return await get_account(request)


async def set_credit_line(request: web.Request) -> web.Response:
    """`{"credit_line_micros": 50000000}` lets the account's balance go down to minus it
    (postpaid up to a line); 0 removes it. Live on the next request."""
    row = await _account(request)
    raw = parse_json(await request.read()).get("credit_line_micros")
    line = json_whole(raw, "credit_line_micros", maximum=MAX_CREDIT_LINE)
    try:
        await apply_credit_line(
            request.config_dict[LEDGER], request.config_dict[STORE], row["id"], line
        )
    except LineTooLow as exc:
        raise InvalidRequest(
            f"The account already uses {usd_exact(exc.least_micros)} of credit (spent or held"
            " by running requests); its credit line cannot go below that.",
            param="credit_line_micros",
        ) from exc
    await audited.record(
        request,
        "account.credit_line",
        "account",
        row["id"],
        row["id"],
        {"credit_line_micros": row.get("credit_line_micros", 0)},
        {"credit_line_micros": line},
    )
    return await get_account(request)


async def uncollected(request: web.Request) -> web.Response:
    """The newest 100 parts of the account's debits it could not pay (docs: Reservations)."""
    row = await _account(request)
    rows = await request.config_dict[LEDGER].uncollected(row["id"])
    data = [{**r, "occurred_at": r["occurred_at"].isoformat()} for r in rows]
    return web.json_response({"object": "list", "data": data})


async def issue_for(request: web.Request, account_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Issue a key to an account from the API's body (the API and the Operators pages): the
    key as the API answers it, with its secret, once; audited."""
    on_insufficient = bodies.on_insufficient_field(body)
    name, scopes, models = (
        str(bodies.text_field(body, "name")),
        bodies.scopes_field(body),
        bodies.str_list(body, "models"),
    )
    zone = request.config_dict[SETTINGS].timezone
    quotas, expires = bodies.quotas_field(body), bodies.expiry_field(body, zone=zone)
    providers = bodies.providers_field(body, request.config_dict[SETTINGS].providers)
    spec = KeySpec(name, scopes, models, quotas, on_insufficient, expires, providers)
    app = request.config_dict
    stores = KeyStores(app[LEDGER], app[STORE], app[TEAMS], app[BUDGETS])
    issued = await mint_key(stores, mint.operator(account_id), spec, Right.OPERATOR)
    row = _found(await request.config_dict[LEDGER].get_key(issued.key_id), "No such key.")
    await audited.record(request, "key.create", "key", row["id"], account_id, None, key_json(row))
    return {**key_json(row), "key": issued.secret}


async def create_key(request: web.Request) -> web.Response:
    body = parse_json(await request.read())
    account_id = str(bodies.text_field(body, "account_id"))
    if not ID_SHAPE.fullmatch(account_id) or not await request.config_dict[LEDGER].get_account(
        account_id
    ):
        raise NotFound("No such account.", param="account_id")
    return web.json_response(await issue_for(request, account_id, body), status=201)


async def _key_row(request: web.Request) -> Row:
    row = await request.config_dict[LEDGER].get_key(_path_id(request, "key_id"))
    return _found(row, "No such key.")


async def revoke_key(request: web.Request) -> web.Response:
    row = await _key_row(request)
    app = request.config_dict
    revoked = _found(await key_service.revoke_key(app[LEDGER], app[STORE], row), "No such key.")
    await audited.record(
        request, "key.revoke", "key", row["id"], row["account_id"], key_json(row), key_json(revoked)
    )
    return web.json_response(key_json(revoked))


async def put_key_quotas(request: web.Request) -> web.Response:
    row = await _key_row(request)
    quotas = bodies.quotas_field(parse_json(await request.read()))
    app = request.config_dict
    written = await key_service.set_key_quotas(app[LEDGER], app[STORE], row, quotas)
    updated = _found(written[0] if written else None, "No such key.")
    await audited.record(
        request, "key.quotas", "key", row["id"], row["account_id"], key_json(row), key_json(updated)
    )
    await key_grants.followed(request, written)
    return web.json_response(key_json(updated))


async def key_usage(request: web.Request) -> web.Response:
    row = await _key_row(request)
    quotas = tuple(parse_quotas(json.loads(row["quotas"])))
    store = request.config_dict[STORE]
    windows = await window_usage(store, shard_of(row["account_id"]), "k", row["id"], quotas)
    return web.json_response(
        {"key_id": row["id"], "account_id": row["account_id"], "windows": windows}
    )


async def account_windows(request: web.Request, account_id: str) -> list[dict[str, Any]]:
    store = request.config_dict[STORE]
    quotas = await store.account_quotas(account_id)
    return await window_usage(store, shard_of(account_id), "a", account_id, quotas)


async def account_usage(request: web.Request) -> web.Response:
    row = await _account(request)
    quotas = await request.config_dict[STORE].account_quotas(row["id"])
    return web.json_response(
        {
            "account_id": row["id"],
            "plan": row["plan"],
            "windows": await account_windows(request, row["id"]),
            "quotas": [quota_to_json(q) for q in quotas],
        }
    )


async def ledger_page(request: web.Request) -> web.Response:
    row = await _account(request)
    return await ledger_response(request, row["id"])


def add_routes(app: web.Application) -> None:
    admin = web.Application(middlewares=[admin_auth])
    r = admin.router
    declare(
        r,
        Route(
            "POST",
            "/accounts",
            create_account,
            authority.OPERATOR,
            audits("account.create"),
            doc=ops_doc.CREATE_ACCOUNT,
        ),
        Route(
            "GET",
            "/accounts/{account_id}",
            get_account,
            authority.OPERATOR,
            doc=ops_doc.GET_ACCOUNT,
        ),
        Route(
            "PUT",
            "/accounts/{account_id}/plan",
            set_plan,
            authority.OPERATOR,
            audits("account.plan"),
            doc=ops_doc.SET_PLAN,
        ),
        Route(
            "PUT",
            "/accounts/{account_id}/markup",
            set_markup,
            authority.OPERATOR,
            audits("account.markup"),
            doc=ops_doc.SET_MARKUP,
        ),
        Route(
            "PUT",
            "/accounts/{account_id}/credit-line",
            set_credit_line,
            authority.OPERATOR,
            audits("account.credit_line"),
            doc=ops_doc.SET_CREDIT_LINE,
        ),
        Route(
            "GET",
            "/accounts/{account_id}/uncollected",
            uncollected,
            authority.OPERATOR,
            doc=ops_doc.UNCOLLECTED,
        ),
        Route(
            "GET",
            "/accounts/{account_id}/usage",
            account_usage,
            authority.OPERATOR,
            doc=ops_doc.ACCOUNT_USAGE,
        ),
        Route(
            "GET",
            "/accounts/{account_id}/ledger",
            ledger_page,
            authority.OPERATOR,
            doc=ops_doc.LEDGER_PAGE,
        ),
        Route(
            "POST",
            "/keys",
            create_key,
            authority.OPERATOR,
            audits("key.create"),
            doc=ops_doc.CREATE_KEY,
        ),
        Route(
            "DELETE",
            "/keys/{key_id}",
            revoke_key,
            authority.OPERATOR,
            audits("key.revoke"),
            doc=ops_doc.REVOKE_KEY,
        ),
        Route(
            "PUT",
            "/keys/{key_id}/quotas",
            put_key_quotas,
            authority.OPERATOR,
            audits("key.quotas"),
            doc=ops_doc.PUT_KEY_QUOTAS,
        ),
        Route("GET", "/keys/{key_id}/usage", key_usage, authority.OPERATOR, doc=ops_doc.KEY_USAGE),
    )
    admin_directory.add_routes(admin)
    admin_keys.add_routes(admin)
    credit_grants.add_admin_routes(admin)
    audit_log.add_admin_routes(admin)
    statements.add_admin_routes(admin)
    focus.add_admin_routes(admin)
    admin_money.add_routes(admin)
    end_user_budgets.add_admin_routes(admin)
    teams.add_admin_routes(admin)
    scim_token.add_admin_routes(admin)
    admin_services.add_routes(admin)
    admin_prices.add_routes(admin)
    admin_system.add_routes(admin)
    admin_signups.add_routes(admin)
    app.add_subapp("/admin/v1/", admin)
