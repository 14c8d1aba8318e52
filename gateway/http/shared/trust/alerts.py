"""People's own alerts under /v1/account/alerts: balance below or spend above, sent to their
own e-mail address or webhook (the notifier delivers them; workers/notifier.py).

Reading needs `billing:read`, changing `billing:setup` (an API key's `billing` covers both).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from billing import authority
from billing.money.micros import MAX_EXACT
from billing.trust.alerts import UserAlert, new_alert_id
from gateway.config.egress_rules import EgressRefused
from gateway.errors import InvalidRequest, NotFound
from gateway.http import audited
from gateway.http.appkeys import ACCOUNT_ALERTS, SETTINGS
from gateway.http.fields import ALERT_KINDS, ALERT_PERIODS, EMAIL, MAX_URL
from gateway.http.openapi.paths import account as account_doc
from gateway.http.principal import BILLING_READ, BILLING_SETUP, require
from gateway.http.routing import Route, audits, declare
from gateway.http.whole import json_whole
from gateway.llm.reading.calls import parse_json
from gateway.outbound.egress import checked_url
from gateway.stores.records import Row

KINDS, PERIODS = ALERT_KINDS, ALERT_PERIODS
MAX_ALERTS = 20


def alert_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "alert",
        "kind": row["kind"],
        "amount_micros": row["amount_micros"],
        "period": row["period"],
        "email": row["email"],
        "webhook_url": row["webhook_url"],
        "created_at": row["created_at"].isoformat(),
    }


def _choice(body: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = body.get(name)
    if value not in allowed:
        raise InvalidRequest(f"'{name}' must be one of {', '.join(allowed)}.", param=name)
    return str(value)


def _target(body: dict[str, Any]) -> tuple[str | None, str | None]:
    email, url = body.get("email"), body.get("webhook_url")
    if email is not None and (not isinstance(email, str) or not EMAIL.fullmatch(email)):
        raise InvalidRequest("'email' must be an e-mail address.", param="email")
    if url is not None and not _web_url(url):
        raise InvalidRequest("'webhook_url' must be an http(s) URL.", param="webhook_url")
    if email is None and url is None:
        raise InvalidRequest("Give an 'email' or a 'webhook_url' to send it to.", param="email")
    return email, url


def _web_url(value: object) -> bool:
    """An http(s) URL with a host, printable, of a sane length (hostile input is a 400)."""
    if not isinstance(value, str) or len(value) > MAX_URL or not value.isprintable():
        return False
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. "http://[" (an unclosed IPv6 literal)
        return False


def alert_of_body(body: object) -> tuple[UserAlert, str | None, str | None]:
    """The alert a POST body asks for, and where it goes; InvalidRequest per field."""
    if not isinstance(body, dict):
        raise InvalidRequest("Send a JSON object.")
    kind = _choice(body, "kind", KINDS)
    words = "'amount_micros' must be a positive whole number of micros."
    amount = json_whole(
        body.get("amount_micros"), "amount_micros", minimum=1, maximum=MAX_EXACT, words=words
    )
    period = _choice(body, "period", PERIODS) if kind == "spend_above" else None
    if kind == "balance_below" and body.get("period") is not None:
        raise InvalidRequest("A balance alert has no 'period'.", param="period")
    email, url = _target(body)
    return UserAlert(new_alert_id(), kind, amount, period), email, url


async def alerts_of(request: web.Request, account_id: str) -> list[dict[str, Any]]:
    rows = await request.config_dict[ACCOUNT_ALERTS].of_account(account_id)
    return [alert_json(r) for r in rows]


async def create_for(request: web.Request, account_id: str, body: object) -> dict[str, Any]:
    """The API's and the dashboard's one way to add an alert; the answer carries the
    webhook's secret, shown once."""
    alert, email, url = alert_of_body(body)
    if url is not None:
        await _reachable(request, url)
    alerts = request.config_dict[ACCOUNT_ALERTS]
    if len(await alerts.of_account(account_id)) >= MAX_ALERTS:
        raise InvalidRequest(f"An account has at most {MAX_ALERTS} alerts.")
    row, secret = await alerts.create(account_id, alert, email, url)
    shown = alert_json(row)
    await audited.record(request, "alert.create", "alert", shown["id"], account_id, None, shown)
    return shown | ({"webhook_secret": secret} if secret else {})


async def _reachable(request: web.Request, url: str) -> None:
    """A webhook the gateway may send to (outbound/egress.py): https, and every address its
    host resolves to on the public internet, unless the operator admitted it."""
    try:
        await checked_url(url, request.config_dict[SETTINGS].outbound.egress)
    except EgressRefused as exc:
        raise InvalidRequest(f"'webhook_url' {exc}.", param="webhook_url") from exc


async def delete_for(request: web.Request, account_id: str, alert_id: str) -> None:
    if not await request.config_dict[ACCOUNT_ALERTS].delete(account_id, alert_id):
        raise NotFound("No such alert.")
    await audited.record(request, "alert.delete", "alert", alert_id, account_id)


async def list_alerts(request: web.Request) -> web.Response:
    who = require(request, BILLING_READ)
    return web.json_response({"object": "list", "data": await alerts_of(request, who.account_id)})


async def create_alert(request: web.Request) -> web.Response:
    who = require(request, BILLING_SETUP)
    made = await create_for(request, who.account_id, parse_json(await request.read()))
    return web.json_response(made, status=201)


async def delete_alert(request: web.Request) -> web.Response:
    who = require(request, BILLING_SETUP)
    alert_id = request.match_info["alert_id"]
    await delete_for(request, who.account_id, alert_id)
    return web.json_response({"id": alert_id, "object": "alert", "deleted": True})


def add_routes(account: web.Application) -> None:
    r = account.router
    declare(
        r,
        Route("GET", "/alerts", list_alerts, authority.BILLING_READ, doc=account_doc.LIST_ALERTS),
        Route(
            "POST",
            "/alerts",
            create_alert,
            authority.BILLING_SETUP,
            audits("alert.create"),
            doc=account_doc.CREATE_ALERT,
        ),
        Route(
            "DELETE",
            "/alerts/{alert_id}",
            delete_alert,
            authority.BILLING_SETUP,
            audits("alert.delete"),
            doc=account_doc.DELETE_ALERT,
        ),
    )
