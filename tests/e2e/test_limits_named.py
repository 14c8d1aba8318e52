"""Every limit that applies, where it bites (issue 48, item 5): a 429 names its level by the
name people gave it (the team's, the key's, the end user's id), with its window and reset;
`GET /v1/account`, `meterway billing status` and the dashboard list every level that
applies to the calling key and which one blocks; a next step never offers a command or page
the calling key may not use (billing/authority.py's `may` decides)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest
from playwright.async_api import Page

from tests.e2e.cli.test_cli_billing import login, meterway
from tests.e2e.test_end_user_budgets import budget
from tests.e2e.test_teams import HI, MODEL, join, new_team, per_hour
from tests.support.browser_kit import sign_in
from tests.support.factories import Tenant, openai_client, tenant
from tests.support.harness import Gateway, running_gateway

STATUS = ["chat", "account:read", "billing:read"]  # billing:read: a key's dashboard sign-in


@pytest.fixture(scope="module")
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn) as gateway:
        yield gateway
        await gateway.settle_all()


async def chat(gw: Gateway, t: Tenant, user: str | None = None) -> Any:
    extra: dict[str, Any] = {"user": user} if user else {}
    async with openai_client(gw, t.key) as client:
        return await client.chat.completions.create(model=MODEL, messages=HI, max_tokens=5, **extra)


async def refused(gw: Gateway, t: Tenant, user: str | None = None) -> dict[str, Any]:
    with pytest.raises(openai.RateLimitError) as caught:
        await chat(gw, t, user)
    assert isinstance(caught.value.body, dict)
    return caught.value.body


async def test_a_team_429_names_the_team_and_says_this_teams_quota(gw: Gateway) -> None:
    t = await tenant(gw)
    team = await new_team(gw, t.account_id, "research", per_hour(1))
    assert (await join(gw, t.key_id, team["id"]))[0] == 200
    await chat(gw, t)
    body = await refused(gw, t)
    assert (body["scope"], body["scope_id"], body["scope_name"]) == ("team", team["id"], "research")
    assert "team 'research'" in body["message"] and "per hour" in body["message"], body
    assert "Resets at" in body["message"] and body["resets_at"]
    reason = body["next"]["reason"]
    assert reason.startswith("This team's quota of requests per hour (team 'research', 1 of 1)")
    assert "This key's" not in reason and "This key's" not in body["message"]


async def test_a_key_429_names_the_key(gw: Gateway) -> None:
    t = await tenant(gw, name="ci-bot", quotas=per_hour(1))
    await chat(gw, t)
    body = await refused(gw, t)
    assert (body["scope"], body["scope_name"]) == ("key", "ci-bot"), body
    assert "key 'ci-bot'" in body["message"]
    assert "key 'ci-bot'" in body["next"]["reason"]


async def test_an_end_user_429_names_the_end_user(gw: Gateway) -> None:
    t = await tenant(gw)
    status, _ = await budget(gw, t.account_id, per_hour(1))
    assert status in (200, 201)
    await chat(gw, t, "alice@example.com")
    body = await refused(gw, t, "alice@example.com")
    assert (body["scope"], body["scope_name"]) == ("end_user", "alice@example.com"), body
    assert "end user 'alice@example.com'" in body["message"]
    assert "end user 'alice@example.com'" in body["next"]["reason"]


async def test_status_lists_every_level_and_the_one_that_blocks(
    gw: Gateway, tmp_path: Path, page: Page
) -> None:
    t = await tenant(gw, scopes=STATUS, name="batch", quotas=per_hour(50))
    team = await new_team(gw, t.account_id, "research", per_hour(1))
    await join(gw, t.key_id, team["id"])
    assert (await budget(gw, t.account_id, per_hour(7)))[0] in (200, 201)
    await chat(gw, t)
    await refused(gw, t)
    headers = {"Authorization": f"Bearer {t.key}"}
    async with gw.http.get(gw.url + "/v1/account", headers=headers) as r:
        account = await r.json()
    limits = [(w["level"], w["name"], w["limit"], w["blocks"]) for w in account["limits"]]
    assert ("end_user", "every end user (the account's default)", 7, False) in limits
    assert ("key", "batch", 50, False) in limits and ("team", "research", 1, True) in limits
    assert {w["level"] for w in account["limits"]} == {"end_user", "key", "team", "account"}
    assert account["next"]["action"] == "wait", account["next"]  # not "nothing to do"
    assert "This team's quota" in account["next"]["reason"]

    login(tmp_path, t.key)
    run = await meterway(gw, tmp_path, "billing", "status")
    assert run.code == 3, run
    assert "quota     team research: requests per hour" in run.out
    assert "1 of 1" in run.out and "BLOCKS" in run.out
    assert "quota     key batch: requests per hour" in run.out
    assert "end user every end user (the account's default): requests per hour" in run.out
    assert "This team's quota" in run.out and "nothing to do" not in run.out

    await sign_in(page, t.key)
    limits_text = await page.inner_text("#limits")
    assert "team research" in limits_text and "blocks calls now" in limits_text
    assert "key batch" in limits_text and "Each end user's budget" in limits_text
    assert "This team's quota" in await page.inner_text(".next")  # the overview's next step


async def test_a_chat_only_key_is_told_who_can_top_up_not_to_run_it(gw: Gateway) -> None:
    t = await tenant(gw, credit=0, scopes=["chat"])
    with pytest.raises(openai.APIStatusError) as caught:
        await chat(gw, t)
    assert caught.value.status_code == 402
    body = caught.value.body
    assert isinstance(body, dict)
    step = body["next"]
    assert step["action"] == "top_up" and step["ask"] == ["owner", "billing"], step
    assert (step["command"], step["api"]) == ("", None)
    assert "meterway billing topup" not in body["message"] + step["reason"]
    assert "ask a member of the organization with the owner or billing role" in step["reason"]
    assert "with the owner or billing role" in body["message"]
    # a key that may top up is still told how
    payer = await tenant(gw, credit=0, scopes=["chat", "billing"])
    with pytest.raises(openai.APIStatusError) as caught:
        await chat(gw, payer)
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["next"]["command"] == "meterway billing topup --amount 10"
