"""End-user budgets as the official SDKs see them: the end user named by `user`,
`metadata.user_id` or the `x-meterway-end-user` header (the header winning), capped by the
organization's default, a key's default or their own budget, checked in the same reserve
step as every other window: one end user is refused at the 11th request while another of
the same key passes, and a 100-way race never admits more than the budget. One gateway
serves the whole module."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.e2e.cli.test_cli_billing import login, meterway
from tests.support.factories import Tenant, anthropic_client, openai_client, tenant
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway
from tests.support.invariants import check_invariants

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
MODEL = "gpt-4o-mini"


def per_hour(limit: int, metric: str = "requests") -> list[dict[str, Any]]:
    return [{"window": "hour", "metric": metric, "limit": limit}]


@pytest.fixture(scope="module")
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn) as gateway:
        yield gateway
        await gateway.settle_all()


async def budget(gw: Gateway, account_id: str, quotas: Any, **owner: str) -> tuple[int, Any]:
    path = f"/admin/v1/accounts/{account_id}/end-user-budgets"
    return await gw.admin("PUT", path, {"quotas": quotas, **owner})


async def chat(gw: Gateway, t: Tenant, user: str | None = None, **kw: Any) -> Any:
    extra: dict[str, Any] = {"user": user} if user is not None else {}
    async with openai_client(gw, t.key) as client:
        return await client.chat.completions.create(
            model=MODEL, messages=HI, max_tokens=5, **extra, **kw
        )


async def refusal(gw: Gateway, t: Tenant, user: str | None, **kw: Any) -> dict[str, Any]:
    with pytest.raises(openai.APIStatusError) as caught:
        await chat(gw, t, user, **kw)
    assert isinstance(caught.value.body, dict)
    return {"status": caught.value.status_code, **caught.value.body}


async def test_the_11th_request_of_one_end_user_is_refused_and_another_passes(
    gw: Gateway,
) -> None:
    t = await tenant(gw)
    status, body = await budget(gw, t.account_id, per_hour(10))
    assert status == 200 and body["applies_to"] == "organization", body
    for _ in range(10):
        await chat(gw, t, "alice")
    refused = await refusal(gw, t, "alice")
    assert refused["status"] == 429
    assert (refused["scope"], refused["scope_id"]) == ("end_user", "alice")
    assert (refused["window"], refused["metric"], refused["limit"]) == ("hour", "requests", 10)
    assert refused["used"] == 10 and refused["code"] == "quota_exceeded"
    assert "end user 'alice'" in refused["message"]
    await chat(gw, t, "bob")  # another end user of the same key
    await chat(gw, t)  # no end user: no end-user budget applies
    # The header wins over the body: this is bob's request, not alice's.
    await chat(gw, t, "alice", extra_headers={"x-meterway-end-user": "bob"})
    refused = await refusal(gw, t, "bob", extra_headers={"x-meterway-end-user": "alice"})
    assert refused["scope_id"] == "alice"
    await gw.settle_all()
    await check_invariants(gw.stores(), [t.account_id])


async def test_own_budget_wins_over_the_key_default_over_the_organization_default(
    gw: Gateway,
) -> None:
    t = await tenant(gw)
    assert (await budget(gw, t.account_id, per_hour(1)))[0] == 200
    status, body = await budget(gw, t.account_id, per_hour(2), key_id=t.key_id)
    assert status == 200 and body["applies_to"] == "key", body
    status, body = await budget(gw, t.account_id, per_hour(3), end_user="vip")
    assert status == 200 and body["applies_to"] == "end_user", body
    for user, allowed in (("plain", 2), ("vip", 3)):
        for _ in range(allowed):
            await chat(gw, t, user)
        refused = await refusal(gw, t, user)
        assert (refused["scope_id"], refused["limit"]) == (user, allowed)
    # Removing the key's default leaves the organization's: plain has used 2 of 1.
    assert (await budget(gw, t.account_id, [], key_id=t.key_id))[1]["deleted"] is True
    assert (await refusal(gw, t, "plain"))["limit"] == 1
    status, listed = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}/end-user-budgets")
    assert [b["applies_to"] for b in listed["data"]] == ["organization", "end_user"]


async def test_anthropic_names_its_end_user_in_metadata(gw: Gateway) -> None:
    t = await tenant(gw)
    await budget(gw, t.account_id, per_hour(1))

    async def message(user: str) -> Any:
        async with anthropic_client(gw, t.key) as client:
            return await client.messages.create(
                model="claude-3-5-haiku-latest",
                max_tokens=5,
                messages=[{"role": "user", "content": "hi"}],
                metadata={"user_id": user},
            )

    await message("carol")
    with pytest.raises(anthropic.RateLimitError) as caught:
        await message("carol")
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["scope_id"] == "carol"
    await message("dave")


async def test_an_out_of_bounds_id_is_refused_only_where_a_budget_applies(gw: Gateway) -> None:
    t, other = await tenant(gw), await tenant(gw)
    await budget(gw, t.account_id, per_hour(5))
    refused = await refusal(gw, t, "John Smith")
    assert (refused["status"], refused["param"]) == (400, "user")
    refused = await refusal(gw, t, "ok", extra_headers={"x-meterway-end-user": "a" * 129})
    assert (refused["status"], refused["param"]) == (400, "x-meterway-end-user")
    await chat(gw, other, "John Smith")  # no end-user budget: nothing to count


async def test_bad_budgets_are_refused_by_name(gw: Gateway) -> None:
    t, other = await tenant(gw), await tenant(gw)
    cases = [
        ([{"window": "total", "metric": "requests", "limit": 1}], {}, "quotas"),
        (per_hour(1), {"end_user": "a:b"}, "end_user"),
        (per_hour(1), {"end_user": "a", "key_id": t.key_id}, "end_user"),
        (per_hour(1), {"key_id": ""}, "key_id"),
    ]
    for quotas, owner, param in cases:
        status, body = await budget(gw, t.account_id, quotas, **owner)
        assert (status, body["error"]["param"]) == (400, param), body
    status, _ = await budget(gw, t.account_id, per_hour(1), key_id=other.key_id)
    assert status == 404  # another account's key
    assert (await budget(gw, "acct_missing", per_hour(1)))[0] == 404


async def test_the_account_api_sets_its_own_end_user_budgets(gw: Gateway) -> None:
    t = await tenant(gw, scopes=["chat", "keys:write", "account:read", "org:write"])
    headers = {"Authorization": f"Bearer {t.key}"}
    url = gw.url + "/v1/account/end-user-budgets"
    body = {"quotas": per_hour(1), "end_user": "erin"}
    async with gw.http.put(url, json=body, headers=headers) as r:
        assert r.status == 200, await r.text()
    async with gw.http.get(url, headers=headers) as r:
        listed = await r.json()
    assert [(b["end_user"], b["account_id"]) for b in listed["data"]] == [("erin", t.account_id)]
    await chat(gw, t, "erin")
    assert (await refusal(gw, t, "erin"))["scope_id"] == "erin"


async def test_a_100_way_race_never_overshoots_an_end_user_budget(gw: Gateway) -> None:
    t = await tenant(gw)
    await budget(gw, t.account_id, per_hour(10), end_user="racer")
    async with openai_client(gw, t.key) as client:

        async def one() -> int:
            try:
                await client.chat.completions.create(
                    model=MODEL, messages=HI, max_tokens=5, user="racer"
                )
            except openai.RateLimitError:
                return 429
            return 200

        codes = await asyncio.gather(*(one() for _ in range(100)))
    assert (codes.count(200), codes.count(429)) == (10, 90)
    await gw.settle_all()
    report = await check_invariants(gw.stores(), [t.account_id])
    assert report.debits == 10


async def test_the_cli_sets_and_lists_end_user_budgets(gw: Gateway, tmp_path: Path) -> None:
    t = await tenant(gw)
    login(tmp_path, ADMIN_KEY, "admin-key")
    run = await meterway(
        gw, tmp_path, "admin", "end-user-budget", t.account_id, "--end-user", "fay",
        "--quota", "hour:requests:1", "--quota", "day:tokens:5000",
    )  # fmt: skip
    assert run.code == 0, run
    assert " ".join(run.out.split()) == "end_user fay 1 requests per hour, 5,000 tokens per day"
    await chat(gw, t, "fay")
    assert (await refusal(gw, t, "fay"))["scope_id"] == "fay"
    run = await meterway(gw, tmp_path, "admin", "end-user-budgets", t.account_id, "--json")
    assert [b["end_user"] for b in json.loads(run.out)["data"]] == ["fay"]
    run = await meterway(gw, tmp_path, "admin", "end-user-budget", t.account_id, "--quota", "x")
    assert run.code != 0 and "WINDOW:METRIC:LIMIT" in run.err
