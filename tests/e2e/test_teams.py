"""Teams as the official SDK sees them: a team's quotas are shared by its keys and checked in
the same reserve step as every other window (a 100-way race over two keys never admits more
than the budget), a refusal names the team, and keys join and leave teams through the
operator API, the account API and the CLI. One gateway serves the whole module."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.e2e.cli.test_cli_billing import login, meterway
from tests.support.factories import Tenant, openai_client, tenant
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway
from tests.support.invariants import check_invariants

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
MODEL = "gpt-4o-mini"


@pytest.fixture(scope="module")
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn) as gateway:
        yield gateway
        await gateway.settle_all()


def per_hour(limit: int, metric: str = "requests") -> list[dict[str, Any]]:
    return [{"window": "hour", "metric": metric, "limit": limit}]


async def second_key(gw: Gateway, t: Tenant) -> Tenant:
    status, key = await gw.admin(
        "POST", "/admin/v1/keys", {"account_id": t.account_id, "name": "b"}
    )
    assert status == 201, key
    return Tenant(t.account_id, key["key"], key["id"])


async def new_team(gw: Gateway, account_id: str, name: str, quotas: Any) -> dict[str, Any]:
    path = f"/admin/v1/accounts/{account_id}/teams"
    status, team = await gw.admin("POST", path, {"name": name, "quotas": quotas})
    assert status == 201, team
    return dict(team)


async def join(gw: Gateway, key_id: str, team_id: str | None) -> tuple[int, Any]:
    return await gw.admin("PUT", f"/admin/v1/keys/{key_id}/team", {"team_id": team_id})


async def chat(gw: Gateway, t: Tenant) -> Any:
    async with openai_client(gw, t.key) as client:
        return await client.chat.completions.create(model=MODEL, messages=HI, max_tokens=5)


async def refusal(gw: Gateway, t: Tenant) -> dict[str, Any]:
    with pytest.raises(openai.RateLimitError) as caught:
        await chat(gw, t)
    assert isinstance(caught.value.body, dict)
    return caught.value.body


async def test_a_team_budget_shared_by_two_keys_never_overshoots_a_100_way_race(
    gw: Gateway,
) -> None:
    a = await tenant(gw)
    b = await second_key(gw, a)
    team = await new_team(gw, a.account_id, "research", per_hour(10))
    for key in (a, b):
        assert (await join(gw, key.key_id, team["id"]))[0] == 200

    async def one(key: Tenant) -> int:
        try:
            await chat(gw, key)
        except openai.RateLimitError as exc:
            assert isinstance(exc.body, dict)
            assert (exc.body["scope"], exc.body["scope_id"]) == ("team", team["id"])
            return 429
        return 200

    codes = await asyncio.gather(*(one(a if n % 2 else b) for n in range(100)))
    assert (codes.count(200), codes.count(429)) == (10, 90)
    await gw.settle_all()
    assert (await check_invariants(gw.stores(), [a.account_id])).debits == 10


async def test_a_key_leaves_its_team_and_the_team_refusal_names_it(gw: Gateway) -> None:
    a = await tenant(gw)
    b = await second_key(gw, a)
    team = await new_team(gw, a.account_id, "ops", per_hour(1))
    await join(gw, a.key_id, team["id"])
    await join(gw, b.key_id, team["id"])
    await chat(gw, a)
    refused = await refusal(gw, b)
    assert (refused["scope"], refused["scope_id"], refused["limit"]) == ("team", team["id"], 1)
    assert f"team 'ops' ({team['id']})" in refused["message"]  # its name, then its id
    assert (await join(gw, b.key_id, None))[0] == 200
    await chat(gw, b)  # out of the team: only its own and the account's quotas
    path = f"/admin/v1/teams/{team['id']}/quotas"
    status, raised = await gw.admin("PUT", path, {"quotas": per_hour(2)})
    assert status == 200 and raised["quotas"] == per_hour(2)
    await chat(gw, a)  # the new quotas reached the team's keys
    status, listed = await gw.admin("GET", f"/admin/v1/accounts/{a.account_id}/teams")
    assert [(t["name"], t["keys"]) for t in listed["data"]] == [("ops", 1)]


async def test_teams_stay_inside_their_organization(gw: Gateway) -> None:
    a, other = await tenant(gw), await tenant(gw, scopes=["account:read"])
    team = await new_team(gw, a.account_id, "mine", [])
    assert (await join(gw, other.key_id, team["id"]))[0] == 404
    assert (await join(gw, a.key_id, "team_missing"))[0] == 404
    path = f"/admin/v1/accounts/{a.account_id}/teams"
    status, body = await gw.admin("POST", path, {"name": "mine"})
    assert status == 409, body
    status, body = await gw.admin("POST", path, {"name": "x", "quotas": [{"window": "year"}]})
    assert (status, body["error"]["param"]) == (400, "quotas")
    headers = {"Authorization": f"Bearer {other.key}"}
    async with gw.http.get(gw.url + "/v1/account/teams", headers=headers) as r:
        assert (await r.json())["data"] == []


async def test_the_account_api_and_the_cli_manage_teams(gw: Gateway, tmp_path: Path) -> None:
    t = await tenant(gw, scopes=["chat", "keys:write", "account:read", "org:write"])
    headers = {"Authorization": f"Bearer {t.key}"}
    body = {"name": "support", "quotas": per_hour(1)}
    async with gw.http.post(gw.url + "/v1/account/teams", json=body, headers=headers) as r:
        assert r.status == 201, await r.text()
        team = await r.json()
    url = f"{gw.url}/v1/account/keys/{t.key_id}/team"
    async with gw.http.put(url, json={"team_id": team["id"]}, headers=headers) as r:
        assert r.status == 200, await r.text()
    await chat(gw, t)
    assert (await refusal(gw, t))["scope_id"] == team["id"]
    login(tmp_path, ADMIN_KEY, "admin-key")
    run = await meterway(
        gw, tmp_path, "admin", "team-quotas", team["id"], "--quota", "hour:requests:5"
    )
    assert run.code == 0 and "5 requests per hour" in run.out, run
    run = await meterway(
        gw, tmp_path, "admin", "team-quotas", team["id"], "--quota", "day:spend:2.50"
    )  # dollars, as people type them (issue 48: it took `spend_micros:2500000`)
    assert run.code == 0 and "$2.50 spend per day" in run.out, run
    run = await meterway(
        gw, tmp_path, "admin", "team-quotas", team["id"], "--quota", "day:spend_micros:2500000"
    )  # micros still pass, for scripts
    assert run.code == 0 and "$2.50 spend per day" in run.out, run
    run = await meterway(
        gw, tmp_path, "admin", "team-quotas", team["id"], "--quota", "hour:requests:5"
    )
    await chat(gw, t)
    run = await meterway(gw, tmp_path, "admin", "team-create", t.account_id, "sales")
    assert run.code == 0 and "sales" in run.out, run
    run = await meterway(gw, tmp_path, "admin", "teams", t.account_id, "--json")
    assert [x["name"] for x in json.loads(run.out)["data"]] == ["sales", "support"]
    run = await meterway(gw, tmp_path, "admin", "key-team", t.key_id, "--none")
    assert run.code == 0 and "team none" in run.out, run


async def test_a_rotated_key_stays_in_its_team(gw: Gateway) -> None:
    t = await tenant(gw, scopes=["chat", "keys:write", "account:read", "org:write"])
    team = await new_team(gw, t.account_id, "rotating", per_hour(1))
    await join(gw, t.key_id, team["id"])
    await chat(gw, t)
    url = f"{gw.url}/v1/account/keys/{t.key_id}/rotate"
    headers = {"Authorization": f"Bearer {t.key}"}
    async with gw.http.post(url, json={"grace_seconds": 0}, headers=headers) as r:
        assert r.status == 201, await r.text()
        rotated = await r.json()
    new = Tenant(t.account_id, rotated["key"], rotated["id"])
    assert (await refusal(gw, new))["scope_id"] == team["id"]


async def test_usage_by_team_and_member_in_reports_and_csv(gw: Gateway) -> None:
    a = await tenant(gw, scopes=["chat", "usage:read"])
    b, loose = await second_key(gw, a), await second_key(gw, a)
    team = await new_team(gw, a.account_id, "billing-team", [])
    await join(gw, a.key_id, team["id"])
    await join(gw, b.key_id, team["id"])
    for key in (a, a, b, loose):
        await chat(gw, key)
    await gw.settle_all()
    path = f"/admin/v1/accounts/{a.account_id}/usage/report?group_by=team"
    status, report = await gw.admin("GET", path)
    assert status == 200, report
    by_team = {row["team"]: row["requests"] for row in report["data"]}
    assert by_team == {"": 1, team["id"]: 3}
    assert report["totals"]["requests"] == 4
    status, report = await gw.admin("GET", path.replace("team", "member"))
    assert {row["member"]: row["requests"] for row in report["data"]} == {"": 4}
    headers = {"Authorization": f"Bearer {a.key}"}
    async with gw.http.get(
        gw.url + "/v1/account/usage?group_by=team&format=csv", headers=headers
    ) as r:
        lines = (await r.text()).splitlines()
    assert r.status == 200 and lines[0].startswith("account_id,team,requests")
    assert sorted(line.split(",")[1:3] for line in lines[1:]) == [["", "1"], [team["id"], "3"]]
