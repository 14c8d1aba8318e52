"""Operator endpoints for the metering API: service keys, meters, and usage by meter."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from billing import authority
from billing.money.micros import MAX_EXACT
from gateway.errors import Conflict, InvalidRequest, NotFound
from gateway.http import audited
from gateway.http.appkeys import EXPORTS, LEDGER, METER_BOOK, METERING_LEDGER, NOTIFY, STORE
from gateway.http.fields import EXPORT_ID_MAX
from gateway.http.openapi.paths import metering as metering_doc
from gateway.http.routing import Route, audits, declare
from gateway.http.whole import json_whole
from gateway.llm.reading.calls import parse_json
from gateway.services.keys.service import SERVICE_NAME, issue_service, revoke_service
from gateway.stores.errors import DuplicateService
from gateway.stores.records import Row


def service_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "service",
        "name": row["name"],
        "prefix": row["key_prefix"],
        "meters": list(row["meters"]),
        "revoked": row["revoked_at"] is not None,
        "created_at": row["created_at"].isoformat(),
    }


async def create_service(request: web.Request) -> web.Response:
    body = parse_json(await request.read())
    name, meters = body.get("name"), body.get("meters")
    if not isinstance(name, str) or not SERVICE_NAME.fullmatch(name):
        raise InvalidRequest("'name' must be 1-63 of a-z, 0-9, '_', '.', '-'.", param="name")
    book = request.config_dict[METER_BOOK]
    if not isinstance(meters, list) or not meters or not all(isinstance(m, str) for m in meters):
        raise InvalidRequest("'meters' must be a non-empty list of meter names.", param="meters")
    unknown = sorted(set(meters) - set(book.names()))
    if unknown:
        raise InvalidRequest(f"Unknown meter(s) {unknown}; see config/meters.toml.", param="meters")
    try:
        issued = await issue_service(
            request.config_dict[METERING_LEDGER], request.config_dict[STORE].meters, name, meters
        )
    except DuplicateService as exc:
        raise Conflict(f"A service named '{name}' already exists.", param="name") from exc
    made = service_json(issued.row)
    await audited.record(request, "service.create", "service", made["id"], None, None, made)
    return web.json_response({**made, "key": issued.secret}, status=201)


async def delete_service(request: web.Request) -> web.Response:
    row = await revoke_service(
        request.config_dict[METERING_LEDGER],
        request.config_dict[STORE].meters,
        request.match_info["service_id"],
    )
    if row is None:
        raise NotFound("No such service.")
    revoked = service_json(row)
    await audited.record(request, "service.revoke", "service", revoked["id"], None, None, revoked)
    return web.json_response(revoked)


async def list_meters(request: web.Request) -> web.Response:
    book = request.config_dict[METER_BOOK]
    data = [
        {
            "name": m.name,
            "unit": m.unit,
            "price_micros": m.price_micros,
            "per": m.per,
            "quota_metric": m.quota_metric,
            "on_expiry": m.on_expiry,
            "allow_overage": m.allow_overage,
            "allow_negative": m.allow_negative,
        }
        for m in (book.meters[n] for n in book.names())
    ]
    return web.json_response({"data": data})


def _when(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidRequest(f"'{name}' must be an RFC 3339 time.", param=name) from exc
    if when.tzinfo is None:
        raise InvalidRequest(f"'{name}' needs a UTC offset.", param=name)
    return when


async def meter_usage(request: web.Request) -> web.Response:
    account_id = request.match_info["account_id"]
    if await request.config_dict[LEDGER].get_account(account_id) is None:
        raise NotFound("No such account.")
    rows = await request.config_dict[METERING_LEDGER].meter_usage(
        account_id, _when(request, "since"), _when(request, "until")
    )
    data = [
        {
            "meter": r["meter"],
            "quantity": r["quantity"],
            "cost_micros": r["cost_micros"],
            "debits": r["events"],
        }
        for r in rows
    ]
    return web.json_response({"account_id": account_id, "meters": data})


async def export_ids(request: web.Request) -> web.Response:
    """The account's ids at Stripe and Lago; usage of unmapped accounts is not exported."""
    account_id = request.match_info["account_id"]
    if "\x00" in account_id or await request.config_dict[LEDGER].get_account(account_id) is None:
        raise NotFound("No such account.")
    body = parse_json(await request.read())
    fields = {"stripe_customer_id": "stripe", "lago_subscription_id": "lago"}
    for name, target in fields.items():
        if name not in body:
            continue
        value = body[name]
        if value is not None and (
            not isinstance(value, str) or not 0 < len(value) <= EXPORT_ID_MAX or "\x00" in value
        ):
            raise InvalidRequest(f"'{name}' must be a string or null.", param=name)
        await request.config_dict[EXPORTS].set_customer(account_id, target, value)
    after = {k: body[k] for k in fields if k in body}
    await audited.record(
        request, "account.export_ids", "account", account_id, account_id, None, after
    )
    return web.json_response({"account_id": account_id, **{k: body.get(k) for k in fields}})


async def alerts(request: web.Request) -> web.Response:
    """The account's balance.low threshold (else NOTIFY_BALANCE_LOW_MICROS)."""
    account_id = request.match_info["account_id"]
    if await request.config_dict[LEDGER].get_account(account_id) is None:
        raise NotFound("No such account.")
    value = parse_json(await request.read()).get("balance_low_micros")
    words = "'balance_low_micros' must be a whole number of micros."
    value = json_whole(value, "balance_low_micros", maximum=MAX_EXACT, words=words)
    await request.config_dict[NOTIFY].set_threshold(account_id, value)
    after = {"balance_low_micros": value}
    await audited.record(request, "account.alerts", "account", account_id, account_id, None, after)
    return web.json_response({"account_id": account_id, "balance_low_micros": value})


def add_routes(admin: web.Application) -> None:
    r = admin.router
    declare(
        r,
        Route(
            "PUT",
            "/accounts/{account_id}/alerts",
            alerts,
            authority.OPERATOR,
            audits("account.alerts"),
            doc=metering_doc.ALERTS,
        ),
        Route(
            "PUT",
            "/accounts/{account_id}/export-ids",
            export_ids,
            authority.OPERATOR,
            audits("account.export_ids"),
            doc=metering_doc.EXPORT_IDS,
        ),
        Route(
            "POST",
            "/services",
            create_service,
            authority.OPERATOR,
            audits("service.create"),
            doc=metering_doc.CREATE_SERVICE,
        ),
        Route(
            "DELETE",
            "/services/{service_id}",
            delete_service,
            authority.OPERATOR,
            audits("service.revoke"),
            doc=metering_doc.DELETE_SERVICE,
        ),
        Route("GET", "/meters", list_meters, authority.OPERATOR, doc=metering_doc.LIST_METERS),
        Route(
            "GET",
            "/accounts/{account_id}/usage/meters",
            meter_usage,
            authority.OPERATOR,
            doc=metering_doc.METER_USAGE,
        ),
    )
