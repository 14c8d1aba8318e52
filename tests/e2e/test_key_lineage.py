"""A key is never wider than whoever minted it, now and later (billing/authority.py): its
scopes, quotas, team, owner and end-user budget come from its minter, it never loosens its
own limits, a key a `member` minted reaches only that member's keys and ledger rows, and
rotation carries every attribute of the key. Each test is an attack an audit ran against
the gateway (issue 45). One gateway serves the whole module."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.http.appkeys import BUDGETS, LEDGER
from gateway.stores.records import PER_SECRET
from tests.support.factories import tenant
from tests.support.fakes.identity import ROLE_CLAIM_ENV, claims, sign_hs
from tests.support.harness import Gateway, running_gateway

HI = [{"role": "user", "content": "hi"}]
MODEL = "gpt-4o-mini"
DAY_2 = [{"window": "day", "metric": "requests", "limit": 2}]
HOUR_2 = [{"window": "hour", "metric": "requests", "limit": 2}]


@pytest.fixture(scope="module")
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn, None, **ROLE_CLAIM_ENV) as gateway:
        yield gateway
        await gateway.settle_all()


def person(account_id: str, role: str, sub: str | None = None) -> str:
    """A role-claim token of a person of the organization."""
    subject = sub or f"{role}-{secrets.token_hex(3)}"
    return sign_hs(claims(subject, account_id=account_id, groups=[role]))


async def call(gw: Gateway, cred: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {cred}", "content-type": "application/json"}
    data = None if body is None else json.dumps(body)
    async with gw.http.request(method, gw.url + path, data=data, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def chat(gw: Gateway, key: str, user: str | None = None) -> int:
    body: dict[str, Any] = {"model": MODEL, "messages": HI, "max_tokens": 5}
    if user is not None:
        body["user"] = user
    return (await call(gw, key, "POST", "/v1/chat/completions", body))[0]


async def operator_key(gw: Gateway, account_id: str, **fields: Any) -> dict[str, Any]:
    body = {"account_id": account_id, "name": f"k-{secrets.token_hex(2)}", **fields}
    status, key = await gw.admin("POST", "/admin/v1/keys", body)
    assert status == 201, key
    return dict(key)


async def mint(gw: Gateway, cred: str, **fields: Any) -> dict[str, Any]:
    body = {"name": f"m-{secrets.token_hex(2)}", "scopes": ["chat"], **fields}
    status, key = await call(gw, cred, "POST", "/v1/account/keys", body)
    assert status == 201, key
    return dict(key)


async def test_a_key_tightens_its_own_quota_but_never_lifts_it(gw: Gateway) -> None:
    org = await tenant(gw)
    key = await operator_key(gw, org.account_id, scopes=["chat", "keys:write"], quotas=DAY_2)
    path = f"/v1/account/keys/{key['id']}/quotas"
    status, answer = await call(gw, key["key"], "PUT", path, {"quotas": []})
    assert status == 403 and answer["error"]["param"] == "quotas", answer
    looser = [{**DAY_2[0], "limit": 5}]
    assert (await call(gw, key["key"], "PUT", path, {"quotas": looser}))[0] == 403
    assert [await chat(gw, key["key"]) for _ in range(3)] == [200, 200, 429]
    tighter = [{**DAY_2[0], "limit": 1}, *HOUR_2]
    assert (await call(gw, key["key"], "PUT", path, {"quotas": tighter}))[0] == 200


async def test_a_team_key_mints_keys_only_into_its_team_with_its_end_user_budget(
    gw: Gateway,
) -> None:
    org = await tenant(gw)
    status, team = await gw.admin(
        "POST", f"/admin/v1/accounts/{org.account_id}/teams", {"name": "t", "quotas": DAY_2}
    )
    assert status == 201, team
    parent = await operator_key(gw, org.account_id, scopes=["chat", "keys:write"])
    to_team = {"team_id": team["id"]}
    assert (await gw.admin("PUT", f"/admin/v1/keys/{parent['id']}/team", to_team))[0] == 200
    budget = {"key_id": parent["id"], "quotas": HOUR_2}
    path = f"/admin/v1/accounts/{org.account_id}/end-user-budgets"
    assert (await gw.admin("PUT", path, budget))[0] == 200
    child = await mint(gw, parent["key"])
    row = await gw.app[LEDGER].get_key(child["id"])
    assert row is not None and row["team_id"] == team["id"]
    assert (row["minter_kind"], row["minter_id"]) == ("key", parent["id"])
    assert [await chat(gw, child["key"], "eve") for _ in range(3)] == [200, 200, 429]
    assert await chat(gw, parent["key"]) == 429  # the team's 2 a day are spent
    budgets = await gw.app[BUDGETS].of_account(org.account_id)
    assert {b["key_id"] for b in budgets if b["quotas"] == HOUR_2} == {parent["id"], child["id"]}


async def test_a_key_a_member_minted_reaches_only_that_members_keys(gw: Gateway) -> None:
    """The audit's takeover: a member mints a `keys:write` key and, through it, lists,
    limits, rotates and revokes every key of the organization. Through that key (and a key
    it mints) the member reaches their own keys only, as they do themselves."""
    org = await tenant(gw)
    owner_key = await operator_key(gw, org.account_id, scopes=["chat"])
    member = person(org.account_id, "member")
    scopes = ["chat", "keys:write", "keys:read", "account:read"]
    theirs = await mint(gw, member, scopes=scopes)
    grandchild = await mint(gw, theirs["key"], scopes=scopes)
    for cred in (theirs["key"], grandchild["key"]):
        _, listed = await call(gw, cred, "GET", "/v1/account/keys")
        assert {k["id"] for k in listed["data"]} == {theirs["id"], grandchild["id"]}
        base = f"/v1/account/keys/{owner_key['id']}"
        tried = [
            await call(gw, cred, "PUT", base + "/quotas", {"quotas": DAY_2}),
            await call(gw, cred, "POST", base + "/rotate", {"grace_seconds": 0}),
            await call(gw, cred, "DELETE", base),
        ]
        assert [s for s, _ in tried] == [404, 404, 404], tried
    assert await chat(gw, owner_key["key"]) == 200
    child, parent = [await gw.app[LEDGER].get_key(k["id"]) for k in (grandchild, theirs)]
    assert child is not None and parent is not None
    assert child["member_id"] == parent["member_id"] is not None


async def test_a_members_key_loses_what_the_members_role_loses(gw: Gateway) -> None:
    org = await tenant(gw)
    sub = f"sam-{secrets.token_hex(3)}"
    admin = person(org.account_id, "admin", sub=sub)
    key = await mint(gw, admin, scopes=["chat", "org:write", "keys:write"])
    team = {"name": f"t-{secrets.token_hex(2)}"}
    assert (await call(gw, key["key"], "POST", "/v1/account/teams", team))[0] == 201
    demoted = person(org.account_id, "member", sub=sub)  # the identity provider's group changed
    assert (await call(gw, demoted, "GET", "/v1/account"))[0] == 200
    team = {"name": f"t-{secrets.token_hex(2)}"}
    assert (await call(gw, key["key"], "POST", "/v1/account/teams", team))[0] == 403


async def _debit_of(gw: Gateway, account_id: str, key_id: str) -> str:
    await gw.settle_all()
    _, page = await gw.admin("GET", f"/admin/v1/accounts/{account_id}/ledger?key_id={key_id}")
    return str(next(r["request_id"] for r in page["data"] if r["kind"] == "debit"))


async def test_a_member_reads_only_their_own_keys_ledger_rows_and_requests(gw: Gateway) -> None:
    org = await tenant(gw)
    production = await operator_key(gw, org.account_id, scopes=["chat"])
    member = person(org.account_id, "member")
    own = await mint(gw, member, scopes=["chat"])
    assert await chat(gw, production["key"]) == 200 and await chat(gw, own["key"]) == 200
    theirs, mine = (
        await _debit_of(gw, org.account_id, production["id"]),
        await _debit_of(gw, org.account_id, own["id"]),
    )
    status, page = await call(gw, member, "GET", "/v1/account/ledger?limit=500")
    assert status == 200 and {r["key_id"] for r in page["data"]} == {own["id"]}, page
    assert (await call(gw, member, "GET", f"/v1/account/requests/{theirs}"))[0] == 404
    assert (await call(gw, member, "GET", f"/v1/account/requests/{mine}"))[0] == 200
    path = f"/v1/account/ledger?key_id={production['id']}"
    assert (await call(gw, member, "GET", path))[0] == 400
    _, whole = await call(gw, person(org.account_id, "owner"), "GET", "/v1/account/ledger")
    assert {production["id"], own["id"]} <= {r["key_id"] for r in whole["data"]}


async def test_rotation_copies_every_column_of_the_key_and_its_end_user_budget(
    gw: Gateway,
) -> None:
    """Every column of `api_keys` but the secret's own (PER_SECRET) and the old secret's
    shortened expiry is equal on the successor: a column added later and forgotten by
    rotation fails here."""
    org = await tenant(gw)
    status, team = await gw.admin(
        "POST", f"/admin/v1/accounts/{org.account_id}/teams", {"name": "r", "quotas": []}
    )
    assert status == 201, team
    member, owner = person(org.account_id, "member"), person(org.account_id, "owner")
    old = await mint(
        gw,
        member,
        scopes=["chat", "embeddings"],
        models=[MODEL],
        quotas=[*DAY_2, {"window": "hour", "metric": "requests", "limit": 50}],
        on_insufficient="refuse",
        expires_at="2099-01-01T00:00:00+00:00",
    )
    to_team = {"team_id": team["id"]}
    assert (await call(gw, owner, "PUT", f"/v1/account/keys/{old['id']}/team", to_team))[0] == 200
    budget = {"key_id": old["id"], "quotas": HOUR_2}
    assert (await call(gw, owner, "PUT", "/v1/account/end-user-budgets", budget))[0] == 200
    before = await gw.app[LEDGER].get_key(old["id"])
    path = f"/v1/account/keys/{old['id']}/rotate"
    status, new = await call(gw, member, "POST", path, {"grace_seconds": 0})
    assert status == 201, new
    after = await gw.app[LEDGER].get_key(new["id"])
    assert before is not None and after is not None
    assert before["member_id"] and before["team_id"] == team["id"]
    differ = {c for c in before if before[c] != after[c]}
    assert differ <= PER_SECRET, differ
    budgets = await gw.app[BUDGETS].of_account(org.account_id)
    assert [b["quotas"] for b in budgets if b["key_id"] == new["id"]] == [HOUR_2]
    assert [await chat(gw, new["key"], "eve") for _ in range(3)] == [200, 200, 429]
    _, listed = await call(gw, member, "GET", "/v1/account/keys")
    assert new["id"] in {k["id"] for k in listed["data"]}


async def test_a_key_never_loosens_its_team_nor_its_own_end_user_budget(gw: Gateway) -> None:
    """Even a key holding `org:write`: its team's quotas and its own end-user budget are its
    own limits, so it only tightens them, and neither it nor a key it mints leaves the team."""
    org = await tenant(gw)
    path = f"/admin/v1/accounts/{org.account_id}/teams"
    status, team = await gw.admin("POST", path, {"name": "t", "quotas": DAY_2})
    assert status == 201, team
    key = await operator_key(gw, org.account_id, scopes=["chat", "org:write", "keys:write"])
    to_team = {"team_id": team["id"]}
    assert (await gw.admin("PUT", f"/admin/v1/keys/{key['id']}/team", to_team))[0] == 200
    budget = {"key_id": key["id"], "quotas": HOUR_2}
    assert (await gw.admin("PUT", f"{path[:-6]}/end-user-budgets", budget))[0] == 200
    child = await mint(gw, key["key"])
    out = {"team_id": None}
    for moved in (key["id"], child["id"]):
        status, answer = await call(gw, key["key"], "PUT", f"/v1/account/keys/{moved}/team", out)
        assert status == 403 and answer["error"]["param"] == "team_id", answer
    quotas = f"/v1/account/teams/{team['id']}/quotas"
    assert (await call(gw, key["key"], "PUT", quotas, {"quotas": []}))[0] == 403
    tighter = [{**DAY_2[0], "limit": 1}]
    assert (await call(gw, key["key"], "PUT", quotas, {"quotas": tighter}))[0] == 200
    lifted = {"key_id": key["id"], "quotas": []}
    assert (await call(gw, key["key"], "PUT", "/v1/account/end-user-budgets", lifted))[0] == 403
    assert [await chat(gw, child["key"]) for _ in range(2)] == [200, 429]


async def test_revoking_a_key_revokes_every_key_minted_under_it(gw: Gateway) -> None:
    """Through its rotations and at any depth; the keys beside it stay."""
    org = await tenant(gw)
    scopes = ["chat", "keys:write", "keys:read"]
    parent = await operator_key(gw, org.account_id, scopes=scopes)
    child = await mint(gw, parent["key"], scopes=scopes)
    grandchild = await mint(gw, child["key"])
    rotate = f"/v1/account/keys/{child['id']}/rotate"
    status, child_now = await call(gw, parent["key"], "POST", rotate, {"grace_seconds": 60})
    assert status == 201, child_now
    status, parent_now = await call(
        gw, parent["key"], "POST", f"/v1/account/keys/{parent['id']}/rotate", {"grace_seconds": 0}
    )
    assert status == 201, parent_now
    late = await mint(gw, parent_now["key"])
    minted = [child, grandchild, child_now, late]
    assert [await chat(gw, k["key"]) for k in minted] == [200] * 4
    assert (await gw.admin("DELETE", f"/admin/v1/keys/{parent_now['id']}"))[0] == 200
    assert [await chat(gw, k["key"]) for k in minted] == [401] * 4
    assert await chat(gw, org.key) == 200


def _spend(limit_micros: int) -> list[dict[str, Any]]:
    return [{"window": "day", "metric": "spend_micros", "limit": limit_micros}]


async def _dear_chat(gw: Gateway, key: str) -> int:
    """A call whose hold is about $1.80 (o1, 30,000 output tokens at $60 a million)."""
    body = {"model": "o1", "messages": HI, "max_completion_tokens": 30_000}
    return (await call(gw, key, "POST", "/v1/chat/completions", body))[0]


async def test_tightening_a_key_later_tightens_every_key_minted_under_it(gw: Gateway) -> None:
    """The parent minted its child at $5 a day, then was held to $1: the child is refused
    what would take it past $1, as is the grandchild, and the rows say so."""
    org = await tenant(gw, credit=50_000_000)
    scopes = ["chat", "keys:write", "keys:read"]
    parent = await operator_key(gw, org.account_id, scopes=scopes, quotas=_spend(5_000_000))
    child = await mint(gw, parent["key"], scopes=scopes, quotas=_spend(5_000_000))
    grandchild = await mint(gw, child["key"], scopes=["chat"], quotas=_spend(4_000_000))
    assert await _dear_chat(gw, child["key"]) == 200
    path = f"/v1/account/keys/{parent['id']}/quotas"
    assert (await call(gw, parent["key"], "PUT", path, {"quotas": _spend(1_000_000)}))[0] == 200
    assert [await _dear_chat(gw, k["key"]) for k in (child, grandchild)] == [429, 429]
    assert await chat(gw, child["key"]) == 200  # within $1 still
    for key in (child, grandchild):
        row = await gw.app[LEDGER].get_key(key["id"])
        assert row is not None and json.loads(row["quotas"]) == _spend(1_000_000)


async def test_narrowing_a_keys_scopes_or_expiry_narrows_every_key_minted_under_it(
    gw: Gateway,
) -> None:
    org = await tenant(gw)
    scopes = ["chat", "embeddings", "keys:write", "account:read"]
    parent = await operator_key(gw, org.account_id, scopes=scopes)
    child = await mint(gw, parent["key"], scopes=scopes)
    grandchild = await mint(gw, child["key"], scopes=["chat", "embeddings"])
    embed = {"model": "text-embedding-3-small", "input": "hi"}
    assert (await call(gw, grandchild["key"], "POST", "/v1/embeddings", embed))[0] == 200
    assert (await call(gw, child["key"], "GET", "/v1/account"))[0] == 200
    path = f"/v1/account/keys/{parent['id']}"
    narrower = {"scopes": ["chat", "keys:write"], "expires_at": "2090-01-01T00:00:00Z"}
    status, answer = await call(gw, parent["key"], "PATCH", path, narrower)
    assert status == 200 and sorted(answer["scopes"]) == ["chat", "keys:write"], answer
    assert (await call(gw, grandchild["key"], "POST", "/v1/embeddings", embed))[0] == 403
    assert (await call(gw, child["key"], "GET", "/v1/account"))[0] == 403
    assert await chat(gw, grandchild["key"]) == 200
    for key in (child, grandchild):
        row = await gw.app[LEDGER].get_key(key["id"])
        assert row is not None and row["expires_at"].year == 2090
    wider = {"scopes": ["chat", "keys:write", "embeddings"]}
    status, answer = await call(gw, parent["key"], "PATCH", path, wider)
    assert status == 403 and answer["error"]["param"] == "scopes", answer
    later = {"expires_at": "2095-01-01T00:00:00Z"}
    assert (await call(gw, child["key"], "PATCH", path, later))[0] == 403


async def test_nobody_loosens_a_key_beyond_the_key_that_minted_it(gw: Gateway) -> None:
    """The child was minted at the parent's $5 a day: neither the organization's owner nor
    the operator may lift it past $5 or take the limit away; tightening it is theirs."""
    org = await tenant(gw, credit=50_000_000)
    scopes = ["chat", "keys:write", "keys:read"]
    parent = await operator_key(gw, org.account_id, scopes=scopes, quotas=_spend(5_000_000))
    child = await mint(gw, parent["key"], scopes=["chat"], quotas=_spend(5_000_000))
    owner = person(org.account_id, "owner")
    account_path = f"/v1/account/keys/{child['id']}/quotas"
    for quotas in (_spend(10_000_000), []):
        status, body = await call(gw, owner, "PUT", account_path, {"quotas": quotas})
        assert status == 403 and body["error"]["param"] == "quotas", body
        status, body = await gw.admin(
            "PUT", f"/admin/v1/keys/{child['id']}/quotas", {"quotas": quotas}
        )
        assert status == 403 and body["error"]["param"] == "quotas", body
    row = await gw.app[LEDGER].get_key(child["id"])
    assert row is not None and json.loads(row["quotas"]) == _spend(5_000_000)
    status, _ = await call(gw, owner, "PUT", account_path, {"quotas": _spend(3_000_000)})
    assert status == 200
