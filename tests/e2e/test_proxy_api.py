"""Issue 2 guarantees: exact debits under races, key lifecycle, idempotent credits, clean errors."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from billing.money.micros import MAX_EXACT
from gateway.build import build
from gateway.http.appkeys import COUNTER, PRICING
from gateway.llm.endpoints import CHAT
from gateway.llm.reading.calls import read_call
from gateway.stores.records import KeyRecord
from tests.support.factories import balance, ledger, openai_client, tenant
from tests.support.harness import ADMIN_KEY, Gateway
from tests.support.invariants import check_invariants

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "race me"}]


def reservation(gw: Gateway, max_tokens: int) -> tuple[int, int]:
    """(input tokens the gateway will count, worst-case micros it will reserve)."""
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": max_tokens}
    key = KeyRecord("k", "a", 0, "k", (), ())
    call = read_call(CHAT, body, key, gw.app[PRICING], gw.app[COUNTER])
    return call.input_tokens, call.worst_case_micros


@pytest.mark.timeout(480)
async def test_200_concurrent_requests_never_spend_credit_that_is_not_there(gw: Gateway) -> None:
    tokens, worst = reservation(gw, 1000)
    t = await tenant(gw, credit=20 * worst)
    gw.control.usage = {
        "prompt_tokens": tokens,
        "completion_tokens": 1000,
        "total_tokens": tokens + 1000,
    }
    gw.control.delay_s = 0.2

    async def one(client: openai.AsyncOpenAI) -> Any:
        try:
            return await client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=MESSAGES, max_tokens=1000
            )
        except openai.APIStatusError as exc:
            return exc

    async with openai_client(gw, t.key) as client:
        results = await asyncio.gather(*[one(client) for _ in range(200)])
    ok = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, openai.APIStatusError)]
    assert len(ok) == 20
    assert len(refused) == 180
    assert {r.status_code for r in refused} == {402}
    assert all(r.body["code"] == "billing_required" for r in refused)  # type: ignore[index]
    assert gw.control.hits == 20
    await gw.settle_all()
    final = await balance(gw, t.account_id)
    assert final == 0
    debits = [r for r in await ledger(gw, t.account_id) if r["kind"] == "debit"]
    assert len(debits) == 20
    assert -sum(r["amount_micros"] for r in debits) == 20 * worst - final


async def test_revoked_key_is_refused_on_the_next_request(gw: Gateway) -> None:
    t = await tenant(gw)
    async with openai_client(gw, t.key) as client:
        await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        status, body = await gw.admin("DELETE", f"/admin/v1/keys/{t.key_id}")
        assert status == 200 and body["revoked"] is True
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert caught.value.body["code"] == "invalid_api_key"  # type: ignore[index]
    assert gw.control.hits == 1


async def test_expired_key_is_refused(gw: Gateway) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=30)).isoformat()
    t = await tenant(gw, expires_at=soon)
    async with openai_client(gw, t.key) as client:
        await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        await gw.advance_clock(60_000)
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert "expired" in caught.value.message


async def test_credit_is_idempotent(gw: Gateway) -> None:
    t = await tenant(gw, credit=0)
    path = f"/admin/v1/accounts/{t.account_id}/credits"
    body = {"amount_micros": 5_000_000, "idempotency_key": "topup-1", "reason": "test"}
    first = await gw.admin("POST", path, body)
    again = await gw.admin("POST", path, body)
    assert first[0] == 201 and again[0] == 200
    assert again[1]["idempotent_replay"] is True
    assert first[1]["entry_id"] == again[1]["entry_id"]
    conflict = await gw.admin("POST", path, {**body, "amount_micros": 6_000_000})
    assert conflict[0] == 409 and conflict[1]["error"]["code"] == "idempotency_conflict"
    assert conflict[1]["error"]["param"] == "idempotency_key"
    message = conflict[1]["error"]["message"]
    assert "credit of $5.00 (5000000 micros)" in message, message
    assert "asks for $6.00 (6000000 micros)" in message, message
    assert await balance(gw, t.account_id) == 5_000_000
    credits = [r for r in await ledger(gw, t.account_id) if r["kind"] == "credit"]
    assert len(credits) == 1


async def test_adjustments_have_a_reason_their_own_kind_and_never_make_an_account_owe(
    gw: Gateway,
) -> None:
    t = await tenant(gw, credit=5_000_000)
    path = f"/admin/v1/accounts/{t.account_id}/adjustments"

    async def adjust(amount: int, key: str, reason: str | None = "refund of a bad day") -> Any:
        body = {"amount_micros": amount, "idempotency_key": key, "reason": reason}
        return await gw.admin("POST", path, {k: v for k, v in body.items() if v is not None})

    status, err = await adjust(-1_000_000, "a0", None)
    assert status == 400 and err["error"]["param"] == "reason"
    status, err = await adjust(0, "a0")
    assert status == 400 and err["error"]["param"] == "amount_micros"
    status, out = await adjust(-4_000_000, "a1")
    assert status == 201 and out["balance_micros"] == 1_000_000
    status, err = await adjust(-1_000_001, "a2")  # more than the account has
    assert status == 400 and err["error"]["param"] == "amount_micros"
    assert "$1.00 that can be taken" in err["error"]["message"]
    status, again = await adjust(-4_000_000, "a1")  # a replay, though 4 USD is not there now
    assert status == 200 and again["idempotent_replay"] and again["entry_id"] == out["entry_id"]
    status, err = await adjust(-3_000_000, "a1")
    assert status == 409 and "adjustment of -$4.00 (-4000000 micros)" in err["error"]["message"]
    status, _ = await adjust(250_000, "a3", "goodwill")
    assert status == 201
    rows = [(r["kind"], r["amount_micros"], r["reason"]) for r in await ledger(gw, t.account_id)]
    assert ("adjustment", -4_000_000, "refund of a bad day") in rows
    assert ("adjustment", 250_000, "goodwill") in rows
    assert await balance(gw, t.account_id) == 1_250_000
    await gw.settle_all()
    await check_invariants(gw.stores(), [t.account_id])  # ledger == balance, grants drew it


async def test_no_credit_takes_a_balance_past_what_is_exact_and_the_account_stays_served(
    gw: Gateway,
) -> None:
    """Each credit is at most 2^53 - 1 micros, and so must their sum be: the hot store's Lua
    numbers are exact only that far, and it refuses (503 to every call) an account past it."""
    t = await tenant(gw, credit=MAX_EXACT - 10)
    credits = f"/admin/v1/accounts/{t.account_id}/credits"
    adjustments = f"/admin/v1/accounts/{t.account_id}/adjustments"

    async def put(path: str, amount: int, key: str) -> tuple[int, Any]:
        body = {"amount_micros": amount, "idempotency_key": key, "reason": "top"}
        return await gw.admin("POST", path, body)

    for path, key in ((credits, "c-over"), (adjustments, "a-over")):
        status, err = await put(path, 11, key)
        assert status == 400 and err["error"]["param"] == "amount_micros", err
        assert "can take $0.00001 more" in err["error"]["message"], err
    assert await balance(gw, t.account_id) == MAX_EXACT - 10
    raced = await asyncio.gather(*(put(credits, 6, f"c-race-{i}") for i in range(2)))
    assert sorted(status for status, _ in raced) == [201, 400]
    status, _ = await put(adjustments, 4, "a-fill")
    assert status == 201 and await balance(gw, t.account_id) == MAX_EXACT
    async with openai_client(gw, t.key) as client:
        reply = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, max_tokens=5
        )
    assert reply.choices[0].message.content
    await gw.settle_all()
    assert await balance(gw, t.account_id) < MAX_EXACT
    await check_invariants(gw.stores(), [t.account_id])


BAD_REQUESTS: list[tuple[str, bytes, int, str]] = [
    ("not json", b"{nope", 400, "invalid_request"),
    ("not an object", b"[1, 2]", 400, "invalid_request"),
    ("no model", b'{"messages": [{"role": "user", "content": "x"}]}', 400, "invalid_request"),
    (
        "unknown model",
        b'{"model": "gpt-99", "messages": [{"role": "user", "content": "x"}]}',
        404,
        "model_not_found",
    ),
    ("no messages", b'{"model": "gpt-4o-mini", "messages": []}', 400, "invalid_request"),
    (
        "bad max_tokens",
        b'{"model": "gpt-4o-mini", "max_tokens": -1, "messages": '
        b'[{"role": "user", "content": "x"}]}',
        400,
        "invalid_request",
    ),
    (
        "max_tokens over model limit",
        b'{"model": "gpt-4o-mini", "max_tokens": 999999, '
        b'"messages": [{"role": "user", "content": "x"}]}',
        400,
        "invalid_request",
    ),
    (
        "embedding model on chat",
        b'{"model": "text-embedding-3-small", "messages": [{"role": "user", "content": "x"}]}',
        404,
        "model_not_found",
    ),
]


@pytest.mark.parametrize(
    ("label", "raw", "status", "code"), BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS]
)
async def test_bad_input_gets_its_error_and_changes_nothing(
    gw: Gateway, label: str, raw: bytes, status: int, code: str
) -> None:
    t = await tenant(gw, credit=1_000_000)
    async with gw.http.post(
        gw.url + "/v1/chat/completions",
        data=raw,
        headers={"Authorization": f"Bearer {t.key}", "content-type": "application/json"},
    ) as resp:
        body = await resp.json()
        assert resp.status == status, body
        assert resp.headers["x-request-id"]
    assert body["error"]["code"] == code
    assert set(body["error"]) >= {"message", "type", "code", "param"}
    assert gw.control.hits == 0
    await gw.settle_all()
    assert await balance(gw, t.account_id) == 1_000_000
    assert [r for r in await ledger(gw, t.account_id) if r["kind"] != "credit"] == []


async def test_authentication_and_permission_errors(gw: Gateway) -> None:
    t = await tenant(gw, models=["gpt-4o-mini"])
    url = gw.url + "/v1/chat/completions"
    body = {"model": "gpt-4.1", "messages": MESSAGES}
    cases = [
        ({}, 401, "invalid_api_key"),
        ({"Authorization": "Bearer mw-not-a-real-key"}, 401, "invalid_api_key"),
        ({"Authorization": "Bearer sk-openai-style"}, 401, "invalid_api_key"),
        ({"Authorization": f"Bearer {t.key}"}, 403, "permission_denied"),
    ]
    for headers, status, code in cases:
        async with gw.http.post(url, json=body, headers=headers) as resp:
            assert resp.status == status
            assert (await resp.json())["error"]["code"] == code
    async with gw.http.get(gw.url + "/admin/v1/accounts/x") as resp:
        assert resp.status == 401
    assert gw.control.hits == 0


async def test_body_limit_gives_413(dsn: str) -> None:
    from tests.support.harness import running_gateway

    async with running_gateway(dsn, MAX_BODY_BYTES="2048") as small:
        t = await tenant(small)
        big = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 5000}]}
        async with small.http.post(
            small.url + "/v1/chat/completions",
            json=big,
            headers={"Authorization": f"Bearer {t.key}"},
        ) as resp:
            assert resp.status == 413
            assert (await resp.json())["error"]["type"] == "invalid_request_error"
        assert small.control.hits == 0


async def test_models_lists_what_the_key_may_use(gw: Gateway) -> None:
    t = await tenant(gw, models=["gpt-4o-mini", "text-embedding-3-small"])
    async with openai_client(gw, t.key) as client:
        models = [m.id async for m in client.models.list()]
    assert sorted(models) == ["gpt-4o-mini", "text-embedding-3-small"]


async def test_unknown_account_and_key_are_404(gw: Gateway) -> None:
    assert (await gw.admin("GET", "/admin/v1/accounts/acct_nope"))[0] == 404
    assert (await gw.admin("DELETE", "/admin/v1/keys/key_nope"))[0] == 404
    status, body = await gw.admin(
        "POST", "/admin/v1/keys", {"account_id": "acct_nope", "name": "x"}
    )
    assert status == 404 and body["error"]["type"] == "invalid_request_error"


async def test_ledger_is_paginated_newest_first(gw: Gateway) -> None:
    t = await tenant(gw, credit=0)
    for n in range(5):
        await gw.admin(
            "POST",
            f"/admin/v1/accounts/{t.account_id}/credits",
            {"amount_micros": n + 1, "idempotency_key": f"c{n}"},
        )
    status, page = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}/ledger?limit=2")
    assert status == 200 and page["has_more"] is True
    assert [r["amount_micros"] for r in page["data"]] == [5, 4]
    status, page2 = await gw.admin(
        "GET", f"/admin/v1/accounts/{t.account_id}/ledger?limit=2&before={page['next_before']}"
    )
    assert [r["amount_micros"] for r in page2["data"]] == [3, 2]


async def test_health_and_readiness(gw: Gateway) -> None:
    async with gw.http.get(gw.url + "/healthz") as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "ok", "build": build()}  # pure or compiled
    operator = {"Authorization": f"Bearer {ADMIN_KEY}"}  # details are the operator's only
    async with gw.http.get(gw.url + "/readyz", headers=operator) as resp:
        body = await resp.json()
        assert resp.status == 200, body
    assert body["redis"] and body["postgres"] and body["redis_consistent"]


async def test_a_model_the_key_may_not_use_is_403_even_with_a_full_window(gw: Gateway) -> None:
    t = await tenant(
        gw,
        models=["gpt-4o-mini"],
        quotas=[{"window": "minute", "metric": "requests", "limit": 1}],
    )
    url, auth = gw.url + "/v1/chat/completions", {"Authorization": f"Bearer {t.key}"}
    other = {"model": "gpt-4.1", "messages": MESSAGES}
    async with openai_client(gw, t.key) as client:
        await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    async with gw.http.post(url, json=other, headers=auth) as r:
        body = await r.json()
        assert r.status == 403, body
        assert (body["error"]["code"], body["error"]["param"]) == ("permission_denied", "model")
    status, _ = await gw.admin("DELETE", f"/admin/v1/keys/{t.key_id}")
    assert status in (200, 204)
    async with gw.http.post(url, json=other, headers=auth) as r:
        assert r.status == 401  # a revoked key is told so before anything about its body
