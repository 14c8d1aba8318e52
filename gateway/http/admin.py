"""The operator API under /admin/v1: accounts, credits, keys, quotas, plans, usage, ledger.

Writes go to PostgreSQL first (the record of truth) and then to Redis (what the hot path
reads), so a change is live on every gateway process as soon as the call returns.
"""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from billing.quotas import QuotaSpecError, parse_quotas, quota_to_json
from gateway.appkeys import LEDGER, PLANS, SETTINGS, STORE
from gateway.errors import Conflict, InvalidApiKey, InvalidRequest, NotFound
from gateway.http.serialize import account_json, entry_json, key_json
from gateway.llm.calls import parse_json
from gateway.services.auth import new_id
from gateway.services.provisioning import KeySpec, issue_key
from gateway.services.usage_view import window_usage
from gateway.stores.errors import DuplicateCredit
from gateway.stores.records import Row
from gateway.stores.redis.keys import shard_of

MAX_PAGE = 500


@web.middleware
async def admin_auth(request: web.Request, handler: Any) -> web.StreamResponse:
    """Only the admin sub-application runs this, so proxied calls never pay for it."""
    auth = request.headers.get("Authorization", "")
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    expected = request.config_dict[SETTINGS].admin_api_key
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise InvalidApiKey("Admin API requires 'Authorization: Bearer $ADMIN_API_KEY'.")
    response: web.StreamResponse = await handler(request)
    return response


