"""Spend anomalies on the Keys page: the flags with their evidence, a paused key's Resume
button (the one action that lifts a pause) and the choice to pause keys automatically.

The forms go through the same functions as the account API (http/shared/trust/anomalies.py)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.http.appkeys import STORES
from gateway.http.dashboard.people.session import BASE, account_principal
from gateway.http.principal import KEYS_WRITE, ORG_WRITE, USAGE_READ, Principal
from gateway.http.shared.account_keys import own_key
from gateway.http.shared.trust.anomalies import (
    anomalies_json,
    paused_keys,
    resume_key_for,
    set_pause_for,
)


async def keys_page_extras(
    request: web.Request, who: Principal, key_ids: list[str]
) -> dict[str, Any]:
    """What the Keys page shows of anomalies: paused keys, the newest flags (to a caller
    who reads usage) and the account's choice to pause."""
    mine = who.has(USAGE_READ)
    flags = (await anomalies_json(request, who.account_id, customer=True))["data"] if mine else []
    choices = await request.config_dict[STORES].anomalies().opt_ins(who.account_id)
    return {
        "paused": await paused_keys(request, key_ids),
        "anomalies": flags[:20],
        "pause_on_anomaly": choices.get("", False),
        "can_org": who.has(ORG_WRITE),
    }


async def resume(request: web.Request) -> web.Response:
    who = account_principal(request)
    who.require(KEYS_WRITE)
    row = await own_key(request, who, request.match_info["key_id"])
    await resume_key_for(request, row, who)
    raise web.HTTPSeeOther(f"{BASE}/keys?notice=resumed")


async def pause_choice(request: web.Request) -> web.Response:
    """The account's choice: pause a flagged key automatically, or only tell."""
    who = account_principal(request)
    who.require(ORG_WRITE)
    form = await request.post()
    await set_pause_for(request, who.account_id, "", form.get("pause") == "on")
    raise web.HTTPSeeOther(f"{BASE}/keys?notice=pause")
