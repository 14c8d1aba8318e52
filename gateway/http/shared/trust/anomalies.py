"""Spend anomalies as the account API, the operator API and the dashboard act on them: the
flags with their evidence, lifting a key's pause (one action), and opting in to pauses."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from billing import authority
from billing.contracts.reseller import for_customer
from gateway.errors import InvalidRequest, NotFound, PermissionDenied
from gateway.http import audited, bodies
from gateway.http.appkeys import LEDGER, STORE, STORES
from gateway.http.openapi.paths import anomalies as doc
from gateway.http.principal import KEYS_WRITE, ORG_WRITE, USAGE_READ, Principal, require
from gateway.http.routing import Route, audits, declare
from gateway.http.shared.account_keys import own_key
from gateway.http.shared.overview import show_cost
from gateway.llm.reading.calls import parse_json
from gateway.services.trust import key_pauses
from gateway.stores.records import Row


async def anomalies_json(
    request: web.Request, account_id: str | None, customer: bool = False
) -> dict[str, Any]:
    """The newest 100 flags, of one account (every account's with None); their evidence
    as the account reads it when `customer` (billing/audience.py)."""
    rows = await request.config_dict[STORES].anomalies().of_account(account_id)
    body = {"object": "list", "data": rows}
    return for_customer(body, show_cost(request)) if customer else body


async def paused_keys(request: web.Request, key_ids: list[str]) -> set[str]:
    """Which of these keys are paused (the dashboard's keys page offers to resume them)."""
    return set(await request.config_dict[STORES].anomalies().paused(key_ids))


async def resume_key_for(
    request: web.Request, row: Row, who: Principal | None = None
) -> dict[str, Any]:
    """Lift a key's pause: served again from its next request, on every gateway process;
    audited when it lifted one (a repeat changes nothing). `who`, the caller (None: the
    operator): a key minted under the paused key (a child, a token, their children) would
    be the runaway lifting its own pause, so it is refused."""
    lineage = (who.key.key_id, *who.key.ancestors) if who is not None and who.key else ()
    if row["id"] in lineage:
        raise PermissionDenied(
            "A key minted under a paused key cannot lift its pause: its owner does, with a "
            "key or session of their own, or the operator.",
            extra={"reason": "minted_under_paused_key"},
        )
    app = request.config_dict
    resumed = await key_pauses.resume(
        app[STORES].anomalies(), app[STORE], row["id"], row["account_id"]
    )
    if resumed:
        await audited.record(
            request, "key.resume", "key", row["id"], row["account_id"],
            {"paused": True}, {"paused": False},
        )  # fmt: skip
    return {"id": row["id"], "object": "api_key_pause", "paused": False, "resumed": resumed}


def pause_choice(body: dict[str, Any]) -> tuple[str, bool | None]:
    """(key id, or '' for the account's own choice; pause) from a body; null forgets the
    choice (a key follows its account again; an account is back to not pausing)."""
    pause, key_id = body.get("pause"), body.get("key_id", "")
    if not isinstance(key_id, str):
        raise InvalidRequest("'key_id' must be a key's id.", param="key_id")
    if "pause" not in body or not isinstance(pause, bool | None):
        raise InvalidRequest("'pause' must be true, false or null.", param="pause")
    return key_id, pause


async def set_pause_for(
    request: web.Request, account_id: str, key_id: str, pause: bool | None
) -> dict[str, Any]:
    """Record an opt-in (audited) and answer the account's choices."""
    port = request.config_dict[STORES].anomalies()
    before = await port.opt_ins(account_id)
    await port.set_opt_in(account_id, key_id, pause)
    after = await port.opt_ins(account_id)
    target = ("key", key_id) if key_id else ("account", account_id)
    await audited.record(
        request, "account.anomaly_pause", *target, account_id, {"pause": before},
        {"pause": after},
    )  # fmt: skip
    return choices_json(after)


def choices_json(choices: dict[str, bool]) -> dict[str, Any]:
    own = {k: v for k, v in choices.items() if k}
    return {"object": "anomaly_pause", "pause": choices.get("", False), "keys": own}


async def account_list(request: web.Request) -> web.Response:
    who = require(request, USAGE_READ)
    return web.json_response(await anomalies_json(request, who.account_id, customer=True))


async def account_resume(request: web.Request) -> web.Response:
    who = require(request, KEYS_WRITE)
    row = await own_key(request, who, request.match_info["key_id"])
    return web.json_response(await resume_key_for(request, row, who))


async def account_pause(request: web.Request) -> web.Response:
    who = require(request, ORG_WRITE)
    key_id, pause = pause_choice(parse_json(await request.read()))
    if key_id:
        await own_key(request, who, key_id)
    return web.json_response(await set_pause_for(request, who.account_id, key_id, pause))


async def admin_list(request: web.Request) -> web.Response:
    return web.json_response(await anomalies_json(request, request.query.get("account_id")))


async def admin_resume(request: web.Request) -> web.Response:
    row = await request.config_dict[LEDGER].get_key(bodies.path_id(request, "key_id"))
    return web.json_response(await resume_key_for(request, bodies.found(row, "No such key.")))


async def admin_pause(request: web.Request) -> web.Response:
    account_id = request.match_info["account_id"]
    ledger = request.config_dict[LEDGER]
    if await ledger.get_account(account_id) is None:
        raise NotFound("No such account.")
    key_id, pause = pause_choice(parse_json(await request.read()))
    if key_id:
        key = await ledger.get_key(key_id)
        if key is None or key["account_id"] != account_id:
            raise NotFound("No such key.")
    return web.json_response(await set_pause_for(request, account_id, key_id, pause))


def add_account_routes(account: web.Application) -> None:
    declare(
        account.router,
        Route("GET", "/anomalies", account_list, authority.USAGE_READ, doc=doc.LIST_ANOMALIES),
        Route(
            "POST",
            "/keys/{key_id}/resume",
            account_resume,
            authority.KEYS_WRITE,
            audits("key.resume"),
            doc=doc.RESUME_KEY,
        ),
        Route(
            "PUT",
            "/anomaly-pause",
            account_pause,
            authority.ORG_WRITE,
            audits("account.anomaly_pause"),
            doc=doc.SET_PAUSE,
        ),
    )


def add_admin_routes(admin: web.Application) -> None:
    declare(
        admin.router,
        Route("GET", "/anomalies", admin_list, authority.OPERATOR, doc=doc.ADMIN_LIST_ANOMALIES),
        Route(
            "POST",
            "/keys/{key_id}/resume",
            admin_resume,
            authority.OPERATOR,
            audits("key.resume"),
            doc=doc.ADMIN_RESUME_KEY,
        ),
        Route(
            "PUT",
            "/accounts/{account_id}/anomaly-pause",
            admin_pause,
            authority.OPERATOR,
            audits("account.anomaly_pause"),
            doc=doc.ADMIN_SET_PAUSE,
        ),
    )
