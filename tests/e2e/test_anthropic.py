"""/v1/messages through the official anthropic SDK: native JSON and SSE, billed exactly."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import pytest

from billing.metering.usage import Usage
from gateway.http.appkeys import PRICING
from gateway.llm.sse import SSEEvent, SSEParser
from tests.support.factories import (
    anthropic_client,
    anthropic_http,
    debits,
    eventual_debits,
    tenant,
)
from tests.support.harness import COUNTER, Gateway

MODEL = "claude-haiku-4-5"
MESSAGES: list[Any] = [{"role": "user", "content": "Hello there, Claude."}]
USAGE = {
    "input_tokens": 1000,
    "cache_creation_input_tokens": 2000,
    "cache_read_input_tokens": 3000,
    "output_tokens": 500,
}
# claude-haiku-4-5: 1000 x $1.00/M + 2000 x $1.25/M (cache write) + 3000 x $0.10/M (cache read)
#   + 500 x $5.00/M = 1000 + 2500 + 300 + 2500 = 6300 micros.
COST = 6_300


def bearer_client(gw: Gateway, key: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=gw.url, auth_token=key, api_key=None, max_retries=0, http_client=anthropic_http()
    )


async def test_plain_message_is_billed_with_cache_rates(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    async with anthropic_client(gw, t.key) as client:
        raw = await client.messages.with_raw_response.create(
            model=MODEL, max_tokens=600, messages=MESSAGES
        )
    message = await raw.parse()
    assert message.content[0].type == "text" and message.content[0].text
    assert raw.headers["x-meterway-cost-micros"] == str(COST)
    sent = gw.control.last_request
    assert sent.body["model"] == "claude-haiku-4-5-20251001"
    assert sent.headers["x-api-key"] != t.key and sent.headers["anthropic-version"]
    rows = await debits(gw, t.account_id)
    assert [r["amount_micros"] for r in rows] == [-COST]
    row = rows[0]
    assert (row["input_tokens"], row["cache_write_tokens"], row["cached_input_tokens"]) == (
        1000,
        2000,
        3000,
    )
    assert (row["output_tokens"], row["usage_source"], row["model"]) == (500, "provider", MODEL)


async def test_streamed_message_is_billed_from_its_usage_events(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    client = anthropic_client(gw, t.key)
    async with (
        client,
        client.messages.stream(model=MODEL, max_tokens=600, messages=MESSAGES) as stream,
    ):
        text = await stream.get_final_text()
        final = await stream.get_final_message()
    assert text.startswith("You said:")
    assert final.usage.output_tokens == 500
    rows = await debits(gw, t.account_id)
    assert [(r["amount_micros"], r["usage_source"]) for r in rows] == [(-COST, "provider")]


async def test_bearer_auth_is_accepted(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    async with bearer_client(gw, t.key) as client:
        message = await client.messages.create(model=MODEL, max_tokens=600, messages=MESSAGES)
    assert message.content
    assert [r["amount_micros"] for r in await debits(gw, t.account_id)] == [-COST]


async def test_alias_routes_to_the_dated_upstream_model(gw: Gateway) -> None:
    t = await tenant(gw, credit=10_000_000)
    async with anthropic_client(gw, t.key) as client:
        await client.messages.create(model="claude-opus-4-1", max_tokens=100, messages=MESSAGES)
        await client.messages.create(
            model="claude-haiku-4-5-20251001", max_tokens=100, messages=MESSAGES
        )
    sent = [body["model"] for body in gw.control.bodies]
    assert sent == ["claude-opus-4-1-20250805", "claude-haiku-4-5-20251001"]
    rows = await debits(gw, t.account_id)
    assert sorted(r["model"] for r in rows) == ["claude-haiku-4-5", "claude-opus-4-1"]


async def test_errors_have_the_anthropic_shape(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    broke = await tenant(gw, credit=0)
    cases: list[tuple[anthropic.AsyncAnthropic, str, int, str]] = [
        (anthropic_client(gw, "mw-not-a-real-key"), MODEL, 401, "authentication_error"),
        (bearer_client(gw, "mw-not-a-real-key"), MODEL, 401, "authentication_error"),
        (anthropic_client(gw, t.key), "claude-99", 404, "not_found_error"),
        (anthropic_client(gw, t.key), "gpt-4o-mini", 404, "not_found_error"),
        (anthropic_client(gw, broke.key), MODEL, 402, "billing_error"),
    ]
    for client, model, status, kind in cases:
        async with client:
            with pytest.raises(anthropic.APIStatusError) as caught:
                await client.messages.create(model=model, max_tokens=100, messages=MESSAGES)
        assert caught.value.status_code == status
        body = caught.value.body
        assert isinstance(body, dict) and body["type"] == "error"
        assert body["error"]["type"] == kind and body["error"]["message"]
    assert gw.control.hits == 0


async def test_stream_cut_by_the_provider_ends_with_an_error_event(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    gw.control.chunks = 6
    gw.control.fail_after_chunks = 2
    gw.control.fail_mode = "truncate"
    body = {"model": MODEL, "max_tokens": 600, "messages": MESSAGES, "stream": True}
    parser = SSEParser()
    async with gw.http.post(gw.url + "/v1/messages", json=body, headers={"x-api-key": t.key}) as r:
        events = parser.feed(await r.read())
    assert events[-1].event == "error"
    assert json.loads(events[-1].data)["error"]["type"] == "api_error"
    delivered = "".join(
        json.loads(e.data)["delta"]["text"] for e in events if e.event == "content_block_delta"
    )
    assert delivered
    # Input and cache usage come from message_start; output is what was delivered, counted.
    expected = Usage(
        input_tokens=1000,
        cache_write_tokens=2000,
        cached_input_tokens=3000,
        output_tokens=COUNTER.count_text("cl100k_base", delivered),
        source="counted",
    )
    price = gw.app[PRICING].lookup(MODEL)
    assert price is not None
    rows = await debits(gw, t.account_id)
    assert [(r["amount_micros"], r["usage_source"]) for r in rows] == [
        (-price.cost_micros(expected), "counted")
    ]


async def test_sdk_meets_a_clean_error_when_the_stream_is_malformed(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.fail_after_chunks = 1
    gw.control.fail_mode = "malformed"
    async with anthropic_client(gw, t.key) as client:
        stream = await client.messages.create(
            model=MODEL, max_tokens=600, messages=MESSAGES, stream=True
        )
        with pytest.raises(anthropic.APIStatusError, match="ended abnormally"):
            async for _ in stream:
                pass
    rows = await debits(gw, t.account_id)
    assert [r["usage_source"] for r in rows] == ["counted"]


async def test_client_disconnect_drains_upstream_and_bills_the_final_usage(
    gw: Gateway,
) -> None:
    """Issue 10, item 2: the gateway keeps reading after the client left, for the final
    usage in message_delta (it used to cancel at once and bill the delivered text)."""
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    gw.control.chunks = 8
    gw.control.chunk_delay_s = 0.3
    body = {"model": MODEL, "max_tokens": 600, "messages": MESSAGES, "stream": True}
    parser = SSEParser()
    events: list[SSEEvent] = []
    resp = await gw.http.post(gw.url + "/v1/messages", json=body, headers={"x-api-key": t.key})
    async for chunk in resp.content.iter_any():
        events += parser.feed(chunk)
        if sum(e.event == "content_block_delta" for e in events) >= 2:
            break
    resp.close()
    async with asyncio.timeout(10):
        await gw.control.wait_until(lambda c: c.completed >= 1)
        rows = await eventual_debits(gw, t.account_id)
    assert gw.control.cancelled == 0
    assert [(r["amount_micros"], r["usage_source"]) for r in rows] == [(-COST, "provider")]
    _, account = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}")
    assert account["held_micros"] == 0
