"""Own provider keys on the dashboard: the customer's, on the Keys page (store, replace or
remove a key, shown back only as its hint), and the operator's, on the System page (who
holds one per upstream, never the key, and the platform fee). The forms go through the same
functions as the account and operator APIs (http/shared/contracts/byok.py)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from billing import authority
from gateway.errors import InvalidRequest
from gateway.http.appkeys import SETTINGS
from gateway.http.dashboard.operators.accounts import operator
from gateway.http.dashboard.people.session import BASE, account_principal
from gateway.http.openapi.paths import dashboard as dashboard_doc
from gateway.http.principal import ACCOUNT_READ, ORG_WRITE, Principal
from gateway.http.routing import Route, audits, declare
from gateway.http.shared.contracts.byok import keys_json, remove_key, set_fee, store_key
from gateway.http.shared.contracts.byok import upstream_of as _upstream
from gateway.services.contracts.byok import KEYED_WIRES


def _keyed(request: web.Request) -> list[str]:
    providers = request.config_dict[SETTINGS].providers
    return sorted(n for n, p in providers.items() if p.wire in KEYED_WIRES)


async def keys_page_byok(request: web.Request, who: Principal) -> dict[str, Any]:
    """What the Keys page shows of own keys, to a caller who reads the account."""
    if not who.has(ACCOUNT_READ):
        return {"own_keys": [], "byok_fee": None, "byok_upstreams": []}
    listed = await keys_json(request, who.account_id)
    return {
        "own_keys": listed["data"],
        "byok_fee": listed["fee"],
        "byok_upstreams": _keyed(request) if who.has(ORG_WRITE) else [],
    }


async def store(request: web.Request) -> web.Response:
    who = account_principal(request)
    who.require(ORG_WRITE)
    upstream = _upstream(request)
    form = await request.post()
    await store_key(request, who.account_id, upstream, form.get("api_key"))
    raise web.HTTPSeeOther(f"{BASE}/keys?notice=byok")


async def remove(request: web.Request) -> web.Response:
    who = account_principal(request)
    who.require(ORG_WRITE)
    await remove_key(request, who.account_id, _upstream(request))
    raise web.HTTPSeeOther(f"{BASE}/keys?notice=byok-removed")


def _whole(form: Any, name: str) -> int:
    raw = form.get(name, "0")
    text = raw.strip() if isinstance(raw, str) else ""
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise InvalidRequest(f"'{name}' must be a whole number (at most 18 digits).", param=name)
    return int(text)


async def fee(request: web.Request) -> web.Response:
    operator(request)
    form = await request.post()
    body = {
        "percent_bps": _whole(form, "percent_bps"),
        "fixed_micros": _whole(form, "fixed_micros"),
    }
    await set_fee(request, body)
    raise web.HTTPSeeOther(f"{BASE}/system?notice=byok-fee")


def add_routes(dash: web.Application) -> None:
    declare(
        dash.router,
        Route(
            "POST",
            "/keys/byok/{upstream}",
            store,
            authority.ORG_WRITE,
            audits("byok.store"),
            doc=dashboard_doc.page("Store or replace your own provider key for an upstream"),
        ),
        Route(
            "POST",
            "/keys/byok/{upstream}/remove",
            remove,
            authority.ORG_WRITE,
            audits("byok.remove"),
            doc=dashboard_doc.page("Remove your own provider key for an upstream"),
        ),
        Route(
            "POST",
            "/operators/byok-fee",
            fee,
            authority.OPERATOR_PAGE,
            audits("byok.fee"),
            doc=dashboard_doc.page("Set the platform fee of calls made with own keys"),
        ),
    )
