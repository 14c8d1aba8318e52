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
from billing.money.display import usd_exact
from billing.money.micros import MAX_CREDIT_LINE_MICROS as MAX_CREDIT_LINE
from billing.money.quotas import parse_quotas, quota_to_json
from gateway.errors import InvalidRequest, NotFound
from gateway.http import audited, bodies, key_grants
from gateway.http.admin import commitments as admin_commitments
from gateway.http.admin import price_books as admin_price_books
from gateway.http.admin import prices as admin_prices
from gateway.http.admin import reconciliation as admin_reconciliation
from gateway.http.admin import services as admin_services
from gateway.http.appkeys import LEDGER, STORE
from gateway.http.audited import ACTOR
from gateway.http.openapi.paths import operator as ops_doc
from gateway.http.openapi.paths import prices as prices_doc
from gateway.http.routing import Route, audits, declare
from gateway.http.serialize import account_json, key_json
from gateway.http.shared import credit_grants, end_user_budgets, scim_token, teams
from gateway.http.shared import money as admin_money
from gateway.http.shared.contracts import byok, invoices, statements
from gateway.http.shared.operator import directory as admin_directory
from gateway.http.shared.operator import keys as admin_keys
from gateway.http.shared.operator import system as admin_system
from gateway.http.shared.operator.access import verify_operator
from gateway.http.shared.operator.accounts import (
    account_windows,
    issue_for,
    open_account,
    set_account_plan,
)
from gateway.http.shared.proof import audit_log
from gateway.http.shared.trust import anomalies
from gateway.http.shared.trust import signups as admin_signups
from gateway.http.shared.usage import focus, tags
from gateway.http.shared.usage.reports import ledger_response
from gateway.http.whole import json_whole
from gateway.llm.reading.calls import parse_json
from gateway.services.audit import Actor
from gateway.services.keys import life_cycle as key_service
from gateway.services.money.plan_change import (
    apply_credit_line,
)
from gateway.services.money.usage_view import window_usage
from gateway.stores.errors import LineTooLow
from gateway.stores.ports.hot import shard_of
from gateway.stores.records import HotBalance, Row

ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")


@web.middleware
async def admin_auth(request: web.Request, handler: Any) -> web.StreamResponse:
    """Only the admin sub-application runs this, so proxied calls never pay for it.

    The ADMIN_API_KEY, or a user token with the `admin` scope (http/shared/operator/access.py)."""
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


async def create_account(request: web.Request) -> web.Response:
    row, created = await open_account(request, parse_json(await request.read()))
    if created:
        return web.json_response(account_json(row, HotBalance(0, 0, 0)), status=201)
    return web.json_response(account_json(row, await request.config_dict[STORE].money(row["id"])))


async def get_account(request: web.Request) -> web.Response:
    row = await _account(request)
    hot = await request.config_dict[STORE].money(row["id"])
    return web.json_response(account_json(row, hot))


async def set_plan(request: web.Request) -> web.Response:
    row = await _account(request)
    await set_account_plan(request, row, parse_json(await request.read()))
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
            admin_prices.propose_markup,
            authority.OPERATOR,
            audits("account.markup"),
            doc=prices_doc.PROPOSE_MARKUP,
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
    anomalies.add_admin_routes(admin)
    byok.add_admin_routes(admin)
    audit_log.add_admin_routes(admin)
    statements.add_admin_routes(admin)
    invoices.add_admin_routes(admin)
    focus.add_admin_routes(admin)
    admin_money.add_routes(admin)
    end_user_budgets.add_admin_routes(admin)
    teams.add_admin_routes(admin)
    tags.add_admin_routes(admin)
    scim_token.add_admin_routes(admin)
    admin_services.add_routes(admin)
    admin_prices.add_routes(admin)
    admin_commitments.add_routes(admin)
    admin_price_books.add_routes(admin)
    admin_reconciliation.add_routes(admin)
    admin_system.add_routes(admin)
    admin_signups.add_routes(admin)
    app.add_subapp("/admin/v1/", admin)
