"""Roles on the account API: every route against every role, a user token's role coming
from its identity provider's groups (JWT_ROLE_CLAIM=groups), and a member of another
organization, who sees nothing of it. One gateway serves the whole module.

A route a role may not use answers 403; a key a `member` did not create answers 404, like
another organization's."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.http.appkeys import DASHBOARD_SESSIONS, MEMBERS
from gateway.http.dashboard.people.session import COOKIE, digest
from tests.support.factories import Tenant, tenant
from tests.support.fakes.identity import ROLE_CLAIM_ENV, claims, sign_hs
from tests.support.harness import Gateway, running_gateway

ROLES = ("owner", "admin", "billing", "member", "viewer")
ALL = frozenset(ROLES)
KEYS_READ = frozenset({"owner", "admin", "member", "viewer"})
KEYS_WRITE = frozenset({"owner", "admin", "member"})
ORG_WRITE = frozenset({"owner", "admin"})
USAGE = frozenset({"owner", "admin", "billing", "viewer"})
BILLING = frozenset({"owner", "billing"})
STATEMENTS = frozenset({"owner", "admin", "billing"})
MONTH = f"{datetime.now(UTC):%Y-%m}"
HOUR = [{"window": "hour", "metric": "requests", "limit": 5}]
# (method, path, body, roles allowed); {key} is a key the operator made, {team} a team
ROUTES: list[tuple[str, str, Any, frozenset[str]]] = [
    ("GET", "/v1/account", None, ALL),
    ("GET", "/v1/account/keys", None, KEYS_READ),
    ("POST", "/v1/account/keys", {"name": "mine"}, KEYS_WRITE),
    ("PUT", "/v1/account/keys/{key}/quotas", {"quotas": HOUR}, KEYS_WRITE),
    ("POST", "/v1/account/keys/{key}/rotate", {"grace_seconds": 0}, KEYS_WRITE),
    ("DELETE", "/v1/account/keys/{key}", None, KEYS_WRITE),
    ("GET", "/v1/account/usage", None, USAGE),
    ("GET", "/v1/account/ledger", None, ALL),
    ("GET", "/v1/account/requests/req_none", None, ALL),
    ("GET", "/v1/account/grants", None, ALL),
    ("GET", "/v1/account/end-user-budgets", None, ALL),
    ("PUT", "/v1/account/end-user-budgets", {"quotas": HOUR}, ORG_WRITE),
    ("GET", "/v1/account/teams", None, ALL),
    ("POST", "/v1/account/teams", {"name": "{name}"}, ORG_WRITE),
    ("PUT", "/v1/account/teams/{team}/quotas", {"quotas": HOUR}, ORG_WRITE),
    ("PUT", "/v1/account/keys/{key}/team", {"team_id": "{team}"}, ORG_WRITE),
    ("GET", "/v1/account/billing", None, BILLING),
    ("GET", "/v1/account/billing/payments", None, BILLING),
    ("PUT", "/v1/account/billing/auto-topup", b"null", BILLING),  # null: off
    ("GET", "/v1/account/members", None, ALL),
    ("GET", f"/v1/account/statements/{MONTH}", None, STATEMENTS),
    ("POST", "/v1/account/members", {"email": "{name}@example.com", "role": "viewer"}, ORG_WRITE),
    ("PUT", "/v1/account/members/{member}/role", {"role": "viewer"}, ORG_WRITE),
    ("DELETE", "/v1/account/members/{member}", None, ORG_WRITE),
    ("GET", "/v1/account/audit", None, frozenset({"owner"})),
]
MEMBER_SEES_NOT = "{key}"  # a `member` never reaches a key it did not create


@pytest.fixture(scope="module")
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    env = {
        **ROLE_CLAIM_ENV,
        "JWT_TEAM_CLAIM": "teams",
    }
    async with running_gateway(dsn, None, **env) as gateway:
        yield gateway
        await gateway.settle_all()


def token(account_id: str, role: str, sub: str | None = None) -> str:
    body = claims(sub or f"{role}-{secrets.token_hex(3)}", account_id=account_id, groups=[role])
    return sign_hs(body)


async def call(gw: Gateway, tok: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {tok}", "content-type": "application/json"}
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body)
    async with gw.http.request(method, gw.url + path, data=data, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def operator_key(gw: Gateway, account_id: str) -> str:
    body = {"account_id": account_id, "name": "op"}
    status, key = await gw.admin("POST", "/admin/v1/keys", body)
    assert status == 201, key
    return str(key["id"])


async def operator_team(gw: Gateway, account_id: str) -> str:
    path = f"/admin/v1/accounts/{account_id}/teams"
    status, team = await gw.admin("POST", path, {"name": f"t-{secrets.token_hex(3)}"})
    assert status == 201, team
    return str(team["id"])


async def operator_member(gw: Gateway, account_id: str) -> str:
    body = {"email": f"m-{secrets.token_hex(3)}@example.com", "role": "member"}
    status, member = await gw.admin("POST", f"/admin/v1/accounts/{account_id}/members", body)
    assert status == 201, member
    return str(member["id"])


def filled(text: Any, key: str, team: str, member: str = "") -> Any:
    if isinstance(text, str):
        name = f"n-{secrets.token_hex(3)}"
        out = text.replace("{key}", key).replace("{team}", team).replace("{name}", name)
        return out.replace("{member}", member)
    if isinstance(text, dict):
        return {k: filled(v, key, team, member) for k, v in text.items()}
    return text


@pytest.mark.parametrize("role", ROLES)
async def test_every_account_route_answers_each_role_as_its_role_allows(
    gw: Gateway, role: str
) -> None:
    org = await tenant(gw)
    tok = token(org.account_id, role)
    for method, path, body, allowed in ROUTES:
        key, team = await operator_key(gw, org.account_id), await operator_team(gw, org.account_id)
        member = await operator_member(gw, org.account_id)
        status, answer = await call(
            gw, tok, method, filled(path, key, team, member), filled(body, key, team, member)
        )
        where = f"{role} {method} {path}: {status} {answer}"
        if role not in allowed:
            assert status == 403, where
        elif role == "member" and MEMBER_SEES_NOT in path:
            assert status == 404, where
        elif path.endswith("req_none"):
            assert status == 404, where  # allowed, and there is no such request
        else:
            assert status < 400 or status == 409, where


async def test_a_member_manages_only_the_keys_they_created(gw: Gateway) -> None:
    org = await tenant(gw)
    tok = token(org.account_id, "member")
    status, made = await call(gw, tok, "POST", "/v1/account/keys", {"name": "own"})
    assert status == 201, made
    theirs = await operator_key(gw, org.account_id)
    _, listed = await call(gw, tok, "GET", "/v1/account/keys")
    assert [k["id"] for k in listed["data"]] == [made["id"]]
    quotas = {"quotas": HOUR}
    assert (await call(gw, tok, "PUT", f"/v1/account/keys/{made['id']}/quotas", quotas))[0] == 200
    assert (await call(gw, tok, "PUT", f"/v1/account/keys/{theirs}/quotas", quotas))[0] == 404
    _, owners = await call(gw, token(org.account_id, "owner"), "GET", "/v1/account/keys")
    assert {made["id"], theirs} <= {k["id"] for k in owners["data"]}


async def test_a_member_of_another_organization_sees_nothing_of_it(gw: Gateway) -> None:
    a, b = await tenant(gw), await tenant(gw)
    key, team = await operator_key(gw, a.account_id), await operator_team(gw, a.account_id)
    member = await operator_member(gw, a.account_id)
    tok = token(b.account_id, "owner")
    for method, path, body, _ in ROUTES:
        if not any(f"{{{x}}}" in path for x in ("key", "team", "member")):
            continue
        status, answer = await call(gw, tok, method, filled(path, key, team, member), body)
        assert status == 404, f"{method} {path}: {status} {answer}"
    _, keys = await call(gw, tok, "GET", "/v1/account/keys")
    assert a.account_id not in str(keys) and key not in str(keys)
    _, teams = await call(gw, tok, "GET", "/v1/account/teams")
    assert teams["data"] == []
    _, account = await call(gw, tok, "GET", "/v1/account")
    assert account["id"] == b.account_id


async def test_a_token_user_becomes_a_member_with_the_claimed_role(gw: Gateway) -> None:
    org: Tenant = await tenant(gw)
    tok = token(org.account_id, "admin", sub="sam")
    assert (await call(gw, tok, "GET", "/v1/account"))[0] == 200
    status, members = await gw.admin("GET", f"/admin/v1/accounts/{org.account_id}/members")
    assert [(m["subject"], m["role"]) for m in members["data"]] == [("sam", "admin")]
    viewer = token(org.account_id, "viewer", sub="sam")  # the group changed at the provider
    assert (await call(gw, viewer, "POST", "/v1/account/teams", {"name": "x"}))[0] == 403
    status, members = await gw.admin("GET", f"/admin/v1/accounts/{org.account_id}/members")
    assert status == 200 and [m["role"] for m in members["data"]] == ["viewer"]


async def test_the_operator_invites_with_a_role_and_changes_it(gw: Gateway) -> None:
    org = await tenant(gw)
    path = f"/admin/v1/accounts/{org.account_id}/members"
    status, owner = await gw.admin("POST", path, {"email": "o@example.com"})
    assert (status, owner["role"]) == (201, "owner")  # as members were before roles
    status, viewer = await gw.admin("POST", path, {"email": "v@example.com", "role": "viewer"})
    assert (status, viewer["role"]) == (201, "viewer")
    status, bad = await gw.admin("POST", path, {"email": "x@example.com", "role": "boss"})
    assert (status, bad["error"]["param"]) == (400, "role")
    status, changed = await gw.admin("PUT", f"{path}/{viewer['id']}/role", {"role": "billing"})
    assert (status, changed["role"]) == (200, "billing")
    other = await tenant(gw)
    elsewhere = f"/admin/v1/accounts/{other.account_id}/members/{viewer['id']}/role"
    assert (await gw.admin("PUT", elsewhere, {"role": "owner"}))[0] == 404


async def test_a_team_claim_puts_the_member_and_their_new_keys_in_that_team(gw: Gateway) -> None:
    org = await tenant(gw)
    path = f"/admin/v1/accounts/{org.account_id}/teams"
    status, team = await gw.admin("POST", path, {"name": "research"})
    assert status == 201, team
    body = claims("rita", account_id=org.account_id, groups=["member"], teams=["x", "research"])
    status, made = await call(gw, sign_hs(body), "POST", "/v1/account/keys", {"name": "r"})
    assert status == 201, made
    _, teams = await gw.admin("GET", path)
    assert [(t["name"], t["keys"]) for t in teams["data"]] == [("research", 1)]
    _, members = await gw.admin("GET", f"/admin/v1/accounts/{org.account_id}/members")
    assert [(m["subject"], m["team_id"]) for m in members["data"]] == [("rita", team["id"])]


async def member_session(gw: Gateway, account_id: str, role: str) -> tuple[dict[str, str], str]:
    """A member of `role` signed in to the dashboard: the session a sign-in opens
    (dashboard/session.py's start_member_session), made directly; (cookies, member id)."""
    path = f"/admin/v1/accounts/{account_id}/members"
    email = f"{role}-{secrets.token_hex(3)}@example.com"
    status, member = await gw.admin("POST", path, {"email": email, "role": role})
    assert status == 201, member
    cookie = secrets.token_urlsafe(32)
    record = {"kind": "member", "member_id": member["id"], "account_id": account_id,
              "label": email, "csrf": "x", "operator": False}  # fmt: skip
    await gw.app[DASHBOARD_SESSIONS].create(digest(cookie), record, 3600)
    return {COOKIE: cookie}, member["id"]


# Dashboard pages (GET) and the roles that may see each (the others get 403).
PAGES = [
    ("/dashboard", ALL),
    ("/dashboard/keys", KEYS_READ),
    ("/dashboard/usage", USAGE),
    ("/dashboard/usage/export", USAGE),
    ("/dashboard/billing", BILLING),
    (f"/dashboard/statements/{MONTH}", STATEMENTS),
    (f"/dashboard/statements/{MONTH}/export", STATEMENTS),
]
# The organization's pages, read by every role; the operators' pages, by none.
PAGES += [
    ("/dashboard/members", ALL),
    ("/dashboard/teams", ALL),
    ("/dashboard/end-users", ALL),
    ("/dashboard/operators", frozenset()),
    ("/dashboard/system", frozenset()),
    ("/dashboard/operators/reconciliation", frozenset()),
    ("/dashboard/operators/books", frozenset()),
    ("/dashboard/operators/commitments", frozenset()),
]


@pytest.mark.parametrize("role", ROLES)
async def test_every_dashboard_page_answers_each_role_as_its_role_allows(
    gw: Gateway, role: str
) -> None:
    org = await tenant(gw)
    cookies, _ = await member_session(gw, org.account_id, role)
    for path, allowed in PAGES:
        async with gw.http.get(gw.url + path, cookies=cookies, allow_redirects=False) as r:
            assert r.status == (200 if role in allowed else 403), f"{role} {path}: {r.status}"


async def test_a_dashboard_member_sees_only_their_keys_and_not_another_organization(
    gw: Gateway,
) -> None:
    org, other = await tenant(gw), await tenant(gw)
    cookies, member_id = await member_session(gw, org.account_id, "member")
    mine = await operator_key(gw, org.account_id)
    await gw.app[MEMBERS].own_key(mine, member_id)
    theirs = await operator_key(gw, org.account_id)
    elsewhere = await operator_key(gw, other.account_id)
    async with gw.http.get(gw.url + "/dashboard/keys", cookies=cookies) as r:
        page = await r.text()
    assert r.status == 200 and mine in page and theirs not in page and elsewhere not in page
    for key in (theirs, elsewhere):
        url = f"{gw.url}/dashboard/keys/{key}/revoke"
        async with gw.http.post(url, data={"csrf": "x"}, cookies=cookies) as r:
            assert r.status == 404, (key, r.status)


async def test_only_an_owner_makes_changes_or_removes_owners(gw: Gateway) -> None:
    org = await tenant(gw)
    admin, owner = token(org.account_id, "admin"), token(org.account_id, "owner")
    body = {"email": "boss@example.com", "role": "owner"}
    assert (await call(gw, admin, "POST", "/v1/account/members", body))[0] == 403
    status, boss = await call(gw, owner, "POST", "/v1/account/members", body)
    assert (status, boss["role"]) == (201, "owner")
    path = f"/v1/account/members/{boss['id']}"
    assert (await call(gw, admin, "PUT", path + "/role", {"role": "viewer"}))[0] == 403
    assert (await call(gw, admin, "DELETE", path))[0] == 403
    status, demoted = await call(gw, owner, "PUT", path + "/role", {"role": "viewer"})
    assert (status, demoted["role"]) == (200, "viewer")
    assert (await call(gw, admin, "DELETE", path))[0] == 200


# Dashboard forms of the organization pages: owners and admins only (the others get 403).
HOUR_ROW = {"window_0": "hour", "metric_0": "requests", "limit_0": "5"}
FORMS = [
    ("/dashboard/teams", {"name": "{name}"}),
    ("/dashboard/members", {"email": "{name}@example.com", "role": "viewer"}),
    ("/dashboard/end-users", {"applies_to": "end_user", "end_user": "{name}", **HOUR_ROW}),
]


@pytest.mark.parametrize("role", ROLES)
async def test_every_organization_form_answers_each_role_as_its_role_allows(
    gw: Gateway, role: str
) -> None:
    org = await tenant(gw)
    cookies, _ = await member_session(gw, org.account_id, role)
    for path, form in FORMS:
        data = {"csrf": "x", **filled(form, "", "")}
        url = gw.url + path
        async with gw.http.post(url, data=data, cookies=cookies, allow_redirects=False) as r:
            expected = 303 if role in ORG_WRITE else 403
            assert r.status == expected, f"{role} {path}: {r.status} {await r.text()}"
