"""Signing up in the dashboard (the form, the code, the e-mailed link's button) and
approving a `meterway login` from a signed-in session. The steps are signup_flow's, the
same as /v1/auth's; verifying signs the new owner in."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from billing import authority
from gateway.errors import MeterwayError, PermissionDenied
from gateway.http import audited
from gateway.http.appkeys import SETTINGS, SIGNIN_TICKETS
from gateway.http.dashboard.people.entry import enter
from gateway.http.dashboard.people.session import PRE_COOKIE, account_principal, set_cookie
from gateway.http.dashboard.web import CONTEXT, render
from gateway.http.openapi.paths import dashboard as dashboard_doc
from gateway.http.people import signup_flow
from gateway.http.routing import SIGN_UP, Route, audits, declare
from gateway.services.keys import device_login

DEVICE_S = 365 * 86400  # the sign-up form's device cookie lives a year


def _page(request: web.Request, status: int = 200, **context: Any) -> web.Response:
    token = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
    request[CONTEXT] = {"session": None, "csrf": token}
    policy = request.config_dict[SETTINGS].signup.policy
    context = {"verify": "", "email": "", "error": ""} | context
    response = render(
        request, "signup.html", status=status, title="Sign up", policy=policy, **context
    )
    set_cookie(request, response, PRE_COOKIE, token)
    device = request.cookies.get(signup_flow.DEVICE_COOKIE) or secrets.token_urlsafe(24)
    set_cookie(request, response, signup_flow.DEVICE_COOKIE, device, DEVICE_S)  # trial checks
    return response


async def signup_page(request: web.Request) -> web.Response:
    if not request.config_dict[SETTINGS].signup.open:
        return _page(request, status=404, error="Sign-up is closed here: ask for an invitation.")
    return _page(request)


async def signup_post(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        addr = await signup_flow.ask(request, form.get("email"))
    except MeterwayError as exc:
        return _page(request, status=exc.status, error=exc.message)
    return _page(request, email=addr.email)


async def code_post(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        done = await signup_flow.verify_code(request, form.get("email"), form.get("code"))
    except MeterwayError as exc:
        email = form.get("email")
        return _page(
            request,
            status=exc.status,
            email=email if isinstance(email, str) else "",
            error=exc.message,
        )
    raise await enter(request, done.member, "sign-up")


async def verify_page(request: web.Request) -> web.Response:
    return _page(request, verify=request.match_info["secret"])


async def verify_post(request: web.Request) -> web.Response:
    done = await signup_flow.verify_link(request, request.match_info["secret"])
    raise await enter(request, done.member, "sign-up")


def _device(request: web.Request, status: int = 200, **context: Any) -> web.Response:
    blank = {"done": "", "waiting": None, "code": "", "scopes": "", "started": "", "error": ""}
    context = blank | context
    return render(request, "device.html", status=status, title="Log in a terminal", **context)


async def device_page(request: web.Request) -> web.Response:
    code = device_login.normal_user_code(request.query.get("code", ""))
    waiting = (
        await device_login.waiting(request.config_dict[SIGNIN_TICKETS], code) if code else None
    )
    if request.query.get("code") and waiting is None:
        return _device(
            request,
            status=404,
            error="No login waits for this code; run `meterway login` again.",
        )
    scopes = (
        " ".join(str(s) for s in waiting["scopes"])
        if waiting and isinstance(waiting["scopes"], list)
        else ""
    )
    return _device(
        request,
        waiting=waiting,
        code=code,
        scopes=scopes or "everything your role allows",
        started=_started(waiting) if waiting else "",
    )


def _started(waiting: dict[str, object]) -> str:
    """When and from where the login was started, in words (a code from before these were
    kept shows none)."""
    at = waiting.get("started_at")
    if not isinstance(at, int):
        return ""
    when = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    address = str(waiting.get("address") or "an unknown address")
    agent = str(waiting.get("agent") or "no User-Agent")
    return f"{when} from {address} ({agent})"


async def device_post(request: web.Request) -> web.Response:
    who = account_principal(request)
    if who.member_id is None:
        raise PermissionDenied(
            "Sign in as a person (e-mailed link or identity provider) to approve a login."
        )
    form = await request.post()
    raw, approve = form.get("code"), form.get("decision") == "approve"
    code = device_login.normal_user_code(raw if isinstance(raw, str) else "")
    member = who.member_id if approve else None
    if not await device_login.decide(
        request.config_dict[SIGNIN_TICKETS], code, member, who.account_id
    ):
        return _device(
            request,
            status=400,
            error="No login waits for this code; run `meterway login` again.",
        )
    action = "device.approve" if approve else "device.deny"
    await audited.record(request, action, "device", code, who.account_id, None, {"user_code": code})
    done = (
        "Approved: your terminal is signed in."
        if approve
        else "Denied: the terminal gets no token."
    )
    return _device(request, done=done)


def add_routes(dash: web.Application) -> None:
    r = dash.router
    declare(
        r,
        Route(
            "GET",
            "/signup",
            signup_page,
            authority.PUBLIC,
            doc=dashboard_doc.page("Sign-up form (SIGNUP_POLICY open or approval)"),
        ),
        Route(
            "POST",
            "/signup",
            signup_post,
            authority.PUBLIC,
            SIGN_UP,
            doc=dashboard_doc.page("Sign up: e-mail a verification link and code"),
        ),
        Route(
            "POST",
            "/signup/code",
            code_post,
            authority.PUBLIC,
            SIGN_UP,
            doc=dashboard_doc.page("Verify by the e-mailed code: the new owner's session"),
        ),
        Route(
            "GET",
            "/signup/verify/{secret}",
            verify_page,
            authority.PUBLIC,
            doc=dashboard_doc.page("A verification link's page: a Verify button"),
        ),
        Route(
            "POST",
            "/signup/verify/{secret}",
            verify_post,
            authority.PUBLIC,
            audits("signup.verify"),
            doc=dashboard_doc.page("Verify by the link, once: a session"),
        ),
        Route(
            "GET",
            "/device",
            device_page,
            authority.DEVICE,
            doc=dashboard_doc.page("Approve a `meterway login`: its code and scopes"),
        ),
        Route(
            "POST",
            "/device",
            device_post,
            authority.DEVICE,
            audits("device.approve", "device.deny"),
            doc=dashboard_doc.page("Approve or deny a `meterway login` code"),
        ),
    )
