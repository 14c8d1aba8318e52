"""Removing a member ends their authority on their next request, however they signed in,
and revokes every key minted under them (by them, or by one of their keys): keys act with a
person's authority and do not outlive it (docs/concepts/organizations.md)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.http.appkeys import DASHBOARD_SESSIONS, MEMBERS
from gateway.http.dashboard.people.session import COOKIE, digest
from tests.support.factories import tenant
from tests.support.fakes.identity import ISSUER, ROLE_CLAIM_ENV, claims, sign_hs
from tests.support.harness import Gateway, running_gateway


@pytest.fixture(scope="module")
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn, None, **ROLE_CLAIM_ENV) as gateway:
        yield gateway


def person(account_id: str, role: str, sub: str) -> str:
    return sign_hs(claims(sub, account_id=account_id, groups=[role]))


async def call(gw: Gateway, cred: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {cred}", "content-type": "application/json"}
    data = None if body is None else json.dumps(body)
    async with gw.http.request(method, gw.url + path, data=data, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def mint(gw: Gateway, cred: str) -> dict[str, Any]:
    body = {"name": "k", "scopes": ["chat", "keys:write", "keys:read"]}
    status, key = await call(gw, cred, "POST", "/v1/account/keys", body)
    assert status == 201, key
    return dict(key)


async def member_id(gw: Gateway, account_id: str, sub: str) -> str:
    _, members = await gw.admin("GET", f"/admin/v1/accounts/{account_id}/members")
    return str(next(m["id"] for m in members["data"] if m["subject"] == sub))


async def token_session(gw: Gateway, account_id: str, sub: str, member: str) -> dict[str, str]:
    """The dashboard session a role-claim token's sign-in opens (session.py's `_record`)."""
    now = int(time.time())
    record = {"csrf": "x", "operator": False, "kind": "user", "sub": sub, "jti": "j",
              "iat": now, "exp": now + 600, "scopes": [], "label": sub,
              "account_id": account_id, "role": "admin", "member_id": member}  # fmt: skip
    cookie = secrets.token_urlsafe(32)
    await gw.app[DASHBOARD_SESSIONS].create(digest(cookie), record, 600)
    return {COOKIE: cookie}


async def models(gw: Gateway, key: str) -> int:
    return (await call(gw, key, "GET", "/v1/models"))[0]


async def test_a_removed_admin_loses_their_keys_their_token_and_their_dashboard_session(
    gw: Gateway,
) -> None:
    org = await tenant(gw)
    sub = f"ada-{secrets.token_hex(3)}"
    ada = person(org.account_id, "admin", sub)
    key = await mint(gw, ada)
    grandchild = await mint(gw, key["key"])
    member = await member_id(gw, org.account_id, sub)
    cookies = await token_session(gw, org.account_id, sub, member)
    team_page = gw.url + "/dashboard/teams"
    async with gw.http.get(team_page, cookies=cookies, allow_redirects=False) as r:
        assert r.status == 200
    owner = person(org.account_id, "owner", f"o-{secrets.token_hex(3)}")
    assert (await call(gw, owner, "DELETE", f"/v1/account/members/{member}"))[0] == 200

    assert [await models(gw, k["key"]) for k in (key, grandchild)] == [401, 401]
    assert await models(gw, org.key) == 200  # the operator's key is nobody's: it stays
    form = {"csrf": "x", "name": "escape"}
    async with gw.http.post(team_page, data=form, cookies=cookies, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"].endswith("/signin")
    assert (await call(gw, ada, "POST", "/v1/account/teams", {"name": "escape"}))[0] == 401
    assert (await call(gw, ada, "GET", "/v1/account"))[0] == 401
    _, teams = await call(gw, owner, "GET", "/v1/account/teams")
    _, members = await gw.admin("GET", f"/admin/v1/accounts/{org.account_id}/members")
    assert teams["data"] == [] and sub not in {m["subject"] for m in members["data"]}


async def test_inviting_a_removed_person_again_lifts_the_removal(gw: Gateway) -> None:
    org = await tenant(gw)
    sub = f"bo-{secrets.token_hex(3)}"
    assert (await call(gw, person(org.account_id, "member", sub), "GET", "/v1/account"))[0] == 200
    member = await member_id(gw, org.account_id, sub)
    path = f"/admin/v1/accounts/{org.account_id}/members"
    assert (await gw.admin("DELETE", f"{path}/{member}"))[0] == 200
    assert await gw.app[MEMBERS].was_removed(org.account_id, ISSUER, sub)
    status, _ = await gw.admin("POST", path, {"email": f"{sub}@{ISSUER}", "role": "viewer"})
    assert status == 201
    assert not await gw.app[MEMBERS].was_removed(org.account_id, ISSUER, sub)


async def test_the_operator_removing_a_member_revokes_their_keys(gw: Gateway) -> None:
    org = await tenant(gw)
    sub = f"cy-{secrets.token_hex(3)}"
    key = await mint(gw, person(org.account_id, "member", sub))
    member = await member_id(gw, org.account_id, sub)
    assert await models(gw, key["key"]) == 200
    path = f"/admin/v1/accounts/{org.account_id}/members/{member}"
    assert (await gw.admin("DELETE", path))[0] == 200
    assert await models(gw, key["key"]) == 401
