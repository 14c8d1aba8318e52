"""The operator's side of sign-up: the list of sign-ups (pending first to decide) and the
decision, e-mailed to the person. Approving serves the account's keys from the next
request and gives its plan's trial; rejecting keeps them refused (403 account_rejected)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.helpers import ChainMapProxy

from billing import authority
from gateway.errors import InvalidRequest
from gateway.http import audited, signup_flow
from gateway.http.appkeys import COURIER, SETTINGS, SIGNUPS
from gateway.http.audited import actor_of
from gateway.http.links import BASE
from gateway.http.openapi import signup as signup_doc
from gateway.http.routing import Route, audits, declare
from gateway.outbound import signin_mail, signup_mail
from gateway.services.signup import decide
from gateway.stores.records import Row

STATUSES = ("pending", "active", "rejected")


def signup_json(row: Row) -> dict[str, Any]:
    return {
        "object": "signup",
        "account_id": row["account_id"],
        "email": row["email"],
        "status": row["status"],
        "via": row["via"],
        "plan": row["plan"],
        "created_at": row["created_at"].isoformat(),
        "decided_at": row["decided_at"].isoformat() if row["decided_at"] else None,
        "decided_by": row["decided_by"],
        "trial": row["trial_at"] is not None,
    }


async def listed(request: web.Request, status: str | None) -> list[Row]:
    if status is not None and status not in STATUSES:
        raise InvalidRequest(f"'status' is one of {', '.join(STATUSES)}.", param="status")
    return await request.config_dict[SIGNUPS].listed(status, 200)


async def list_signups(request: web.Request) -> web.Response:
    rows = await listed(request, request.query.get("status"))
    return web.json_response({"object": "list", "data": [signup_json(r) for r in rows]})


async def decided(request: web.Request, account_id: str, approve: bool) -> Row:
    """The decision, audited and e-mailed; the trial given on approval."""
    actor = actor_of(request)
    row = await decide(
        signup_flow.desk(request.config_dict), account_id, approve, f"{actor.kind}:{actor.id}"
    )
    action = "signup.approve" if approve else "signup.reject"
    await audited.record(
        request,
        action,
        "account",
        account_id,
        account_id,
        {"status": "pending"},
        {"status": row["status"]},
    )
    if approve:
        await signup_flow.trial(request, account_id)
    request.config_dict[COURIER].post("signup_decision", _mail(request.config_dict, row, approve))
    return row


async def _mail(app: ChainMapProxy, row: Row, approved: bool) -> None:
    settings = app[SETTINGS]
    if not (settings.signin.smtp_url and settings.signin.email_from):
        return
    url = f"{settings.public_url}{BASE}/"
    message = signup_mail.decision(settings.signin.email_from, row["email"], approved, url)
    await signin_mail.send(settings.signin.smtp_url, message)


async def approve(request: web.Request) -> web.Response:
    row = await decided(request, request.match_info["account_id"], True)
    return web.json_response(signup_json(row))


async def reject(request: web.Request) -> web.Response:
    row = await decided(request, request.match_info["account_id"], False)
    return web.json_response(signup_json(row))


def add_routes(admin: web.Application) -> None:
    declare(
        admin.router,
        Route("GET", "/signups", list_signups, authority.OPERATOR, doc=signup_doc.LIST_SIGNUPS),
        Route(
            "POST",
            "/signups/{account_id}/approve",
            approve,
            authority.OPERATOR,
            audits("signup.approve"),
            doc=signup_doc.APPROVE,
        ),
        Route(
            "POST",
            "/signups/{account_id}/reject",
            reject,
            authority.OPERATOR,
            audits("signup.reject"),
            doc=signup_doc.REJECT,
        ),
    )
