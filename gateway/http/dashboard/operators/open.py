"""The Operators page that opens an account: its name, plan, opening credit (typed in
dollars) and external id, in one form, then a confirmation page that names the plan and
the credit (a GET: it moves nothing) whose Confirm button posts.

The page mints the form a single-use token (dashboard/form_tokens.py), as the other money
forms: the first submit spends it, and a double click, or Back (once or twice) and the
form submitted again, is refused with a page linking to the account the first opened. The
token is also the opening's idempotency key, and the opening credit's is the token plus
`:opening-credit` (the CLI's rule). A form drawn afresh is a new account, even with the
same fields. A refused submit (a typo in the credit) draws the form again with its token,
so the corrected submit still names the account a half-done first one opened; a refusal,
on either page, draws the form again with every field as typed.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiMapping

from billing import authority
from billing.money.display import DollarsError, parse_dollars, usd_exact
from gateway.errors import FormAlreadySubmitted, InvalidRequest, MeterwayError
from gateway.http.appkeys import PLANS
from gateway.http.dashboard import form_tokens
from gateway.http.dashboard.keys import form_text
from gateway.http.dashboard.operators.accounts import OPS, operator
from gateway.http.dashboard.web import render
from gateway.http.openapi.paths import dashboard as dashboard_doc
from gateway.http.routing import Route, audits, declare
from gateway.http.shared.money import credit_account
from gateway.http.shared.operator.accounts import open_account

OPENING = ":opening-credit"
FIELDS = ("name", "plan", "credit", "external_id")
ACTION = f"{OPS}/accounts"  # the path the form posts to: its token's action


async def new_account(
    request: web.Request, *, status: int = 200, form_token: str = "", **extra: Any
) -> web.Response:
    """The form, with the token it was submitted with (an error's redraw) or a new one."""
    operator(request)
    plans = request.config_dict[PLANS]
    token = form_token or (await form_tokens.mint(request, [ACTION]))[0]
    return render(
        request,
        "ops_new_account.html",
        status=status,
        title="Open an account",
        nav="operators",
        plans=list(plans.plans),
        default_plan=plans.default,
        form_token=token,
        **extra,
    )


def _typed(form: MultiMapping[Any]) -> dict[str, str]:
    """Every field of the form as it was typed (trimmed)."""
    return {name: form_text(form, name) for name in FIELDS}


async def confirm(request: web.Request) -> web.Response:
    """GET: the form read back, the plan and the opening credit named, with one Confirm
    button that posts the form (and its token) on; a refusal is the form again, as typed."""
    operator(request)
    typed = _typed(request.query)
    token = str(request.query.get(form_tokens.FIELD, ""))
    try:
        plan, credit = typed["plan"], _opening_credit(request.query)
        if plan not in request.config_dict[PLANS].plans:
            raise InvalidRequest(f"No plan named '{plan}'.", param="plan")
        if not typed["name"]:
            raise InvalidRequest("The account needs a name.", param="name")
    except MeterwayError as exc:
        return await new_account(
            request, status=exc.status, form_token=token, error=exc.message, typed=typed
        )
    funded = f", with an opening credit of {usd_exact(credit)}" if credit else ", with no credit"
    summary = f"Open {typed['name']} on the {plan} plan{funded}"
    return render(
        request,
        "ops_open_confirm.html",
        title="Confirm the new account",
        nav="operators",
        summary=summary,
        typed=typed,
        form_token=token,
    )


def _opening_credit(form: MultiMapping[Any]) -> int | None:
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
    token = redraw = ""

    async def work() -> str:
        nonlocal redraw
        redraw = token  # refused from here on, the token is unspent again: the redraw keeps it
        credit = _opening_credit(form)
        row, created = await open_account(request, body | {"idempotency_key": token})
        if credit is not None:
            await credit_account(request, row["id"], credit, token + OPENING, "opening credit")
        notice = "opened" if created else "already-opened"
        return f"{OPS}/accounts/{row['id']}/people?notice={notice}"

    try:
        token = form_tokens.token_of(form)
        target = await form_tokens.once(request, token, ACTION, OPS, work)
    except FormAlreadySubmitted:
        raise
    except MeterwayError as exc:
        return await new_account(
            request, status=exc.status, form_token=redraw, error=exc.message, typed=_typed(form)
        )
    raise web.HTTPSeeOther(target)


def add_routes(dash: web.Application) -> None:
    declare(
        dash.router,
        Route(
            "GET",
            "/operators/new",
            new_account,
            authority.OPERATOR_PAGE,
            doc=dashboard_doc.page("Open an account: plan, opening credit, external id"),
        ),
        Route(
            "GET",
            "/operators/new/confirm",
            confirm,
            authority.OPERATOR_PAGE,
            doc=dashboard_doc.page("A new account read back, its plan named, with Confirm"),
        ),
        Route(
            "POST",
            "/operators/accounts",
            open_form,
            authority.OPERATOR_PAGE,
            audits("account.create"),
            doc=dashboard_doc.page("Open the account and fund its opening credit once"),
        ),
    )