def _str(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise InvalidRequest(f"'{name}' must be a non-empty string.", param=name)
    return value


def _str_list(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(f"'{name}' must be an array of strings.", param=name)
    return value


def _quotas(body: dict[str, Any]) -> tuple[Any, ...]:
    try:
        return parse_quotas(body.get("quotas", []))
    except QuotaSpecError as exc:
        raise InvalidRequest(str(exc), param="quotas") from exc


def _found(row: Row | None, message: str) -> Row:
    if row is None:
        raise NotFound(message)
    return row


async def _account(request: web.Request) -> Row:
    row = await request.config_dict[LEDGER].get_account(request.match_info["account_id"])
    return _found(row, "No such account.")


async def create_account(request: web.Request) -> web.Response:
    body = parse_json(await request.read())
    name = _str(body, "name")
    plans = request.config_dict[PLANS]
    plan_name = _str(body, "plan", required=False) or plans.default
    plan = plans.get(plan_name)
    if plan is None:
        raise InvalidRequest(f"Unknown plan '{plan_name}'.", param="plan")
    account_id = new_id("acct")
    await request.config_dict[LEDGER].create_account(account_id, str(name), plan.name, plan.mode)
    await request.config_dict[STORE].put_account(
        account_id, plan=plan.name, mode=plan.mode, billing_ready=False, quotas=plan.quotas
    )
    row = _found(await request.config_dict[LEDGER].get_account(account_id), "No such account.")
    return web.json_response(account_json(row, (0, 0)), status=201)


async def get_account(request: web.Request) -> web.Response:
    row = await _account(request)
    hot = await request.config_dict[STORE].balance(row["id"])
    return web.json_response(account_json(row, hot))


async def add_credit(request: web.Request) -> web.Response:
    row = await _account(request)
    body = parse_json(await request.read())
    amount = body.get("amount_micros")
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount < 2**53:
        raise InvalidRequest("'amount_micros' must be a positive integer.", param="amount_micros")
    idem = str(_str(body, "idempotency_key"))
    reason = _str(body, "reason", required=False) or "operator credit"
    try:
        result = await request.config_dict[LEDGER].credit(row["id"], amount, idem, reason)
    except DuplicateCredit as exc:
        raise Conflict(
            "This idempotency_key was already used for a different amount.", param="idempotency_key"
        ) from exc
    balance = await request.config_dict[STORE].apply_credit(row["id"], result.entry_id, amount)
    return web.json_response(
        {
            "entry_id": result.entry_id,
            "account_id": row["id"],
            "amount_micros": amount,
            "balance_micros": balance,
            "idempotent_replay": not result.created,
        },
        status=201 if result.created else 200,
    )


async def set_plan(request: web.Request) -> web.Response:
    row = await _account(request)
    body = parse_json(await request.read())
    plan = request.config_dict[PLANS].get(str(_str(body, "plan")))
    if plan is None:
        raise InvalidRequest(f"Unknown plan '{body['plan']}'.", param="plan")
    mode = body.get("mode", plan.mode)
    if mode not in ("prepaid", "postpaid"):
        raise InvalidRequest("'mode' must be prepaid or postpaid.", param="mode")
    billing_ready = body.get("billing_ready", row["billing_ready"])
    if not isinstance(billing_ready, bool):
        raise InvalidRequest("'billing_ready' must be a boolean.", param="billing_ready")
    await request.config_dict[LEDGER].set_plan(row["id"], plan.name, mode, billing_ready)
    await request.config_dict[STORE].put_account(
        row["id"], plan=plan.name, mode=mode, billing_ready=billing_ready, quotas=plan.quotas
    )
    return await get_account(request)


def _expiry(body: dict[str, Any]) -> datetime | None:
    raw = body.get("expires_at")
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidRequest("'expires_at' must be an RFC 3339 time.", param="expires_at") from exc
    if when.tzinfo is None:
        raise InvalidRequest("'expires_at' needs a UTC offset.", param="expires_at")
    return when


async def create_key(request: web.Request) -> web.Response:
    body = parse_json(await request.read())
    account_id = str(_str(body, "account_id"))
    if await request.config_dict[LEDGER].get_account(account_id) is None:
        raise NotFound("No such account.", param="account_id")
    on_insufficient = body.get("on_insufficient")
    if on_insufficient not in (None, "refuse", "clamp"):
        raise InvalidRequest("'on_insufficient' must be refuse or clamp.", param="on_insufficient")
    name, scopes, models = (
        str(_str(body, "name")),
        _str_list(body, "scopes"),
        _str_list(body, "models"),
    )
    quotas, expires = _quotas(body), _expiry(body)
    spec = KeySpec(name, scopes, models, quotas, on_insufficient, expires)
    issued = await issue_key(
        request.config_dict[LEDGER], request.config_dict[STORE], account_id, spec
    )
    row = _found(await request.config_dict[LEDGER].get_key(issued.key_id), "No such key.")
    return web.json_response({**key_json(row), "key": issued.secret}, status=201)


async def _key_row(request: web.Request) -> Row:
    row = await request.config_dict[LEDGER].get_key(request.match_info["key_id"])
    return _found(row, "No such key.")


async def revoke_key(request: web.Request) -> web.Response:
    row = await _key_row(request)
    revoked = await request.config_dict[LEDGER].revoke_key(row["id"])
    await request.config_dict[STORE].revoke_key(shard_of(row["account_id"]), row["id"])
    return web.json_response(key_json(_found(revoked, "No such key.")))


async def put_key_quotas(request: web.Request) -> web.Response:
    row = await _key_row(request)
    quotas = _quotas(parse_json(await request.read()))
    updated = await request.config_dict[LEDGER].set_key_quotas(row["id"], quotas)
    await request.config_dict[STORE].set_key_quotas(shard_of(row["account_id"]), row["id"], quotas)
    return web.json_response(key_json(_found(updated, "No such key.")))


async def key_usage(request: web.Request) -> web.Response:
    row = await _key_row(request)
    quotas = tuple(parse_quotas(json.loads(row["quotas"])))
    store = request.config_dict[STORE]
    windows = await window_usage(store, shard_of(row["account_id"]), "k", row["id"], quotas)
    return web.json_response(
        {"key_id": row["id"], "account_id": row["account_id"], "windows": windows}
    )


async def account_usage(request: web.Request) -> web.Response:
    row = await _account(request)
    store = request.config_dict[STORE]
    shard = shard_of(row["id"])
    quotas = await store.account_quotas(row["id"])
    windows = await window_usage(store, shard, "a", row["id"], quotas)
    return web.json_response(
        {
            "account_id": row["id"],
            "plan": row["plan"],
            "windows": windows,
            "quotas": [quota_to_json(q) for q in quotas],
        }
    )


async def ledger_page(request: web.Request) -> web.Response:
    row = await _account(request)
    try:
        limit = min(int(request.query.get("limit", "50")), MAX_PAGE)
        before = int(request.query["before"]) if "before" in request.query else None
    except ValueError as exc:
        raise InvalidRequest("'limit' and 'before' must be integers.") from exc
    if limit < 1:
        raise InvalidRequest("'limit' must be at least 1.", param="limit")
    rows = await request.config_dict[LEDGER].entries(row["id"], before=before, limit=limit + 1)
    page = rows[:limit]
    more = len(rows) > limit
    return web.json_response(
        {
            "data": [entry_json(r) for r in page],
            "has_more": more,
            "next_before": page[-1]["id"] if more else None,
            "as_of": datetime.now(UTC).isoformat(),
        }
    )


def add_routes(app: web.Application) -> None:
    admin = web.Application(middlewares=[admin_auth])
    r = admin.router
    r.add_post("/accounts", create_account)
    r.add_get("/accounts/{account_id}", get_account)
    r.add_post("/accounts/{account_id}/credits", add_credit)
    r.add_put("/accounts/{account_id}/plan", set_plan)
    r.add_get("/accounts/{account_id}/usage", account_usage)
    r.add_get("/accounts/{account_id}/ledger", ledger_page)
    r.add_post("/keys", create_key)
    r.add_delete("/keys/{key_id}", revoke_key)
    r.add_put("/keys/{key_id}/quotas", put_key_quotas)
    r.add_get("/keys/{key_id}/usage", key_usage)
    app.add_subapp("/admin/v1/", admin)
