"""Signing in to the dashboard: a credential exchanged once for a session cookie.

The API key or token is posted once, checked exactly as the APIs check it (`principal_of`,
`verify_operator`), and never kept: the browser gets a random session id in an HttpOnly,
SameSite=Strict cookie (nothing in localStorage, nothing a script can read), and Redis keeps
the session under the id's SHA-256. Each request rebuilds the caller from the session and
re-checks it, so a revoked key or token ends its sessions at once.

CSRF: every form that changes something carries the session's token, compared in constant
time; the sign-in form (no session yet) uses a double-submit cookie. A cross-site Origin
header is refused before either.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from billing.authority import Actor, Decision, may
from billing.roles import ROLE_SCOPES
from gateway.errors import InvalidApiKey, InvalidRequest, MeterwayError, PermissionDenied
from gateway.http.appkeys import DASHBOARD_SESSIONS, MEMBERS, REVOCATIONS, SETTINGS, STORE
from gateway.http.audited import ACTOR, principal_actor
from gateway.http.dashboard.people import after_signin
from gateway.http.dashboard.web import CONTEXT
from gateway.http.links import BASE as BASE
from gateway.http.links import digest as digest
from gateway.http.principal import (
    BILLING_READ,
    PRINCIPAL,
    USER_SCOPES,
    Principal,
    key_principal,
    principal_of,
)
from gateway.http.routing import action_of
from gateway.http.shared.operator.access import Operator, verify_operator
from gateway.outbound.sign_in.jwt_auth import VerifiedToken
from gateway.services.audit import Actor as AuditActor
from gateway.services.auth import hash_key
from gateway.stores.records import Row

COOKIE = "mw_session"
PRE_COOKIE = "mw_signin_csrf"
TTL_S = 8 * 3600
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC = (f"{BASE}/signin", f"{BASE}/signup", f"{BASE}/static/")
# The identity provider's POST of a SAML response (the POST binding) comes from its site and
# carries no form token: the signed assertion, and the request id this browser's cookie is
# bound to, stand in for one (http/dashboard/people/saml.py).
SIGNED_POSTS = (f"{BASE}/signin/saml/acs",)


@dataclass(frozen=True, slots=True)
class Session:
    label: str
    csrf: str
    principal: Principal | None
    operator: bool
    via: str = "dashboard session"  # how its person signed in, for the audit log
    admin_key: bool = False  # signed in with the admin key: the API's "admin key" operator


SESSION = web.RequestKey("dashboard_session", Session)


def _secure(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"


def set_cookie(
    request: web.Request,
    response: web.StreamResponse,
    name: str,
    value: str,
    max_age: int = TTL_S,
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=BASE,
        httponly=True,
        samesite="Strict",
        secure=_secure(request),
    )


async def _try_operator(request: web.Request, raw: str) -> Operator | None:
    try:
        return await verify_operator(request, raw)
    except MeterwayError:
        return None


def _may_sign_in(who: Principal) -> None:
    if who.kind == "key" and not (who.has(BILLING_READ) or "billing" in who.scopes):
        raise PermissionDenied("Sign in with an API key that has the 'billing' scope.")
    if who.kind == "user" and not who.scopes & USER_SCOPES:
        raise PermissionDenied("This token carries no account scope.")


async def _caller(request: web.Request, raw: str) -> tuple[Principal | None, Operator | None]:
    operator = await _try_operator(request, raw)
    if operator is not None and operator.token is None:
        return None, operator  # the ADMIN_API_KEY: operator pages only
    try:
        who = await principal_of(request, raw)
    except MeterwayError:
        if operator is not None:
            return None, operator  # an admin token whose user has no account
        raise
    _may_sign_in(who)
    return who, operator


def _record(
    who: Principal | None, operator: Operator | None, raw: str
) -> tuple[dict[str, Any], int]:
    """What Redis keeps of a sign-in, and for how long: never the credential itself."""
    data: dict[str, Any] = {"csrf": secrets.token_urlsafe(24), "operator": operator is not None}
    token = who.token if who is not None else operator.token if operator else None
    ttl = TTL_S if token is None else min(TTL_S, token.remaining_s())
    if who is not None and who.key is not None:
        data.update(kind="key", account_id=who.account_id, key_hash=hash_key(raw))
        data["label"] = f"key {who.key.key_id}"
    elif token is not None:
        data.update(kind="user", sub=token.subject, jti=token.jti, iat=token.issued_at)
        data.update(exp=token.expires_at, scopes=sorted(token.scopes), label=token.subject)
        data["account_id"] = who.account_id if who is not None else None
        if who is not None and who.role:  # JWT_ROLE_CLAIM: the role decides, as on the API
            data.update(role=who.role, member_id=who.member_id)
    else:
        data.update(kind="admin", label="operator")
    return data, ttl


async def start_session(request: web.Request, raw: str) -> tuple[str, dict[str, Any]]:
    """Check `raw` as the APIs would and open a session; the cookie value and the record."""
    who, operator = await _caller(request, raw)
    data, ttl = _record(who, operator, raw)
    if data["kind"] == "admin":
        data["admin_digest"] = _admin_digest(request)
    cookie = secrets.token_urlsafe(32)
    await request.config_dict[DASHBOARD_SESSIONS].create(digest(cookie), data, ttl)
    return cookie, data


async def start_member_session(request: web.Request, member: Row, via: str = "") -> str:
    """A session for an account member signed in by identity provider or e-mailed link
    (`via`: oidc, e-mailed link); the cookie value."""
    await request.config_dict[MEMBERS].signed_in(member["id"])
    data = {
        "kind": "member",
        "member_id": member["id"],
        "account_id": member["account_id"],
        "label": member["email"] or member["subject"],
        "csrf": secrets.token_urlsafe(24),
        "operator": False,
        "signin": via,
    }
    cookie = secrets.token_urlsafe(32)
    await request.config_dict[DASHBOARD_SESSIONS].create(digest(cookie), data, TTL_S)
    return cookie


async def _member_principal(request: web.Request, data: dict[str, Any]) -> Principal | None:
    """A member's session lasts while the member does: removing them ends it."""
    member = await request.config_dict[MEMBERS].get(str(data["member_id"]))
    if member is None or member["account_id"] != data["account_id"]:
        return None
    role = member["role"]
    scopes = ROLE_SCOPES[role]
    return Principal(member["account_id"], "user", scopes, role=role, member_id=member["id"])


