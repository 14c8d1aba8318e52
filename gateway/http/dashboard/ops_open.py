"""The Operators page that opens an account: its name, plan, opening credit (typed in
dollars) and external id, in one form.

The idempotency key is the form's own content within the operator's session (a digest of
the session's CSRF secret and the fields): a double click, or Back (once or twice, however
the browser restores the page) and the same fields submitted again, names the same account
and credits it once; the opening credit's key is the account's plus `:opening-credit` (the
CLI's rule). Changed fields are a new account.
"""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from billing.display import DollarsError, parse_dollars
from gateway.appkeys import PLANS
from gateway.errors import InvalidRequest, MeterwayError
from gateway.http.admin.money import credit_account
from gateway.http.admin.routes import open_account
from gateway.http.dashboard.keys import Form, form_text
from gateway.http.dashboard.ops import OPS, operator
from gateway.http.dashboard.session import SESSION
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
    if form_text(form, "external_id"):
        body["external_id"] = form_text(form, "external_id")
    try:
        credit = _opening_credit(form)
        body["idempotency_key"] = _form_key(request, body, credit)
        row, created = await open_account(request, body)
        if credit is not None:
            key = body["idempotency_key"] + OPENING
            await credit_account(request, row["id"], credit, key, "opening credit")
    except MeterwayError as exc:
        return await new_account(request, status=exc.status, error=exc.message, typed=body)
    notice = "opened" if created else "already-opened"
    raise web.HTTPSeeOther(f"{OPS}/accounts/{row['id']}/people?notice={notice}")


def _form_key(request: web.Request, body: dict[str, Any], credit: int | None) -> str:
    """The same fields in the same session: the same key (the module's docstring)."""
    fields = (request[SESSION].csrf, body["name"], body["plan"], body.get("external_id"), credit)
    return "dash-open-" + hashlib.sha256(repr(fields).encode()).hexdigest()[:32]


def add_routes(dash: web.Application) -> None:
    dash.router.add_get("/operators/new", new_account)
    dash.router.add_post("/operators/accounts", open_form)
