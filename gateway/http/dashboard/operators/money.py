"""The Operators pages' money forms: credit (funding a grant of a kind, expiry and
priority), adjustment, refund, a grant's revocation and plan change, each in two steps.

The account page mints a single-use token into each form when it draws it
(dashboard/form_tokens.py). Submitting the form moves nothing: it opens a confirmation page
(a GET, its fields in the address) that says the amount in dollars; only its Confirm button
posts. The token travels with the form to the confirmation and from there to the post,
which spends it: pressing Back (to the confirmation, or twice, to the form) and submitting
again, or a double click, is refused with a page linking to what the first submit did. The
token is also the operation's idempotency key, so the ledger would answer a repeat with the
first entry.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiMapping

from billing import authority
from billing.dates import in_zone
from billing.money.display import DollarsError, parse_dollars, usd_exact, usd_input
from billing.money.micros import MAX_EXACT
from gateway.errors import FormAlreadySubmitted, InvalidRequest, MeterwayError
from gateway.http import bodies
from gateway.http.appkeys import PLANS, SETTINGS, STORE
from gateway.http.dashboard import form_tokens
from gateway.http.dashboard.operators.accounts import OPS, account, operator, target_row
from gateway.http.dashboard.web import render
from gateway.http.openapi.paths import dashboard as dashboard_doc
from gateway.http.routing import Route, audits, declare
from gateway.http.shared.credit_grants import grant_on, revoke_grant
from gateway.http.shared.money import adjust_account, credit_account, refund_account
from gateway.http.shared.operator.accounts import set_account_plan
from gateway.http.whole import ASCII_SPACE, parse_whole
from gateway.stores.records import GrantSpec

# Each money form: the record it writes to the audit log, what it does.
ACTIONS = {
    "credit": (audits("credit.create"), "Credit an account once"),
    "adjustment": (audits("adjustment.create"), "Adjust a balance once"),
    "plan": (audits("account.plan"), "Change an account's plan"),
    "refund": (audits("refund.create"), "Refund a top-up once"),
    "revoke-grant": (audits("grant.revoke"), "Revoke a credit grant"),
}
Fields = MultiMapping[Any]


def _reason(fields: Fields) -> str:
    """The form's reason, trimmed, read as the API reads one; empty: none given."""
    reason = str(fields.get("reason", "")).strip()
    return str(bodies.text_field({"reason": reason}, "reason")) if reason else ""


def _dollars(fields: Fields) -> int:
    try:
        micros = parse_dollars(str(fields.get("amount", "")), "The amount")
    except DollarsError as exc:
        raise InvalidRequest(str(exc), param="amount") from exc
    if micros <= 0:
        raise InvalidRequest("The amount must be more than zero.")
    return micros


def _micros(fields: Fields) -> int:
    """The signed amount the confirmation page carries (money out is negative)."""
    return parse_whole(
        str(fields.get("amount_micros", "")),
        "amount_micros",
        minimum=-MAX_EXACT,
        maximum=MAX_EXACT,
        words="The confirmation has no amount; start again from the form.",
    )


def _grant(fields: Fields, zone: str) -> GrantSpec | None:
    """The grant a credit funds, from the form (kind, an expiry date or instant, priority)
    read as the API reads `grant`; None for a plain paid credit."""
    kind, expires = str(fields.get("kind", "")).strip(), str(fields.get("expires", "")).strip()
    priority = str(fields.get("priority", "")).strip(ASCII_SPACE)
    if not (kind or expires or priority):
        return None
    raw: dict[str, Any] = {"kind": kind or "paid"}
    if expires:
        raw["expires_at"] = expires  # a bare date: the end of that day in QUOTA_TIMEZONE
    if priority:
        raw["priority"] = parse_whole(
            priority,
            "priority",
            maximum=bodies.GRANT_PRIORITY_MAX,
            words=f"The priority must be a whole number from 0 to {bodies.GRANT_PRIORITY_MAX}.",
        )
    return bodies.grant_field({"grant": raw}, zone)


def _grant_words(grant: GrantSpec | None, zone: str) -> tuple[str, dict[str, Any]]:
    """How the confirmation says the grant (its expiry in the quota time zone, named), and
    the fields it posts on."""
    if grant is None:
        return "", {}
    expires = grant.expires_at.isoformat() if grant.expires_at else ""
    words = f" as a {grant.kind} grant"
    ends = f", expiring {in_zone(grant.expires_at, zone)}" if grant.expires_at else ""
    words += ends or ", never expiring"
    words += f", priority {grant.priority}"
    return words, {"kind": grant.kind, "expires": expires, "priority": grant.priority}


async def _revocation(
    request: web.Request, fields: Fields, row: Mapping[str, Any]
) -> dict[str, Any]:
    """A grant's revocation: its unspent rest leaves the balance (shown as money out)."""
    grant = await grant_on(request, row["id"], str(fields.get("grant_id", "")))
    rest = grant["remaining_micros"] if grant["revoked_at"] is None else 0
    left = f"{usd_exact(rest)} left" if grant["revoked_at"] is None else "already revoked"
    summary = (
        f"Revoke grant {grant['id']} ({grant['kind']}, {left} of"
        f" {usd_exact(grant['amount_micros'])}) of {row['name']}"
    )
    return {"amount_micros": -rest, "grant_id": grant["id"], "summary": summary}


async def _described(
    request: web.Request, action: str, fields: Fields, row: Mapping[str, Any]
) -> dict[str, Any]:
    if action not in ACTIONS:
        raise InvalidRequest("Unknown action.")
    if action == "revoke-grant":
        what = await _revocation(request, fields, row)
    else:
        what = _what(action, fields, row, request.config_dict[SETTINGS].timezone)
    return what