async def _key_principal(request: web.Request, data: dict[str, Any]) -> Principal | None:
    store = request.config_dict[STORE]
    record = await store.lookup_key(str(data["key_hash"]))
    if record is None or not await store.key_is_live(record.shard, record.key_id):
        return None
    return await key_principal(request, record)


async def _token_alive(request: web.Request, data: dict[str, Any]) -> VerifiedToken | None:
    sub, jti, iat, exp = data["sub"], data.get("jti"), int(data["iat"]), int(data["exp"])
    if exp <= time.time():
        return None
    if await request.config_dict[REVOCATIONS].is_revoked(sub, jti, iat):
        return None
    return VerifiedToken(sub, jti, iat, exp, frozenset(data["scopes"]), {})


async def _token_principal(
    request: web.Request, data: dict[str, Any], token: VerifiedToken
) -> Principal | None:
    """A token's caller: its member's role as it is now when its role claim named one
    (kept to the member's own keys for `member`), else the token's own scopes; None once
    that member has been removed."""
    account_id, role = str(data["account_id"]), str(data.get("role") or "")
    if role not in ROLE_SCOPES:
        return Principal(account_id, "user", token.scopes, token=token)
    member_id = data.get("member_id")
    if member_id is not None:
        member = await request.config_dict[MEMBERS].get(str(member_id))
        if member is None or member["account_id"] != account_id:
            return None
        role = member["role"]
    scopes = ROLE_SCOPES[role]
    return Principal(account_id, "user", scopes, token=token, role=role, member_id=member_id)


def _admin_digest(request: web.Request) -> str:
    return digest(request.config_dict[SETTINGS].admin_api_key)


