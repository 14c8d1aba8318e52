"""The Operators page that opens an account: its name, plan, opening credit (typed in
dollars) and external id, in one form.

The page mints one idempotency key into the form when it draws it; the account is opened
with it and the opening credit funded with it plus `:opening-credit` (the CLI's rule), so a
double click, or Back and submit again, names the same account and credits it once.
"""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from billing.display import DollarsError, parse_dollars
from gateway.appkeys import PLANS
from gateway.errors import InvalidRequest, MeterwayError
from gateway.http.admin.money import credit_account
from gateway.http.admin.routes import open_account
from gateway.http.dashboard.keys import Form, form_text
from gateway.http.dashboard.ops import OPS, operator
from gateway.http.dashboard.web import render

OPENING = ":opening-credit"


async def new_account(request: web.Request, *, status: int = 200, **extra: Any) -> web.Response:
    operator(request)
    plans = request.config_dict[PLANS]
    return render(
        request,
        "ops_new_account.html",
        status=status,
        title="Open an account",
        nav="operators",
        plans=list(plans.plans),
        default_plan=plans.default,
        idempotency_key=secrets.token_hex(12),
        **extra,
    )


def _opening_credit(form: Form) -> int | None:
    typed = form_text(form, "credit")
    if not typed:
        return None
    try:
        micros = parse_dollars(typed, "The opening credit")
    except DollarsError as exc:
        raise InvalidRequest(str(exc), param="credit") from exc
    if micros <= 0:
        raise InvalidRequest("The opening credit must be more than zero, or left empty.")
    return micros


async def open_form(request: web.Request) -> web.Response:
    """Open the account, fund its opening credit, then on to its People and keys page."""
    operator(request)
    form = await request.post()
    body: dict[str, Any] = {"name": form_text(form, "name"), "plan": form_text(form, "plan")}
    body["idempotency_key"] = form_text(form, "idempotency_key")
    if form_text(form, "external_id"):
        body["external_id"] = form_text(form, "external_id")
    try:
        if not body["idempotency_key"]:
            raise InvalidRequest("The form has no idempotency key; reload it.")
        credit = _opening_credit(form)
        row, _ = await open_account(request, body)
        if credit is not None:
            key = body["idempotency_key"] + OPENING
            await credit_account(request, row["id"], credit, key, "opening credit")
    except MeterwayError as exc:
        return await new_account(request, status=exc.status, error=exc.message, typed=body)
    raise web.HTTPSeeOther(f"{OPS}/accounts/{row['id']}/people?notice=opened")


def add_routes(dash: web.Application) -> None:
    dash.router.add_get("/operators/new", new_account)
    dash.router.add_post("/operators/accounts", open_form)
