"""End-user budgets over HTTP, for the operator (any account) and an account's own callers.

One resource per account, `end-user-budgets`: a PUT names its owner in the body (no
`key_id` and no `end_user`: the organization's default for every end user; a `key_id`: that
key's default; an `end_user`: that end user's own budget, which wins over both) with its
`quotas`; empty quotas remove it. An end user's id goes in the body, not the path, since
ids may hold '/'.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from billing import authority
from billing.grants import GrantTooWide
from billing.money.end_users import check_end_user_id, parse_end_user_quotas
from billing.money.quotas import Quota, QuotaSpecError
from gateway.errors import InvalidRequest, NotFound, PermissionDenied
from gateway.http import audited
from gateway.http.appkeys import BUDGETS, LEDGER, STORE
from gateway.http.openapi.paths import organization as org_doc
from gateway.http.principal import ACCOUNT_READ, ORG_WRITE, calling_key, no_looser, require
from gateway.http.routing import Route, audits, declare
from gateway.llm.reading.calls import parse_json
from gateway.services.money.end_user_budgets import set_end_user_budget, set_key_budget
from gateway.stores.records import Row


def budget_json(row: Row) -> dict[str, Any]:
    """A budget; a removed one has no quotas, `deleted` and no `updated_at`."""
    level = "end_user" if row["end_user"] else "key" if row["key_id"] else "organization"
    out = {
        "object": "end_user_budget",
        "account_id": row["account_id"],
        "applies_to": level,
        "key_id": row["key_id"] or None,
        "end_user": row["end_user"] or None,
        "quotas": row["quotas"],
    }
    if row.get("updated_at") is None:
        return out | {"deleted": True}
    return out | {"updated_at": row["updated_at"].isoformat()}


def _owner(body: dict[str, Any]) -> tuple[str, str]:
    key_id, end_user = body.get("key_id"), body.get("end_user")
    if key_id is not None and end_user is not None:
        raise InvalidRequest(
            "Give 'key_id' (a key's default) or 'end_user' (one end user's), not both.",
            param="end_user",
        )
    if key_id is not None and (not isinstance(key_id, str) or not key_id):
        raise InvalidRequest("'key_id' must be a key's id.", param="key_id")
    try:
        return key_id or "", "" if end_user is None else check_end_user_id(end_user)
    except QuotaSpecError as exc:
        raise InvalidRequest(str(exc), param="end_user") from exc


def _quotas(body: dict[str, Any]) -> tuple[Quota, ...]:
    try:
        return parse_end_user_quotas(body.get("quotas"))
    except QuotaSpecError as exc:
        raise InvalidRequest(str(exc), param="quotas") from exc


async def put_budget(request: web.Request, account_id: str, body: dict[str, Any]) -> Row:
    """Set (or, with empty quotas, remove) the budget `body` names; the API's body or the
    dashboard's form. The budget as it is now (`deleted` when removed)."""
    app = request.config_dict
    (key_id, end_user), quotas = _owner(body), _quotas(body)
    if key_id:
        key = await app[LEDGER].get_key(key_id)
        if key is None or key["account_id"] != account_id:
            raise NotFound("No such key.")
        await _own_budget_tighter(request, key_id, quotas)
        try:
            row = await set_key_budget(app[LEDGER], app[BUDGETS], app[STORE], key, quotas)
        except GrantTooWide as exc:
            raise PermissionDenied(
                f"{exc.message} (the key that minted this key holds no more)", param=exc.field
            ) from exc
    else:
        owner = (account_id, key_id, end_user)
        row = await set_end_user_budget(app[BUDGETS], app[STORE], owner, quotas)
    if row is None:
        row = {"account_id": account_id, "key_id": key_id, "end_user": end_user, "quotas": []}
    target = f"{key_id or '*'}/{end_user or '*'}"
    await audited.record(
        request,
        "end_user_budget.set",
        "end_user_budget",
        target,
        account_id,
        None,
        budget_json(row),
    )
    return row


async def _own_budget_tighter(request: web.Request, key_id: str, quotas: tuple[Quota, ...]) -> None:
    """A key's own end-user budget, set by that key, only tightens."""
    caller = await calling_key(request)
    if caller is None or caller["id"] != key_id:
        return
    rows = await request.config_dict[BUDGETS].of_account(caller["account_id"])
    mine = (r["quotas"] for r in rows if r["key_id"] == key_id and not r["end_user"])
    current: list[Any] = next(mine, [])
    no_looser(parse_end_user_quotas(current), quotas)


async def _put(request: web.Request, account_id: str) -> web.Response:
    row = await put_budget(request, account_id, parse_json(await request.read()))
    return web.json_response(budget_json(row))


async def _list(request: web.Request, account_id: str) -> web.Response:
    rows = await request.config_dict[BUDGETS].of_account(account_id)
    return web.json_response({"object": "list", "data": [budget_json(r) for r in rows]})


async def _account(request: web.Request) -> str:
    account_id = request.match_info["account_id"]
    if await request.config_dict[LEDGER].get_account(account_id) is None:
        raise NotFound("No such account.")
    return account_id


async def admin_list(request: web.Request) -> web.Response:
    return await _list(request, await _account(request))


async def admin_put(request: web.Request) -> web.Response:
    return await _put(request, await _account(request))


async def account_list(request: web.Request) -> web.Response:
    return await _list(request, require(request, ACCOUNT_READ).account_id)


async def account_put(request: web.Request) -> web.Response:
    return await _put(request, require(request, ORG_WRITE).account_id)


def add_admin_routes(admin: web.Application) -> None:
    declare(
        admin.router,
        Route(
            "GET",
            "/accounts/{account_id}/end-user-budgets",
            admin_list,
            authority.OPERATOR,
            doc=org_doc.list_budgets,
        ),
        Route(
            "PUT",
            "/accounts/{account_id}/end-user-budgets",
            admin_put,
            authority.OPERATOR,
            audits("end_user_budget.set"),
            doc=org_doc.set_budget,
        ),
    )


def add_account_routes(account: web.Application) -> None:
    declare(
        account.router,
        Route(
            "GET",
            "/end-user-budgets",
            account_list,
            authority.ACCOUNT_READ,
            doc=org_doc.list_budgets,
        ),
        Route(
            "PUT",
            "/end-user-budgets",
            account_put,
            authority.ORG_WRITE,
            audits("end_user_budget.set"),
            doc=org_doc.set_budget,
        ),
    )