def _what(action: str, fields: Fields, row: Mapping[str, Any], zone: str) -> dict[str, Any]:
    """What the confirmation page asks about: the sentence and the fields it posts."""
    reason = _reason(fields)
    if action == "plan":
        plan = str(fields.get("plan", ""))
        return {"plan": plan, "summary": f"Change the plan from {row['plan']} to {plan}"}
    micros = _dollars(fields)
    if action == "refund":  # shown as money out; posted as the refund's positive amount
        payment = str(fields.get("payment_id", ""))
        summary = f"Refund {usd_exact(micros)} of payment {payment} to {row['name']}"
        return {"amount_micros": -micros, "payment_id": payment, "summary": summary}
    if action == "adjustment":
        if not reason:
            raise InvalidRequest("An adjustment needs a reason.")
        if fields.get("direction") != "in":
            micros = -micros
    verb = "Take" if micros < 0 else "Add"
    where = "from" if micros < 0 else "to"
    words, grant = _grant_words(_grant(fields, zone), zone) if action == "credit" else ("", {})
    summary = f"{verb} {usd_exact(abs(micros))} {where} {row['name']}{words}"
    return {"amount_micros": micros, "reason": reason, "summary": summary, **grant}


def _paths(request: web.Request, action: str) -> tuple[str, str]:
    """The path a form posts to (its token's action) and the account page it came from."""
    page = f"{OPS}/accounts/{request.match_info['account_id']}"
    return f"{page}/{action}", page


async def confirm(request: web.Request) -> web.Response:
    """GET: the form's fields, read back in dollars, with one Confirm button that posts the
    form's token on (the post spends or refuses it; this page moves nothing)."""
    operator(request)
    row = await target_row(request)
    action = request.match_info["action"]
    token = str(request.query.get(form_tokens.FIELD, ""))
    try:
        what = await _described(request, action, request.query, row) | {"form_token": token}
        if action == "plan" and what["plan"] not in request.config_dict[PLANS].plans:
            raise InvalidRequest("No such plan.")
    except MeterwayError as exc:
        typed = {"form": action} | {k: str(v) for k, v in request.query.items()}
        return await account(request, status=exc.status, error=exc.message, typed=typed)
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


async def _post(request: web.Request, action: str, fields: Fields, key: str) -> str:
    """Move the money (or the plan) under the form's token as its idempotency key; the
    notice the account page shows after it."""
    row = await target_row(request)
    reason = _reason(fields)
    if action == "plan":
        await set_account_plan(
            request, row, {"plan": str(fields.get("plan", "")), "idempotency_key": key}
        )
        return "plan"
    if action == "refund":
        payment = str(fields.get("payment_id", ""))
        _, created = await refund_account(request, row["id"], payment, -_micros(fields), key)
        return "refunded" if created else "replayed"
    if action == "revoke-grant":
        _, created = await revoke_grant(request, row["id"], str(fields.get("grant_id", "")), key)
        return "grant-revoked" if created else "replayed"
    if action == "credit":
        grant = _grant(fields, request.config_dict[SETTINGS].timezone)
        answer = await credit_account(
            request, row["id"], _micros(fields), key, reason or None, grant
        )
        created = answer[1]
    else:
        _, created = await adjust_account(request, row["id"], _micros(fields), key, reason)
    return ("credited" if action == "credit" else "adjusted") if created else "replayed"


async def submit(request: web.Request) -> web.Response:
    """POST from the confirmation page only: the first spends the form's token, any other
    submit of it is refused (FormAlreadySubmitted, a page linking to this one's result)."""
    operator(request)
    action = request.path.rsplit("/", 1)[1]
    fields = await request.post()
    path, page = _paths(request, action)

    async def work() -> str:
        return f"{page}?notice={await _post(request, action, fields, token)}"

    try:
        token = form_tokens.token_of(fields)
        target = await form_tokens.once(request, token, path, page, work)
    except FormAlreadySubmitted:
        raise
    except MeterwayError as exc:
        typed = _as_typed(action, fields, request.config_dict[SETTINGS].timezone)
        return await account(request, status=exc.status, error=exc.message, typed=typed)
    raise web.HTTPSeeOther(target)


def _as_typed(action: str, fields: Fields, zone: str) -> dict[str, str]:
    """The form's fields as its person typed them, from what the confirmation posted (the
    amount back in dollars, the expiry back to its day), for the form drawn again."""
    typed = {"form": action, **{k: str(fields.get(k, "")) for k in ("reason", "kind", "priority")}}
    raw = str(fields.get("amount_micros", "")).lstrip("-")
    if raw.isascii() and raw.isdigit() and len(raw) <= 18:  # "²" is a digit to isdigit only
        typed["amount"] = usd_input(int(raw))
    typed["direction"] = "out" if str(fields.get("amount_micros", "")).startswith("-") else "in"
    expires = str(fields.get("expires", ""))
    if expires:
        with contextlib.suppress(ValueError):
            typed["expires"] = (
                datetime.fromisoformat(expires).astimezone(ZoneInfo(zone)).date().isoformat()
            )
    return typed


def add_routes(dash: web.Application) -> None:
    r = dash.router
    declare(
        r,
        Route(
            "GET",
            "/operators/accounts/{account_id}/confirm/{action}",
            confirm,
            authority.OPERATOR_PAGE,
            doc=dashboard_doc.page(
                "A credit, adjustment, refund, grant revocation or plan change read back,"
                " with Confirm"
            ),
        ),
    )
    for action, (audit, summary) in ACTIONS.items():
        path, doc = f"/operators/accounts/{{account_id}}/{action}", dashboard_doc.page(summary)
        declare(r, Route("POST", path, submit, authority.OPERATOR_PAGE, audit, doc=doc))
