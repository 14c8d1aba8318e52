"""Issue 56's attacks on the ways to make a credential, each through the gateway as a client
would make it: every path goes through the one mint (gateway/services/keys/mint.py), which needs
the creator's right and makes nothing wider than its creator, and a minted key's calls count
in its minter's windows. Each test failed before the mint."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.http.appkeys import LEDGER, MEMBERS, SIGNIN_TICKETS
from gateway.services.keys import device_login
from tests.e2e.test_key_lineage import call, chat, mint, operator_key, person
from tests.support.dashboard_client import signed_in
from tests.support.factories import tenant
from tests.support.fakes.identity import ROLE_CLAIM_ENV
from tests.support.harness import Gateway, running_gateway

DAY_2 = [{"window": "day", "metric": "requests", "limit": 2}]
HOUR_2 = [{"window": "hour", "metric": "requests", "limit": 2}]
FREE_MODELS = {"gpt-4o-mini", "gpt-4.1-nano", "gpt-4.1-mini", "gpt-5-nano", "claude-3-5-haiku",
               "claude-haiku-4-5", "gemini-2.5-flash-lite", "text-embedding-3-small"}  # fmt: skip


@pytest.fixture(scope="module")
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn, None, **ROLE_CLAIM_ENV) as gateway:
        yield gateway
        await gateway.settle_all()


async def test_auth_tokens_needs_keys_write_and_ends_with_the_secret_that_minted_it(
    gw: Gateway,
) -> None:
    """The audit minted a 366-day token with a chat-only key; rotating that key left the
    token working."""
    org = await tenant(gw)
    chat_only = await operator_key(gw, org.account_id, scopes=["chat"])
    ask = {"scope": "chat", "expires_in": 366 * 86400}
    status, body = await call(gw, chat_only["key"], "POST", "/v1/auth/tokens", ask)
    assert status == 403 and body["error"]["param"] == "scope", body
    writer = await operator_key(gw, org.account_id, scopes=["chat", "keys:write"])
    status, token = await call(gw, writer["key"], "POST", "/v1/auth/tokens", ask)
    assert status == 201, token
    assert await chat(gw, token["access_token"]) == 200
    path = f"/v1/account/keys/{writer['id']}/rotate"
    status, _ = await call(gw, writer["key"], "POST", path, {"grace_seconds": 0})
    assert status == 201
    assert await chat(gw, token["access_token"]) == 401
    late = {"scope": "chat keys:write", "expires_in": 3600}
    status, body = await call(gw, token["access_token"], "POST", "/v1/auth/tokens", late)
    assert status == 401, body


async def _device_login(gw: Gateway, account_id: str, role: str) -> dict[str, Any]:
    """`meterway login` for a new member of `role`, approved as their dashboard would."""
    members = gw.app[MEMBERS]
    member = await members.add(account_id, f"p-{secrets.token_hex(3)}@example.com", role=role)
    async with gw.http.post(gw.url + "/v1/auth/device", json={}) as r:
        started = await r.json()
    tickets = gw.app[SIGNIN_TICKETS]
    assert await device_login.decide(tickets, started["user_code"], member["id"], account_id)
    async with gw.http.post(
        gw.url + "/v1/auth/device/token", json={"device_code": started["device_code"]}
    ) as r:
        assert r.status == 200, await r.text()
        return dict(await r.json())


@pytest.mark.parametrize("role", ["viewer", "billing"])
async def test_a_role_that_may_not_spend_gets_no_spending_key_from_login(
    gw: Gateway, role: str
) -> None:
    org = await tenant(gw)
    token = await _device_login(gw, org.account_id, role)
    scopes = set(token["scope"].split())
    assert "account:read" in scopes and not scopes & {"chat", "inference", "embeddings"}, scopes
    assert await chat(gw, token["access_token"]) == 403
    status, _ = await call(gw, token["access_token"], "GET", "/v1/account")
    assert status == 200
    ask = {"scope": "chat"}
    assert (await call(gw, token["access_token"], "POST", "/v1/auth/tokens", ask))[0] == 403
    member = await _device_login(gw, org.account_id, "member")
    assert await chat(gw, member["access_token"]) == 200


async def test_keys_minted_under_a_capped_key_share_its_cap(gw: Gateway) -> None:
    """A 2-requests-a-day key served 6 more through 3 children of its own limit."""
    org = await tenant(gw)
    parent = await operator_key(gw, org.account_id, scopes=["chat", "keys:write"], quotas=DAY_2)
    children = [await mint(gw, parent["key"], quotas=DAY_2) for _ in range(3)]
    served = [await chat(gw, c["key"]) for c in children for _ in range(2)]
    assert served.count(200) == 2 and served.count(429) == 4, served
    assert await chat(gw, parent["key"]) == 429


async def test_a_minted_keys_end_user_budget_follows_its_minter_and_nobody_lifts_it(
    gw: Gateway,
) -> None:
    org = await tenant(gw)
    parent = await operator_key(gw, org.account_id, scopes=["chat", "keys:write"])
    path = f"/admin/v1/accounts/{org.account_id}/end-user-budgets"
    five = [{"window": "hour", "metric": "requests", "limit": 5}]
    assert (await gw.admin("PUT", path, {"key_id": parent["id"], "quotas": five}))[0] == 200
    child = await mint(gw, parent["key"])
    assert (await gw.admin("PUT", path, {"key_id": parent["id"], "quotas": HOUR_2}))[0] == 200
    assert [await chat(gw, child["key"], "eve") for _ in range(3)] == [200, 200, 429]
    owner = person(org.account_id, "owner")
    for lifted in ([], five):
        body = {"key_id": child["id"], "quotas": lifted}
        status, answer = await gw.admin("PUT", path, body)
        assert status == 403 and answer["error"]["param"] == "quotas", answer
        status, answer = await call(gw, owner, "PUT", "/v1/account/end-user-budgets", body)
        assert status == 403 and answer["error"]["param"] == "quotas", answer
    assert await chat(gw, child["key"], "eve") == 429


async def test_a_members_first_key_on_the_free_plan_with_the_forms_defaults(gw: Gateway) -> None:
    """Refused before: "Your access is limited to some models" for an empty model list."""
    org = await tenant(gw, plan="free")
    member = person(org.account_id, "member")
    key = await mint(gw, member, scopes=["inference"], models=[])
    assert set(key["models"]) == FREE_MODELS
    assert await chat(gw, key["key"]) == 200


async def test_the_approval_page_shows_when_and_where_the_login_started(gw: Gateway) -> None:
    """A person asked to enter someone else's code sees it is not their terminal."""
    org = await tenant(gw)
    agent = "curl/8.0 <b>not-you</b>"
    async with gw.http.post(
        gw.url + "/v1/auth/device", json={}, headers={"User-Agent": agent}
    ) as r:
        code = (await r.json())["user_code"]
    http = await signed_in(gw, person(org.account_id, "owner"))
    async with http, http.get(f"{gw.url}/dashboard/device?code={code}") as r:
        page = await r.text()
    started = re.search(r'id="device-started">([^<]*)<', page)
    assert started is not None, page
    assert "127.0.0.1" in started[1] and " UTC from " in started[1]
    assert "curl/8.0 &lt;b&gt;not-you&lt;/b&gt;" in page and "<b>not-you" not in page


