"""The Operators pages' money forms: credit, adjustment and plan change, each in two steps.

The account page mints an idempotency key into each form when it renders it. Submitting the
form moves nothing: it opens a confirmation page (a GET, its fields in the address) that
says the amount in dollars; only its Confirm button posts. The key travels with the form to
the confirmation and from there to the post, so pressing Back (which loads the confirmation
again, from the same address) and confirming again, or a double click, posts the same key
and the ledger answers with the first entry instead of a second one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from billing.display import usd_exact
from billing.money import MoneyFormatError, parse_usd
from gateway.appkeys import PLANS, STORE
from gateway.errors import InvalidRequest, MeterwayError
from gateway.http.admin import set_account_plan
from gateway.http.admin_money import adjust_account, credit_account
from gateway.http.dashboard.ops import OPS, account, operator, target_row
from gateway.http.dashboard.web import render

ACTIONS = ("credit", "adjustment", "plan")
Fields = MultiMapping[Any]


def _key(fields: Fields) -> str:
    key = str(fields.get("idempotency_key", ""))
    if not key:
        raise InvalidRequest("The form has no idempotency key; reload it.")
    return key


def _dollars(fields: Fields) -> int:
    try:
        micros = parse_usd(str(fields.get("amount", "")))
    except MoneyFormatError as exc:
        raise InvalidRequest("The amount must be in dollars, like 25 or 12.50.") from exc
    if micros <= 0:
        raise InvalidRequest("The amount must be more than zero.")
    return micros


def _micros(fields: Fields) -> int:
    raw = str(fields.get("amount_micros", ""))
    if not raw.lstrip("-").isdigit():
        raise InvalidRequest("The confirmation has no amount; start again from the form.")
    return int(raw)


def _what(action: str, fields: Fields, row: Mapping[str, Any]) -> dict[str, Any]:
    """What the confirmation page asks about: the sentence and the fields it posts."""
    reason = str(fields.get("reason", "")).strip()
    if action == "plan":
        plan = str(fields.get("plan", ""))
        return {"plan": plan, "summary": f"Change the plan from {row['plan']} to {plan}"}
    micros = _dollars(fields)
    if action == "adjustment":
        if not reason:
            raise InvalidRequest("An adjustment needs a reason.")
        if fields.get("direction") != "in":
            micros = -micros
    verb = "Take" if micros < 0 else "Add"
    where = "from" if micros < 0 else "to"
    summary = f"{verb} {usd_exact(abs(micros))} {where} {row['name']}"
    return {"amount_micros": micros, "reason": reason, "summary": summary}


async def confirm(request: web.Request) -> web.Response:
    """GET: the form's fields, read back in dollars, with one Confirm button."""
    operator(request)
    row = await target_row(request)
    action = request.match_info["action"]
    try:
        if action not in ACTIONS:
            raise InvalidRequest("Unknown action.")
        what = _what(action, request.query, row) | {"idempotency_key": _key(request.query)}
        if action == "plan" and what["plan"] not in request.config_dict[PLANS].plans:
            raise InvalidRequest("No such plan.")
    except MeterwayError as exc:
        return await account(request, status=exc.status, error=exc.message)
    live = await request.config_dict[STORE].balance(row["id"])
    return render(
        request,
        "ops_confirm.html",
        title="Confirm",
        nav="operators",
        account_id=row["id"],
        action=action,
        what=what,
        balance=live[0] if live else row["balance_micros"],
    )


async def _post(request: web.Request, action: str, fields: Fields) -> str:
    """Move the money (or the plan); the notice the account page shows after it."""
    row = await target_row(request)
    key, reason = _key(fields), str(fields.get("reason", "")).strip()
    if action == "plan":
        await set_account_plan(request, row, {"plan": str(fields.get("plan", ""))})
        return "plan"
    if action == "credit":
        _, created = await credit_account(request, row["id"], _micros(fields), key, reason or None)
    else:
        _, created = await adjust_account(request, row["id"], _micros(fields), key, reason)
    return ("credited" if action == "credit" else "adjusted") if created else "replayed"


async def submit(request: web.Request) -> web.Response:
    """POST from the confirmation page only: the key it carries makes a repeat a replay."""
    operator(request)
    action = request.path.rsplit("/", 1)[1]
    fields = await request.post()
    try:
        notice = await _post(request, action, fields)
    except MeterwayError as exc:
        return await account(request, status=exc.status, error=exc.message)
    raise web.HTTPSeeOther(f"{OPS}/accounts/{request.match_info['account_id']}?notice={notice}")


def add_routes(dash: web.Application) -> None:
    r = dash.router
    r.add_get("/operators/accounts/{account_id}/confirm/{action}", confirm)
    for action in ACTIONS:
        r.add_post(f"/operators/accounts/{{account_id}}/{action}", submit)
