"""The prices this gateway bills, and changes to them reviewed before they bill.

GET /admin/v1/prices: the rate cards billed now, model by model and tier by tier, with the
catalogue loaded (`meterway prices diff` compares them with an install). Under
/admin/v1/prices/changes: a change is proposed (its diff and its preview of the last 30
days of usage kept with it), then approved or rejected, each audited; an approved one bills
from its effective time on every gateway (services/proof/price_changes.py). GET
/admin/v1/prices/unpriced: the models calls were refused for (404) for want of a price, with
the demand behind them and the price change that would serve them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from billing import authority
from billing.money.plans import markup_bps
from billing.pricing.changes import percent
from billing.pricing.markup_change import MarkupChange
from gateway.errors import InvalidRequest, NotFound
from gateway.http import audited
from gateway.http.appkeys import LEDGER, PRICE_DESK, PRICING
from gateway.http.audited import actor_of
from gateway.http.openapi.paths import account as account_doc
from gateway.http.openapi.paths import prices as doc
from gateway.http.routing import Route, audits, declare, unaudited
from gateway.http.shared.proof.price_changes import (
    approved,
    audited_change,
    change_id_of,
    change_json,
    rejected,
)
from gateway.llm.reading.calls import parse_json

# A markup change proposed without an effective time: a day for its review.
MARKUP_AHEAD = timedelta(days=1)
STATUSES = frozenset({"pending", "approved", "rejected"})


async def current_prices(request: web.Request) -> web.Response:
    table = request.config_dict[PRICING]
    body = {"catalogue": table.catalogue_version, "models": table.current()}
    return web.json_response(body)


def dated(body: dict[str, Any], default: datetime | None = None) -> tuple[datetime, str]:
    """A change's effective time (RFC 3339 with its offset; `default` when absent and
    given) and its note."""
    raw = body.get("effective_at")
    try:
        when = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        when = None
    if raw is None and default is not None:
        when = default
    if when is None or when.tzinfo is None:
        raise InvalidRequest(
            "'effective_at' must be an RFC 3339 time with its offset.", param="effective_at"
        )
    note = body.get("note", "")
    if not isinstance(note, str) or len(note) > 2000 or "\x00" in note:
        raise InvalidRequest("'note' must be text of at most 2000 characters.", param="note")
    return when.astimezone(UTC), note


def _changed(body: dict[str, Any]) -> dict[str, Any]:
    """What a proposal changes: model rates (`models`), or price books (`books`, `assign`
    of billing/pricing/books.py), never both in one change."""
    books: dict[str, Any] = {k: body[k] for k in ("books", "assign") if k in body}
    if books and "models" in body:
        raise InvalidRequest("A change sets 'models' or price books, not both.", param="books")
    return books or {"models": body.get("models")}


def _proposal(body: dict[str, Any]) -> tuple[dict[str, Any], datetime, str]:
    when, note = dated(body)
    return _changed(body), when, note


async def preview_change(request: web.Request) -> web.Response:
    document, when, _ = _proposal(parse_json(await request.read()))
    review = await request.config_dict[PRICE_DESK].review_of(document, when)
    move = review.pop("largest_move_permille")
    return web.json_response({**review, "largest_move_percent": percent(move)})


async def propose_change(request: web.Request) -> web.Response:
    document, when, note = _proposal(parse_json(await request.read()))
    by = actor_of(request).id
    row = await request.config_dict[PRICE_DESK].propose(document, when, note, by)
    return web.json_response(await audited_change(request, "propose", row), status=201)


async def propose_markup(request: web.Request) -> web.Response:
    """`{"markup_bps": 2000}` proposes the account's own markup over provider cost (null: its
    plan's again) as a price change: pending until approved like any other, in force from
    `effective_at` (default: MARKUP_AHEAD from now) on every gateway. 202 with the change;
    audited as `account.markup`, and its approval as `price_change.approve`."""
    account_id = request.match_info["account_id"]
    if await request.config_dict[LEDGER].get_account(account_id) is None:
        raise NotFound("No such account.")
    body = parse_json(await request.read())
    if "markup_bps" not in body:
        raise InvalidRequest("'markup_bps' is required (null clears it).", param="markup_bps")
    try:
        markup = None if body["markup_bps"] is None else markup_bps(body["markup_bps"])
    except ValueError as exc:
        raise InvalidRequest(f"{exc}.", param="markup_bps") from exc
    when, note = dated(body, datetime.now(UTC).replace(microsecond=0) + MARKUP_AHEAD)
    document = MarkupChange(account_id, markup).to_json()
    desk = request.config_dict[PRICE_DESK]
    row = await desk.propose(document, when, note, actor_of(request).id)
    out = change_json(row)
    before = {"markup_bps": (await desk.changes.account(account_id) or {}).get("markup_bps")}
    after = {"markup_bps": markup, "effective_at": out["effective_at"], "price_change": row["id"]}
    await audited.record(
        request, "account.markup", "account", account_id, account_id, before, after
    )
    return web.json_response(out, status=202)


async def list_changes(request: web.Request) -> web.Response:
    status = request.query.get("status")
    if status is not None and status not in STATUSES:
        raise InvalidRequest(f"'status' is one of {sorted(STATUSES)}.", param="status")
    rows = await request.config_dict[PRICE_DESK].changes.listing(status)
    return web.json_response({"object": "list", "data": [change_json(r) for r in rows]})


async def get_change(request: web.Request) -> web.Response:
    row = await request.config_dict[PRICE_DESK].changes.get(change_id_of(request))
    if row is None:
        raise NotFound("No such price change.")
    return web.json_response(change_json(row))


async def approve_change(request: web.Request) -> web.Response:
    change_id = change_id_of(request)
    body = parse_json(await request.read()) if request.can_read_body else {}
    return web.json_response(await approved(request, change_id, body.get("confirm")))


async def reject_change(request: web.Request) -> web.Response:
    return web.json_response(await rejected(request, change_id_of(request)))


def _pricing_path(model: str) -> dict[str, Any]:
    """The one reviewed way to serve an unpriced model: a price change naming its route."""
    rates = {"provider": "PROVIDER", "max_output_tokens": 4096, "input": "0.00", "output": "0.00"}
    return {
        "method": "POST",
        "path": "/admin/v1/prices/changes",
        "body": {"models": {model: rates}, "effective_at": "RFC 3339, ahead"},
        "command": "meterway prices propose FILE --effective-at +1d",
    }


async def unpriced_models(request: web.Request) -> web.Response:
    """Models refused (404) for want of a price in the last 30 days, most called first."""
    found = await request.config_dict[PRICE_DESK].unpriced()
    data = [{**m, "price_with": _pricing_path(m["model"])} for m in found]
    return web.json_response({"object": "list", "data": data})


def add_routes(admin: web.Application) -> None:
    op = authority.OPERATOR
    declare(
        admin.router,
        Route("GET", "/prices", current_prices, op, doc=account_doc.CURRENT_PRICES),
        Route(
            "POST", "/prices/preview", preview_change, op,
            unaudited("a preview changes nothing"), doc=doc.PREVIEW,
        ),
        Route("GET", "/prices/changes", list_changes, op, doc=doc.LIST),
        Route("GET", "/prices/unpriced", unpriced_models, op, doc=doc.UNPRICED),
        Route(
            "POST", "/prices/changes", propose_change, op,
            audits("price_change.propose"), doc=doc.PROPOSE,
        ),
        Route("GET", "/prices/changes/{change_id}", get_change, op, doc=doc.GET),
        Route(
            "POST", "/prices/changes/{change_id}/approve", approve_change, op,
            audits("price_change.approve"), doc=doc.APPROVE,
        ),
        Route(
            "POST", "/prices/changes/{change_id}/reject", reject_change, op,
            audits("price_change.reject"), doc=doc.REJECT,
        ),
    )  # fmt: skip
