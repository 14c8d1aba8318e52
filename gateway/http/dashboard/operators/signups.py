"""The operator's Sign-ups page: the accounts people opened themselves, the pending ones
with Approve and Reject (the same decision as `POST /admin/v1/signups/{id}/approve`), and
the suspected farms with one button taking back their trials (the same action as
`POST /admin/v1/signups/revoke-trials`)."""

from __future__ import annotations

from aiohttp import web

from billing import authority
from gateway.errors import MeterwayError
from gateway.http.dashboard.operators.accounts import operator
from gateway.http.dashboard.people.session import BASE
from gateway.http.dashboard.web import render
from gateway.http.openapi.paths import dashboard as dashboard_doc
from gateway.http.routing import Route, audits, declare
from gateway.http.shared.trust.signups import (
    account_ids,
    decided,
    farms,
    listed,
    revoke_trials,
    signup_json,
)

PAGE = f"{BASE}/operators/signups"


async def signups_page(
    request: web.Request, *, status: int = 200, notice: str = "", error: str = ""
) -> web.Response:
    operator(request)
    rows = [signup_json(r) for r in await listed(request, None)]
    pending = [r for r in rows if r["status"] == "pending"]
    others = [r for r in rows if r["status"] != "pending"]
    return render(
        request, "ops_signups.html", status=status, title="Sign-ups", nav="signups",
        pending=pending, others=others, notice=notice, error=error, farms=await farms(request),
    )  # fmt: skip


async def signups(request: web.Request) -> web.Response:
    return await signups_page(request)


async def _decide(request: web.Request, approve: bool) -> web.Response:
    operator(request)
    account_id = request.match_info["account_id"]
    try:
        row = await decided(request, account_id, approve)
    except MeterwayError as exc:
        return await signups_page(request, status=exc.status, error=exc.message)
    word = "approved" if approve else "rejected"
    return await signups_page(request, notice=f"{row['email']} {word}; they were e-mailed.")


async def approve(request: web.Request) -> web.Response:
    return await _decide(request, True)


async def reject(request: web.Request) -> web.Response:
    return await _decide(request, False)


async def revoke(request: web.Request) -> web.Response:
    operator(request)
    form = await request.post()
    try:
        done = await revoke_trials(
            request, account_ids({"account_ids": form.getall("account_id", [])})
        )
    except MeterwayError as exc:
        return await signups_page(request, status=exc.status, error=exc.message)
    taken = sum(1 for d in done if d["revoked_grants"])
    return await signups_page(request, notice=f"Trial credit taken back from {taken} account(s).")


def add_routes(dash: web.Application) -> None:
    r = dash.router
    declare(
        r,
        Route(
            "GET",
            "/operators/signups",
            signups,
            authority.OPERATOR_PAGE,
            doc=dashboard_doc.page("Sign-ups: the pending ones with Approve, Reject"),
        ),
        Route(
            "POST",
            "/operators/signups/{account_id}/approve",
            approve,
            authority.OPERATOR_PAGE,
            audits("signup.approve"),
            doc=dashboard_doc.page("Approve a pending sign-up"),
        ),
        Route(
            "POST",
            "/operators/signups/{account_id}/reject",
            reject,
            authority.OPERATOR_PAGE,
            audits("signup.reject"),
            doc=dashboard_doc.page("Reject a pending sign-up"),
        ),
        Route(
            "POST",
            "/operators/signups/revoke-trials",
            revoke,
            authority.OPERATOR_PAGE,
            audits("grant.revoke"),
            doc=dashboard_doc.page("Take back the trial credit of a suspected farm"),
        ),
    )
