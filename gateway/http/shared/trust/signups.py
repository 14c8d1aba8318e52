"""The operator's side of sign-up: the list of sign-ups (pending first to decide) and the
decision, e-mailed to the person. Approving serves the account's keys from the next
request and gives its plan's trial; rejecting keeps them refused (403 account_rejected).
And the suspected farms (services/trust/trial_gate.py), whose trials one action takes back
through the grants' own revocation (an audited `grant.revoke` and an `expire` entry each)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.helpers import ChainMapProxy

from billing import authority
from gateway.errors import InvalidRequest, NotFound
from gateway.http import audited
from gateway.http.appkeys import COURIER, GRANTS, SETTINGS, SIGNUPS
from gateway.http.audited import actor_of
from gateway.http.links import BASE
from gateway.http.openapi.paths import signup as signup_doc
from gateway.http.people import signup_flow
from gateway.http.routing import Route, audits, declare
from gateway.http.shared.credit_grants import revoke_grant
from gateway.llm.reading.calls import parse_json
from gateway.outbound.mail import signin as signin_mail
from gateway.outbound.mail import signup as signup_mail
from gateway.services.members.signup import decide
from gateway.services.trust import trial_gate
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
        "trial_state": trial_gate.trial_state(row),
        "refused_by": row["trial_check"],
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


MAX_REVOKE = 500  # accounts in one revocation


async def farms(request: web.Request) -> list[dict[str, Any]]:
    """The suspected farms among the last 30 days' sign-ups, largest first."""
    rows = await request.config_dict[SIGNUPS].recent(trial_gate.FARM_DAYS, trial_gate.FARM_ROWS)
    return trial_gate.suspected(rows)


async def list_farms(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": await farms(request)})


async def revoke_trials(request: web.Request, account_ids: list[str]) -> list[dict[str, Any]]:
    """Each account's sign-up trial taken back: every trial grant its sign-up was given is
    revoked by the grants' one revocation (audited, written off by the grant keeper), and
    the sign-up marked. Every id is checked first: NotFound names one no sign-up opened."""
    app = request.config_dict
    for account_id in account_ids:
        if await app[SIGNUPS].of_account(account_id) is None:
            raise NotFound(f"No sign-up opened {account_id}.", param="account_ids")
    actor, done = actor_of(request), []
    for account_id in account_ids:
        grants = trial_gate.trial_grants(await app[GRANTS].of_account(account_id))
        for grant in grants:
            await revoke_grant(request, account_id, str(grant["id"]))
        await app[SIGNUPS].revoke_trial(account_id, f"{actor.kind}:{actor.id}")
        done.append({"account_id": account_id, "revoked_grants": [g["id"] for g in grants]})
    return done


def account_ids(raw: object) -> list[str]:
    """A body's `account_ids`: 1 to MAX_REVOKE account ids, each once."""
    ids = raw.get("account_ids") if isinstance(raw, dict) else None
    if not isinstance(ids, list) or not 0 < len(ids) <= MAX_REVOKE:
        raise InvalidRequest(
            f"'account_ids' is a list of 1 to {MAX_REVOKE} account ids.", param="account_ids"
        )
    if not all(isinstance(i, str) and 0 < len(i) <= 200 and "\x00" not in i for i in ids):
        raise InvalidRequest("'account_ids' holds account ids (strings).", param="account_ids")
    return list(dict.fromkeys(ids))


async def admin_revoke_trials(request: web.Request) -> web.Response:
    ids = account_ids(parse_json(await request.read()))
    return web.json_response({"object": "list", "data": await revoke_trials(request, ids)})


def add_routes(admin: web.Application) -> None:
    declare(
        admin.router,
        Route("GET", "/signups", list_signups, authority.OPERATOR, doc=signup_doc.LIST_SIGNUPS),
        Route("GET", "/signups/farms", list_farms, authority.OPERATOR, doc=signup_doc.LIST_FARMS),
        Route(
            "POST",
            "/signups/revoke-trials",
            admin_revoke_trials,
            authority.OPERATOR,
            audits("grant.revoke"),
            doc=signup_doc.REVOKE_TRIALS,
        ),
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