async def _session_of(request: web.Request, data: dict[str, Any]) -> Session | None:
    """The caller again, re-checked: None when the key or token has since been revoked
    (or, for the admin key, replaced)."""
    who: Principal | None = None
    if data["kind"] == "admin" and data.get("admin_digest") != _admin_digest(request):
        return None
    if data["kind"] == "key":
        who = await _key_principal(request, data)
        if who is None:
            return None
    elif data["kind"] == "member":
        who = await _member_principal(request, data)
        if who is None:
            return None
    elif data["kind"] == "user":
        token = await _token_alive(request, data)
        if token is None:
            return None
        if data["account_id"]:
            who = await _token_principal(request, data, token)
            if who is None:
                return None
    how = data.get("signin") or ("jwt" if data["kind"] == "user" else "")
    via = f"dashboard session ({how})" if how else "dashboard session"
    admin = data["kind"] == "admin"
    return Session(str(data["label"]), str(data["csrf"]), who, bool(data["operator"]), via, admin)


async def load_session(request: web.Request) -> Session | None:
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    sessions = request.config_dict[DASHBOARD_SESSIONS]
    data = await sessions.get(digest(cookie))
    if data is None:
        return None
    session = await _session_of(request, data)
    if session is None:
        await sessions.delete(digest(cookie))
    return session


async def end_session(request: web.Request) -> None:
    cookie = request.cookies.get(COOKIE)
    if cookie:
        await request.config_dict[DASHBOARD_SESSIONS].delete(digest(cookie))


def _same_origin(request: web.Request) -> None:
    origin = request.headers.get("Origin")
    if origin is not None and origin.split("://", 1)[-1] != request.host:
        raise PermissionDenied("Cross-site form posts are refused.")


async def check_csrf(request: web.Request, expected: str | None) -> None:
    """The form's `csrf` field must equal `expected` (constant-time); raise otherwise."""
    _same_origin(request)
    try:
        form = await request.post()
    except ValueError as exc:  # a malformed form body, e.g. multipart without a boundary
        raise InvalidRequest("The form could not be read.") from exc
    given = form.get("csrf")
    if not expected or not isinstance(given, str) or not hmac.compare_digest(given, expected):
        raise PermissionDenied("The form expired or did not come from this dashboard; reload it.")


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Public pages pass; every other page needs a live session, and every change its CSRF."""
    if request.path.startswith(PUBLIC):
        if request.method not in SAFE and request.path not in SIGNED_POSTS:
            await check_csrf(request, request.cookies.get(PRE_COOKIE))
        return await handler(request)
    session = await load_session(request)
    if session is None:
        to_signin = web.HTTPSeeOther(f"{BASE}/signin")
        after_signin.remember(request, to_signin, BASE)
        raise to_signin
    request[SESSION] = session
    request[CONTEXT] = {"session": session, "csrf": session.csrf}
    if session.principal is not None:
        request[PRINCIPAL] = session.principal
    _authorize(request, session)
    request[ACTOR] = session_actor(session, request.path)
    if request.method not in SAFE:
        await check_csrf(request, session.csrf)
    return await handler(request)


def session_actor(session: Session, path: str) -> AuditActor:
    """Who a session's changes are by: the operator on the Operators pages (or a session
    with no account), else the account's member, key or token."""
    if session.principal is None or (session.operator and path.startswith(f"{BASE}/operators")):
        return AuditActor("operator", session.label, session.via)
    return principal_actor(session.principal, session.via)


def _authorize(request: web.Request, session: Session) -> None:
    """The page's action (gateway/http/routing.py) decided by `may`, before CSRF and
    the handler: an operator's pages for the operator, the others for the account's caller."""
    action = action_of(request)
    if session.operator and (action.surface == "operator" or session.principal is None):
        actor = Actor("operator")
    elif session.principal is not None:
        actor = session.principal.actor()
    else:
        actor = Actor("person")  # signed in as no account's caller: only the session's pages
    if may(actor, action) is Decision.ALLOW:
        return
    if action.surface == "operator":
        raise PermissionDenied("Operators only: sign in with the admin key or an admin token.")
    account_principal(request).refuse(action)


def account_principal(request: web.Request) -> Principal:
    """The signed-in account; an operator-only session has none."""
    who = request[SESSION].principal
    if who is None:
        raise InvalidApiKey("Sign in with an account's API key or token to see this page.")
    return who