async def test_a_member_moved_to_a_role_that_may_not_spend_keeps_no_spending_key(
    gw: Gateway,
) -> None:
    """By the owner (the members API) or by the identity provider's group: either way the
    member's keys, and the keys under them, stop spending at once (the proxy reads scopes
    from Redis, not the role)."""
    org = await tenant(gw)
    owner = person(org.account_id, "owner")
    scopes = ["chat", "keys:write", "account:read"]
    by_owner = await mint(gw, person(org.account_id, "member"), scopes=scopes)
    under = await mint(gw, by_owner["key"], scopes=["chat"])
    sub = f"mo-{secrets.token_hex(3)}"
    by_claim = await mint(gw, person(org.account_id, "member", sub=sub), scopes=scopes)
    assert [await chat(gw, k["key"]) for k in (by_owner, under, by_claim)] == [200] * 3
    row = await gw.app[LEDGER].get_key(by_owner["id"])
    assert row is not None
    path = f"/v1/account/members/{row['member_id']}/role"
    assert (await call(gw, owner, "PUT", path, {"role": "billing"}))[0] == 200
    assert (await call(gw, person(org.account_id, "viewer", sub=sub), "GET", "/v1/account"))[
        0
    ] == 200
    assert [await chat(gw, k["key"]) for k in (by_owner, under, by_claim)] == [403, 401, 403]


async def test_rotating_a_capped_key_neither_resets_its_cap_nor_splits_it(gw: Gateway) -> None:
    """The new secret counts in the old one's windows, as do the keys the old one minted,
    and a limit tightened on the new secret holds them all."""
    org = await tenant(gw)
    scopes = ["chat", "keys:write"]
    old = await operator_key(gw, org.account_id, scopes=scopes, quotas=[{**DAY_2[0], "limit": 3}])
    child = await mint(gw, old["key"], quotas=[{**DAY_2[0], "limit": 3}])
    assert await chat(gw, old["key"]) == 200
    path = f"/v1/account/keys/{old['id']}/rotate"
    status, new = await call(gw, old["key"], "POST", path, {"grace_seconds": 0})
    assert status == 201, new
    assert await chat(gw, new["key"]) == 200
    tighter = f"/v1/account/keys/{new['id']}/quotas"
    assert (await call(gw, new["key"], "PUT", tighter, {"quotas": DAY_2}))[0] == 200
    assert [await chat(gw, k["key"]) for k in (new, child)] == [429, 429]
