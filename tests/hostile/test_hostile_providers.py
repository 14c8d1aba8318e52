"""Issue 10, items 2-7, 15, 16: a hostile or broken provider gets no free output for the
client, no overdraft, no leaked credential, and cannot hold the gateway's memory or time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from billing.metering.usage import Usage
from gateway.services.auth import hash_key
from gateway.stores.errors import HotStoreUnavailable
from tests.hostile.conftest import hostile_env, money
from tests.hostile.provider import (
    HostileProvider,
    chat_body,
    chunk,
    json_answer,
    sse,
    stream_answer,
)
from tests.support.factories import eventual_debits, price, tenant
from tests.support.harness import COUNTER, Gateway, running_gateway

MESSAGES = [{"role": "user", "content": "hi"}]
CREDIT = 1_000_000
SECRET = "sk-operator-secret-0123456789abcdef"


async def chat(gw: Gateway, key: str, **body: Any) -> tuple[int, dict[str, str], bytes]:
    payload = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 100, **body}
    headers = {"Authorization": f"Bearer {key}"}
    async with gw.http.post(gw.url + "/v1/chat/completions", json=payload, headers=headers) as r:
        return r.status, dict(r.headers), await r.read()


@pytest.fixture
async def tight(dsn: str, hp: HostileProvider) -> AsyncIterator[Gateway]:
    """A gateway with small caps and short upstream timeouts."""
    env = hostile_env(
        hp,
        MAX_UPSTREAM_BODY_BYTES=str(1024 * 1024),
        MAX_SSE_EVENT_BYTES=str(1024 * 1024),
        UPSTREAM_FIRST_BYTE_TIMEOUT_S="1",
        # Well above the 0.3 s between the chunks of the stream that outlasts the first-byte
        # timeout: a loaded machine's scheduling gaps (0.2 s of margin was not enough in a
        # whole-suite run) must not read as an idle provider.
        UPSTREAM_IDLE_TIMEOUT_S="2.5",
        STREAM_DRAIN_TIMEOUT_S="1",
    )
    async with running_gateway(dsn, None, **env) as gateway:
        yield gateway
        await gateway.settle_all()


async def test_hidden_reasoning_is_billed_when_a_streaming_client_leaves(
    hgw: Gateway, hp: HostileProvider
) -> None:
    t = await tenant(hgw, credit=CREDIT)
    usage = {
        "prompt_tokens": 12,
        "completion_tokens": 20_000,
        "completion_tokens_details": {"reasoning_tokens": 19_990},
    }
    hp.script.append(stream_answer([sse(chunk("42"), done=False), sse(chunk(usage=usage))], 0.5))
    body = {"model": "o4-mini", "messages": MESSAGES, "max_completion_tokens": 30_000}
    headers = {"Authorization": f"Bearer {t.key}"}
    url = hgw.url + "/v1/chat/completions"
    resp = await hgw.http.post(url, json={**body, "stream": True}, headers=headers)
    assert resp.status == 200
    assert b"42" in await resp.content.readany()
    resp.close()  # the client leaves after the visible answer
    expected = price(hgw, "o4-mini").cost_micros(Usage(12, 0, 0, 20_000))
    async with asyncio.timeout(10):
        await eventual_debits(hgw, t.account_id)
    m = await money(hgw, t.account_id)
    assert [(r["output_tokens"], r["reasoning_tokens"]) for r in m.rows] == [(20_000, 19_990)]
    assert (m.balance, m.held, m.debits) == (CREDIT - expected, 0, [expected])


@pytest.mark.parametrize(
    "usage",
    [
        {},
        {"prompt_tokens": -5, "completion_tokens": 3},
        {"prompt_tokens": 10.0, "completion_tokens": 1e6},
        {"prompt_tokens": "10", "completion_tokens": "5"},
        {"prompt_tokens": 10, "completion_tokens": 10**18},
    ],
)
async def test_malformed_usage_is_treated_as_absent_and_counted(
    hgw: Gateway, hp: HostileProvider, usage: dict[str, Any]
) -> None:
    t = await tenant(hgw, credit=CREDIT)
    hp.script.append(json_answer(chat_body("hello world, hello", usage=usage)))
    status, headers, _ = await chat(hgw, t.key)
    assert status == 200
    m = await money(hgw, t.account_id)
    counted = Usage(
        COUNTER.count_chat_prompt("o200k_base", MESSAGES),
        output_tokens=COUNTER.count_text("o200k_base", "hello world, hello"),
    )
    row = m.rows[0]
    assert (row["usage_source"], row["input_tokens"], row["output_tokens"]) == (
        "counted",
        counted.input_tokens,
        counted.output_tokens,
    )
    cost = price(hgw, "gpt-4o-mini").cost_micros(counted)
    assert (m.balance, m.held, m.debits) == (CREDIT - cost, 0, [cost])
    assert headers["x-meterway-cost-micros"] == str(cost)


async def test_the_charge_is_capped_and_the_header_matches_the_debit(
    hgw: Gateway, hp: HostileProvider
) -> None:
    t = await tenant(hgw, credit=CREDIT)
    hp.script.append(json_answer(chat_body(usage={"prompt_tokens": 8, "completion_tokens": 10**9})))
    status, headers, _ = await chat(hgw, t.key, max_tokens=100)
    assert status == 200
    mini = price(hgw, "gpt-4o-mini")
    prompt = COUNTER.count_chat_prompt("o200k_base", MESSAGES)
    cap = mini.worst_case_micros(prompt * 4 + 8192, 100)
    m = await money(hgw, t.account_id)
    assert (m.balance, m.held, m.debits) == (CREDIT - cap, 0, [cap])
    assert headers["x-meterway-cost-micros"] == str(cap)


async def test_lua_refuses_amounts_it_cannot_hold_exactly(hgw: Gateway) -> None:
    t = await tenant(hgw, credit=CREDIT)
    record = await hgw.store.lookup_key(hash_key(t.key))
    assert record is not None
    with pytest.raises(HotStoreUnavailable):
        await hgw.store.reserve(
            "rid-exact", record, input_tokens=1, max_output_tokens=1, spend_micros=2**53 + 1
        )
    m = await money(hgw, t.account_id)
    assert (m.balance, m.held, m.rows) == (CREDIT, 0, [])


async def test_requests_the_provider_refuses_still_count_against_request_windows(
    hgw: Gateway, hp: HostileProvider
) -> None:
    t = await tenant(hgw, credit=CREDIT, plan="free")
    hp.default = json_answer({"error": {"message": "bad", "type": "invalid_request_error"}}, 400)
    statuses = [(await chat(hgw, t.key))[0] for _ in range(25)]
    assert statuses == [400] * 20 + [429] * 5
    assert len(hp.seen) == 20
    m = await money(hgw, t.account_id)
    assert (m.balance, m.held, m.rows) == (CREDIT, 0, [])


async def test_redirects_are_never_followed(hgw: Gateway, hp: HostileProvider) -> None:
    evil = await HostileProvider().start()
    try:
        t = await tenant(hgw, credit=CREDIT)

        async def redirect(request: web.Request) -> web.StreamResponse:
            raise web.HTTPTemporaryRedirect(evil.url + "/v1/messages")

        hp.script.append(redirect)
        body = {"model": "claude-haiku-4-5", "max_tokens": 10, "messages": MESSAGES}
        async with hgw.http.post(
            hgw.url + "/v1/messages", json=body, headers={"x-api-key": t.key}
        ) as r:
            assert r.status == 502
            assert (await r.json())["error"]["type"] == "api_error"
        assert evil.seen == []
        m = await money(hgw, t.account_id)
        assert (m.balance, m.held, m.rows) == (CREDIT, 0, [])
    finally:
        await evil.close()


async def test_provider_error_bodies_are_scrubbed_and_capped(
    hgw: Gateway, hp: HostileProvider
) -> None:
    t = await tenant(hgw, credit=CREDIT)
    echo = {
        "error": {"message": f"Incorrect key Bearer {SECRET} for org-AbCdEf0123456789"},
        "request_headers": {"authorization": f"Bearer {SECRET}", "x-api-key": SECRET},
        "project": "proj_AbCdEf0123456789",
    }
    hp.script += [json_answer(echo, 500), json_answer(echo, 429), json_answer({"x": "y" * 10**6})]
    hp.script[-1] = json_answer({"error": {"message": "y" * 10**6}}, 500)
    for expected in (502, 429, 502):
        status, _, raw = await chat(hgw, t.key)
        assert status == expected
        text = raw.decode()
        for leaked in (SECRET, "org-AbCdEf", "proj_AbCdEf", "sk-operator"):
            assert leaked not in text
        assert len(raw) < 20_000
    m = await money(hgw, t.account_id)
    assert (m.balance, m.held, m.rows) == (CREDIT, 0, [])


async def test_an_oversized_json_answer_is_a_502_and_nothing_is_billed(
    tight: Gateway, hp: HostileProvider
) -> None:
    t = await tenant(tight, credit=CREDIT)
    hp.script.append(json_answer(chat_body(text="x" * 3_000_000)))
    status, _, raw = await chat(tight, t.key)
    assert (status, json.loads(raw)["error"]["code"]) == (502, "upstream_error")
    m = await money(tight, t.account_id)
    assert (m.balance, m.held, m.rows) == (CREDIT, 0, [])


async def test_an_endless_sse_event_ends_the_stream_and_bills_what_was_delivered(
    tight: Gateway, hp: HostileProvider
) -> None:
    t = await tenant(tight, credit=CREDIT)
    endless = [b"data: " + b'{"choices": [{"index": 0, "delta": {"content": "' + b"z" * 200_000]
    hp.script.append(stream_answer([sse(chunk("hello"), done=False), *endless * 10]))
    status, _, raw = await chat(tight, t.key, stream=True)
    assert status == 200
    assert b"hello" in raw and b"upstream_error" in raw and raw.endswith(b"data: [DONE]\n\n")
    m = await money(tight, t.account_id)
    counted = Usage(
        COUNTER.count_chat_prompt("o200k_base", MESSAGES),
        output_tokens=COUNTER.count_text("o200k_base", "hello"),
    )
    cost = price(tight, "gpt-4o-mini").cost_micros(counted)
    assert (m.balance, m.held, m.debits) == (CREDIT - cost, 0, [cost])


async def test_upstream_timeouts_are_separate(tight: Gateway, hp: HostileProvider) -> None:
    t = await tenant(tight, credit=CREDIT)

    async def slow_headers(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(3)
        return web.json_response(chat_body())

    hp.script.append(slow_headers)
    status, _, raw = await chat(tight, t.key)
    assert (status, json.loads(raw)["error"]["code"]) == (504, "upstream_timeout")
    # A stream longer than the first-byte timeout, whose chunks come within the idle bound.
    parts = [sse(chunk(w), done=False) for w in ("a", "b", "c", "d", "e")]
    last = sse(chunk(usage={"prompt_tokens": 3, "completion_tokens": 5}))
    hp.script.append(stream_answer([*parts, last], 0.3))  # 1.8 s, past the first byte's 1 s
    status, _, raw = await chat(tight, t.key, stream=True)
    assert status == 200 and raw.endswith(b"data: [DONE]\n\n") and b"upstream_error" not in raw
    m = await money(tight, t.account_id)
    cost = price(tight, "gpt-4o-mini").cost_micros(Usage(3, 0, 0, 5))
    assert (m.balance, m.held, m.debits) == (CREDIT - cost, 0, [cost])
