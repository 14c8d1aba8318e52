"""Bring your own key as the account API, the operator API and the dashboard act on it: a
customer stores, replaces or removes its own provider key for an upstream (shown once as a
hint, never again in full); the operator lists who holds one (never the key) and sets the
platform fee. Every change is audited, with the hint only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from billing import authority
from billing.pricing.byok import ByokFee, FeeInvalid, KeyShapeInvalid, checked_fee, checked_key
from gateway.errors import InvalidRequest, NotFound
from gateway.http import audited
from gateway.http.appkeys import BYOK, SETTINGS, STORES
from gateway.http.openapi.paths import byok as doc
from gateway.http.principal import ACCOUNT_READ, ORG_WRITE, require
from gateway.http.routing import Route, audits, declare
from gateway.llm.reading.calls import parse_json
from gateway.services.contracts.byok import KEYED_WIRES
from gateway.stores.records import Row


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def fee_json(fee: ByokFee) -> dict[str, Any]:
    return {"object": "byok_fee", "percent_bps": fee.bps, "fixed_micros": fee.fixed_micros}


def key_json(row: Row) -> dict[str, Any]:
    """A stored key as anyone may see it: its upstream and hint, never the key."""
    out = {
        "object": "byok_key",
        "upstream": row["upstream"],
        "hint": row["hint"],
        "created_at": _iso(row.get("created_at")),
        "updated_at": _iso(row.get("updated_at")),
        "failing_since": _iso(row.get("failing_since")),
    }
    if "account_id" in row:
        out["account_id"] = row["account_id"]
    return out


def upstream_of(request: web.Request) -> str:
    """The path's upstream: a configured provider whose credential is an API key."""
    name = request.match_info["upstream"]
    provider = request.config_dict[SETTINGS].providers.get(name)
    if provider is None or provider.wire not in KEYED_WIRES:
        raise NotFound("No upstream of that name takes its own key here.")
    return name


async def keys_json(request: web.Request, account_id: str) -> dict[str, Any]:
    rows = await request.config_dict[STORES].byok().of_account(account_id)
    fee = fee_json(request.config_dict[BYOK].fee)
    return {"object": "list", "data": [key_json(r) for r in rows], "fee": fee}


async def store_key(request: web.Request, account_id: str, upstream: str, text: object) -> Row:
    """Store (or replace) the account's key for `upstream`; audited with its hint only."""
    try:
        plaintext = checked_key(text)
    except KeyShapeInvalid as exc:
        raise InvalidRequest(str(exc), param="api_key") from exc
    before = {r["upstream"]: r["hint"] for r in await _rows(request, account_id)}
    shown = await request.config_dict[BYOK].store(account_id, upstream, plaintext)
    await audited.record(
        request, "byok.store", "byok_key", upstream, account_id,
        {"upstream": upstream, "hint": before.get(upstream)}, {"upstream": upstream, "hint": shown},
    )  # fmt: skip
    [row] = [r for r in await _rows(request, account_id) if r["upstream"] == upstream]
    return row


async def remove_key(request: web.Request, account_id: str, upstream: str) -> dict[str, Any]:
    before = {r["upstream"]: r["hint"] for r in await _rows(request, account_id)}
    if not await request.config_dict[BYOK].remove(account_id, upstream):
        raise NotFound("No own key is stored for that upstream.")
    await audited.record(
        request, "byok.remove", "byok_key", upstream, account_id,
        {"upstream": upstream, "hint": before.get(upstream)}, {"upstream": upstream, "hint": None},
    )  # fmt: skip
    return {"object": "byok_key", "upstream": upstream, "deleted": True}


async def _rows(request: web.Request, account_id: str) -> list[Row]:
    return await request.config_dict[STORES].byok().of_account(account_id)


async def set_fee(request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    """The operator's platform fee; audited with the one it replaced."""
    try:
        fee = checked_fee(body.get("percent_bps"), body.get("fixed_micros"))
    except FeeInvalid as exc:
        raise InvalidRequest(str(exc), param=exc.field) from exc
    old = await request.config_dict[BYOK].set_fee(fee)
    before = None if old is None else {"percent_bps": old.bps, "fixed_micros": old.fixed_micros}
    after = {"percent_bps": fee.bps, "fixed_micros": fee.fixed_micros}
    await audited.record(request, "byok.fee", "byok_fee", "platform", None, before or {}, after)
    return fee_json(fee)


async def account_list(request: web.Request) -> web.Response:
    who = require(request, ACCOUNT_READ)
    return web.json_response(await keys_json(request, who.account_id))


async def account_store(request: web.Request) -> web.Response:
    who = require(request, ORG_WRITE)
    upstream = upstream_of(request)
    body = parse_json(await request.read())
    row = await store_key(request, who.account_id, upstream, body.get("api_key"))
    return web.json_response(key_json(row))


async def account_remove(request: web.Request) -> web.Response:
    who = require(request, ORG_WRITE)
    return web.json_response(await remove_key(request, who.account_id, upstream_of(request)))


async def holders_json(request: web.Request, upstream: str | None) -> dict[str, Any]:
    """Who holds an own key (of one upstream, or of any), hints only, and the fee."""
    rows = await request.config_dict[STORES].byok().holders(upstream)
    fee = fee_json(request.config_dict[BYOK].fee)
    return {"object": "list", "data": [key_json(r) for r in rows], "fee": fee}


async def admin_list(request: web.Request) -> web.Response:
    upstream = request.query.get("upstream")
    if upstream is not None and "\x00" in upstream:
        raise InvalidRequest("'upstream' must not hold NUL.", param="upstream")
    return web.json_response(await holders_json(request, upstream))


async def admin_fee(request: web.Request) -> web.Response:
    return web.json_response(await set_fee(request, parse_json(await request.read())))


def add_account_routes(account: web.Application) -> None:
    declare(
        account.router,
        Route("GET", "/byok", account_list, authority.ACCOUNT_READ, doc=doc.LIST_KEYS),
        Route(
            "PUT",
            "/byok/{upstream}",
            account_store,
            authority.ORG_WRITE,
            audits("byok.store"),
            doc=doc.STORE_KEY,
        ),
        Route(
            "DELETE",
            "/byok/{upstream}",
            account_remove,
            authority.ORG_WRITE,
            audits("byok.remove"),
            doc=doc.REMOVE_KEY,
        ),
    )


def add_admin_routes(admin: web.Application) -> None:
    declare(
        admin.router,
        Route("GET", "/byok", admin_list, authority.OPERATOR, doc=doc.ADMIN_LIST_KEYS),
        Route(
            "PUT", "/byok/fee", admin_fee, authority.OPERATOR, audits("byok.fee"), doc=doc.SET_FEE
        ),
    )
