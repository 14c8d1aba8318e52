"""Every account, billing, operator, metering, sign-up, device-login, auth-token and dashboard
route of the route table (gateway/http/route_actions.py, read off the app's route records)
asked by every kind of caller, with a resource of its own
organization and of another, each answer checked against `may` (billing/authority.py):
allowed is never 401, 403 nor a 404 of authority; denied is 401 or 403; hidden is 404.

The callers: the operator; a person of each role (a role-claim token on the API, an
e-mailed link's session on the dashboard); a key of each scope; a key a `member` minted; a
key a key minted; another organization's key; a metering service; the organization's SCIM
token (/scim/v2 only, its own organization's users and groups). One gateway serves it.
The Realtime event types and MCP methods the route records declare are asked the same way
in tests/e2e/test_authority_messages.py."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from billing.authority import Action, Actor, Decision, Resource, may
from billing.roles import ROLE_SCOPES, ROLES
from gateway.http.appkeys import DASHBOARD_SESSIONS, FORM_TOKENS
from gateway.http.dashboard.form_tokens import holder_of
from gateway.http.dashboard.people.session import COOKIE, digest
from gateway.http.principal import BILLING_READ, USER_SCOPES
from gateway.http.route_actions import table
from gateway.services.auth import hash_key
from tests.support.fakes.identity import ROLE_CLAIM_ENV, claims, sign_hs
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway
from tests.support.scim import Directory, mint_token

SURFACES = ("/v1/account", "/admin/v1/", "/v1/metering/", "/dashboard", "/v1/auth/", "/scim/v2")
MONTH = f"{datetime.now(UTC):%Y-%m}"
KEY_SCOPES = [*sorted(USER_SCOPES | {"billing"}), "chat"]
# Path parameters naming a thing of one organization, and what stands for an absent one.
OWNED = ("key_id", "member_id", "team_id", "request_id", "alert_id", "user_id", "group_id")
ABSENT = {"request_id": "req_none", "alert_id": "alert_none", "secret": "none", "tail": "none",
          "schema_id": "none", "type_id": "none", "domain": "absent.example",
          "number": "INV-999999", "change_id": "999999"}  # fmt: skip
FIXED = {"month": MONTH, "action": "credit", "subject": "nobody", "auth_id": "auth_none",
         "service_id": "svc_none", "grant_id": "1", "payment_id": "pay_none",
         "receipt_id": "pay_none", "upstream": "openai"}  # fmt: skip
# Bodies a handler reads before it looks its resource up would otherwise answer 400.
BODIES: dict[str, dict[str, Any]] = {
    "quotas": {"quotas": []},
    "rotate": {"grace_seconds": 0},
    "team": {"team_id": None},
    "role": {"role": "viewer"},
}
# Public routes asked too: sign-up and device login. A caller's credential changes nothing on
# them: each caller is refused exactly when a request with no credential is.
OPEN = ("/v1/auth/", "/dashboard/signup", "/dashboard/device")
DESTROYS = ("DELETE", "/rotate", "/revoke", "/remove")
# a key logging out revokes itself; minting a SCIM token again ends the one before it
ENDS_CALLER = (
    ("POST", "/v1/auth/logout"),
    ("POST", "/v1/account/scim/token"),
    ("POST", "/admin/v1/accounts/{account_id}/scim/token"),
)
ABSENT_PATHS = ("/alert-remove",)  # a form naming no alert: there is none to remove


@dataclass
class Caller:
    name: str
    actor: Actor
    api: str | None = None  # the credential for the APIs; None: not an API caller
    session: dict[str, Any] | None = None  # a dashboard session's record; None: none
    service: tuple[str, str] | None = None
    sub: str = ""

    def bearer(self) -> str | None:
        """A fresh token per request for a person (revoking one ends only it)."""
        if self.sub:
            return sign_hs(claims(self.sub, account_id=self.actor.account_id, groups=[self.name]))
        return self.api


@dataclass
class Org:
    account_id: str
    team: str = ""
    spare: dict[str, list[str]] = field(default_factory=dict)
    scim: str = ""  # its SCIM token


@pytest.fixture(scope="module")
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn, None, **ROLE_CLAIM_ENV) as gateway:
        yield gateway


async def api(gw: Gateway, cred: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {cred}", "content-type": "application/json"}
    data = None if body is None else json.dumps(body)
    async with gw.http.request(method, gw.url + path, data=data, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def new_org(gw: Gateway) -> Org:
    status, account = await gw.admin("POST", "/admin/v1/accounts", {"name": "m", "plan": "pro"})
    assert status == 201, account
    org = Org(account["id"])
    path = f"/admin/v1/accounts/{org.account_id}/teams"
    org.team = (await gw.admin("POST", path, {"name": "t"}))[1]["id"]
    org.scim = await mint_token(gw, org.account_id)
    return org


async def operator_key(gw: Gateway, account_id: str, scopes: list[str]) -> dict[str, Any]:
    body = {"account_id": account_id, "name": "k", "scopes": scopes}
    status, key = await gw.admin("POST", "/admin/v1/keys", body)
    assert status == 201, key
    return dict(key)


async def spare(gw: Gateway, org: Org, name: str) -> str:
    """A key, member or team of `org` for one request (a destroying one uses it up). A key
    holds only `keys:write`, so every key caller that may write keys holds its grant."""
    if name == "team_id":
        return org.team
    if name == "key_id":
        return str((await operator_key(gw, org.account_id, ["keys:write"]))["id"])
    if name in ("user_id", "group_id"):
        d = Directory(gw, org.account_id, org.scim)
        made = await (
            d.user(f"s-{secrets.token_hex(4)}")
            if name == "user_id"
            else d.group(secrets.token_hex(4))
        )
        return str(made["id"])
    body = {"email": f"s-{secrets.token_hex(4)}@example.com", "role": "viewer"}
    status, member = await gw.admin("POST", f"/admin/v1/accounts/{org.account_id}/members", body)
    assert status == 201, member
    return str(member["id"])


async def person(gw: Gateway, org: Org, role: str) -> Caller:
    sub = f"{role}-{secrets.token_hex(3)}"
    tok = sign_hs(claims(sub, account_id=org.account_id, groups=[role]))
    await api(gw, tok, "GET", "/v1/account")  # a role claim's member is added on first sight
    _, members = await gw.admin("GET", f"/admin/v1/accounts/{org.account_id}/members")
    member = next(m["id"] for m in members["data"] if m["subject"] == sub)
    reach = member if role == "member" else None
    actor = Actor("person", org.account_id, ROLE_SCOPES[role], reach)
    session = {"kind": "member", "member_id": member, "account_id": org.account_id}
    return Caller(role, actor, session=session, sub=sub)


def key_caller(name: str, account_id: str, key: dict[str, Any], reach: str | None) -> Caller:
    scopes = frozenset(key["scopes"])
    actor = Actor("key", account_id, scopes, reach)
    signs_in = BILLING_READ in scopes or "billing" in scopes or "billing:setup" in scopes
    session = {"kind": "key", "account_id": account_id, "key_hash": hash_key(key["key"])}
    return Caller(name, actor, api=key["key"], session=session if signs_in else None)


async def callers(gw: Gateway, own: Org, other: Org) -> list[Caller]:
    found = [Caller("operator", Actor("operator"), api=ADMIN_KEY, session={"kind": "admin"})]
    found += [await person(gw, own, role) for role in ROLES]
    for scope in KEY_SCOPES:
        key = await operator_key(gw, own.account_id, [scope])
        found.append(key_caller(f"key[{scope}]", own.account_id, key, None))
    wide = ["chat", "keys:write", "keys:read", "account:read"]
    member = next(c for c in found if c.name == "member")
    made = (
        await api(
            gw, str(member.bearer()), "POST", "/v1/account/keys", {"name": "m", "scopes": wide}
        )
    )[1]
    found.append(key_caller("key by member", own.account_id, made, member.actor.reach))
    parent = await operator_key(gw, own.account_id, [*wide, "usage:read"])
    child = (
        await api(gw, parent["key"], "POST", "/v1/account/keys", {"name": "c", "scopes": wide})
    )[1]
    found.append(key_caller("key by key", own.account_id, child, None))
    theirs = await operator_key(gw, other.account_id, sorted(USER_SCOPES | {"billing"}))
    found.append(key_caller("other org's key", other.account_id, theirs, None))
    status, service = await gw.admin(
        "POST",
        "/admin/v1/services",
        {"name": f"s{secrets.token_hex(3)}", "meters": ["gpu_seconds"]},
    )
    assert status == 201, service
    found.append(Caller("service", Actor("service"), service=(service["key"], service["name"])))
    found.append(Caller("scim", Actor("scim", own.account_id), api=own.scim))
    return found


def matrix_routes(gw: Gateway) -> Iterator[tuple[str, str, Action]]:
    """Every route of the surfaces, public ones (sign-up, device login, sign-in) too; those
    that revoke their caller last."""
    routes = table(gw.app)
    for (method, path), action in sorted(routes.items(), key=lambda r: (r[0] in ENDS_CALLER, r)):
        if path.startswith(SURFACES) and (action.surface != "public" or path.startswith(OPEN)):
            yield method, path, action


def params(path: str) -> list[str]:
    return [p.split("}")[0] for p in path.split("{")[1:]]


def expected(caller: Caller, action: Action, decision: Decision, dashboard: bool) -> str:
    if decision is Decision.ALLOW:
        return "allow"
    if decision is Decision.HIDE:
        return "404"
    if dashboard:  # an operator's session on an account's page: no account signed in
        return "401" if caller.actor.kind == "operator" and action.surface != "operator" else "403"
    if action.surface == "operator" and caller.actor.kind == "person":
        return "403"  # a person's token is a credential the operator API reads, without `admin`
    if action.surface in ("operator", "metering", "scim"):
        return "401"
    if caller.actor.kind in ("operator", "service", "scim"):
        return "401"
    return "403"


async def session_cookie(gw: Gateway, caller: Caller) -> dict[str, str]:
    assert caller.session is not None
    record = {"csrf": "x", "operator": caller.actor.kind == "operator", "label": caller.name}
    record |= caller.session
    if caller.actor.kind == "operator":
        record["admin_digest"] = digest(ADMIN_KEY)
    cookie = secrets.token_urlsafe(24)
    await gw.app[DASHBOARD_SESSIONS].create(digest(cookie), record, 600)
    return {COOKIE: cookie}


async def drawn_form(
    gw: Gateway, cookies: dict[str, str], path: str, body: dict[str, Any] | None
) -> dict[str, str]:
    """The form as its page draws it: the session's CSRF value and a money form's
    single-use token, minted for this session and this path."""
    [token] = await gw.app[FORM_TOKENS].mint(holder_of(cookies[COOKIE]), [path], 600)
    fields = {k: str(v) for k, v in (body or {}).items() if v is not None}
    return {"csrf": "x", "form_token": token, **fields}


def body_of(method: str, path: str) -> dict[str, Any] | None:
    if method in ("GET", "DELETE"):
        return None
    return next((b for k, b in BODIES.items() if path.endswith(k)), {})


async def ask(gw: Gateway, caller: Caller, method: str, path: str) -> int | None:
    """The status `caller` gets; None when it has no credential for the surface."""
    body, url = body_of(method, path), gw.url + path
    if path.startswith("/dashboard"):
        if caller.session is None:
            return None
        cookies = await session_cookie(gw, caller)
        form = None if method == "GET" else await drawn_form(gw, cookies, path, body)
        async with gw.http.request(
            method, url, data=form, cookies=cookies, allow_redirects=False
        ) as r:
            return r.status
    headers = {"content-type": "application/json"}
    if caller.service is not None:
        headers |= {"X-API-Key": caller.service[0], "X-Service-Name": caller.service[1]}
    else:
        headers["Authorization"] = f"Bearer {caller.bearer()}"
    data = None if body is None else json.dumps(body)
    async with gw.http.request(method, url, data=data, headers=headers) as r:
        return r.status


async def filled(gw: Gateway, path: str, org: Org, fresh: bool) -> str:
    for name in params(path):
        if name in FIXED:
            value = FIXED[name]
        elif name == "account_id":
            value = org.account_id
        elif name in ABSENT:
            value = ABSENT[name]
        else:
            value = (
                await spare(gw, org, name)
                if fresh or name == "team_id"
                else org.spare.setdefault(name, [await spare(gw, org, name)])[0]
            )
        path = path.replace("{" + name + "}", value)
    return path


def ok(status: int, want: str, path: str) -> bool:
    if want == "allow":
        absent = any(f"{{{n}}}" in path for n in (*ABSENT, *FIXED)) or path.endswith(ABSENT_PATHS)
        return status not in (401, 403) and (status != 404 or absent)
    return status == int(want)


async def _one(
    gw: Gateway, caller: Caller, route: tuple[str, str, Action], org: Org, own: bool
) -> tuple[int, str]:
    """(1 if asked, what went wrong or '')."""
    method, path, action = route
    if action.surface == "public":
        return await _public(gw, caller, method, await filled(gw, path, org, False))
    resource = Resource(org.account_id) if any(p in OWNED for p in params(path)) else None
    want = expected(
        caller, action, may(caller.actor, action, resource), path.startswith("/dashboard")
    )
    fresh = want == "allow" and any(d in f"{method} {path}" for d in DESTROYS)
    status = await ask(gw, caller, method, await filled(gw, path, org, fresh))
    if status is None:
        return 0, ""
    if ok(status, want, path):
        return 1, ""
    where = "own" if own else "other"
    return 1, f"{caller.name:18} {method:6} {path} ({where}): {status}, table says {want}"


async def _public(gw: Gateway, caller: Caller, method: str, path: str) -> tuple[int, str]:
    """A caller's credential neither opens nor closes a public route: it is refused (401,
    403) exactly when a request with no credential is (a rate limit may answer either)."""
    status = await ask(gw, caller, method, path)
    if status is None:
        return 0, ""
    body = body_of(method, path)
    if path.startswith("/dashboard"):
        form = None if body is None else {"csrf": "x", **{k: str(v) for k, v in body.items()}}
        sent: dict[str, Any] = {"data": form, "allow_redirects": False}
    else:
        sent = {"data": None if body is None else json.dumps(body)}
    async with gw.http.request(method, gw.url + path, **sent) as r:
        nobody = r.status
    if (status in (401, 403)) == (nobody in (401, 403)):
        return 1, ""
    return 1, f"{caller.name:18} {method:6} {path} (public): {status}, with no credential {nobody}"


async def test_every_route_answers_every_caller_as_the_table_decides(gw: Gateway) -> None:
    own, other = await new_org(gw), await new_org(gw)
    everyone = await callers(gw, own, other)
    results: list[tuple[int, str]] = []
    for route in matrix_routes(gw):
        owned = any(p in OWNED for p in params(route[1]))
        for org in (own, other) if owned else (own,):
            jobs = [_one(gw, c, route, org, org is own) for c in everyone]
            results += await asyncio.gather(*jobs)
    wrong = [w for _, w in results if w]
    assert not wrong, "\n".join(wrong)
    assert sum(n for n, _ in results) > 1500


def test_the_matrix_asks_sign_up_device_login_and_auth_token_routes(gw: Gateway) -> None:
    """Every route that signs up, logs a terminal in or mints a user token is in the
    matrix: a new one under another prefix would fail here, not go unasked."""
    asked = {(m, p) for m, p, _ in matrix_routes(gw)}
    minting = {
        (m, p)
        for (m, p) in table(gw.app)
        if any(w in p for w in ("/auth/", "signup", "/device")) and not p.startswith("/admin/")
    }
    assert len(minting) > 10 and minting <= asked, sorted(minting - asked)
    assert ("POST", "/v1/auth/tokens") in asked and ("POST", "/dashboard/device") in asked
