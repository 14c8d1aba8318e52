"""Streams cut short, by the client or by the provider: input plus delivered output is billed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from billing.metering.usage import Usage
from gateway.llm.sse import SSEEvent, SSEParser
from tests.support.factories import held, ledger, openai_client, price, tenant
from tests.support.harness import COUNTER, Gateway

USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "one two three four five six seven eight nine ten"}
]
MODEL = "gpt-4o-mini"


def counted(text: str) -> Usage:
    return Usage(
        input_tokens=COUNTER.count_chat_prompt("o200k_base", MESSAGES),
        output_tokens=COUNTER.count_text("o200k_base", text),
        source="counted",
    )


def pieces(events: list[SSEEvent]) -> list[str]:
    """The non-empty reply text of each chunk the client received."""
    found = []
    for ev in events:
        if ev.data.startswith("{"):
            for choice in json.loads(ev.data).get("choices") or []:
                found.append(choice["delta"].get("content") or "")
    return [p for p in found if p]


def content(events: list[SSEEvent]) -> str:
    return "".join(pieces(events))


async def settled_debits(gw: Gateway, account_id: str) -> list[dict[str, Any]]:
    """The settlement of a cut stream runs after the handler unwinds: wait for it."""
    async with asyncio.timeout(5):
        while True:
            await gw.settle_all()
            rows = [r for r in await ledger(gw, account_id) if r["kind"] == "debit"]
            if rows:
                return rows
            await asyncio.sleep(0.02)


async def raw_stream(gw: Gateway, key: str) -> list[SSEEvent]:
    body = {"model": MODEL, "messages": MESSAGES, "stream": True, "max_tokens": 600}
    headers = {"Authorization": f"Bearer {key}"}
    parser = SSEParser()
    events: list[SSEEvent] = []
    async with gw.http.post(gw.url + "/v1/chat/completions", json=body, headers=headers) as r:
        assert r.status == 200
        async for chunk in r.content.iter_any():
            events += parser.feed(chunk)
    return events


async def test_client_disconnect_drains_upstream_and_bills_the_final_usage(
    gw: Gateway,
) -> None:
    """Issue 10, item 2: a client leaving does not stop the provider generating (or billing
    hidden reasoning), so the gateway keeps reading, writes nothing more, and bills the
    provider's final usage. (It used to cancel at once and bill the delivered text.)"""
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    gw.control.chunks = 8
    gw.control.chunk_delay_s = 0.3
    body = {"model": MODEL, "messages": MESSAGES, "stream": True, "max_tokens": 600}
    headers = {"Authorization": f"Bearer {t.key}"}
    parser = SSEParser()
    events: list[SSEEvent] = []
    resp = await gw.http.post(gw.url + "/v1/chat/completions", json=body, headers=headers)
    async for chunk in resp.content.iter_any():
        events += parser.feed(chunk)
        if len(pieces(events)) >= 2:
            break
    resp.close()
    async with asyncio.timeout(10):
        await gw.control.wait_until(lambda c: c.completed >= 1)
    assert gw.control.cancelled == 0
    rows = await settled_debits(gw, t.account_id)
    assert len(rows) == 1 and rows[0]["usage_source"] == "provider"
    assert (rows[0]["input_tokens"], rows[0]["output_tokens"]) == (1000, 500)
    assert rows[0]["amount_micros"] == -price(gw, MODEL).cost_micros(Usage(1000, 0, 0, 500))
    assert await held(gw, t.account_id) == 0


@pytest.mark.parametrize("mode", ["disconnect", "truncate", "malformed", "error_event"])
async def test_upstream_failure_mid_stream_ends_with_an_error_event(gw: Gateway, mode: str) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    gw.control.chunks = 6
    gw.control.fail_after_chunks = 2
    gw.control.fail_mode = mode  # type: ignore[assignment]
    events = await raw_stream(gw, t.key)
    assert events[-1].data == "[DONE]"
    error = json.loads(events[-2].data)
    # The provider's own error event is forwarded as it was; otherwise the gateway writes one.
    assert error["error"]["type"] == ("server_error" if mode == "error_event" else "upstream_error")
    assert [e for e in events[:-2] if not e.data.startswith("{")] == []
    assert sum("error" in json.loads(e.data) for e in events[:-1]) == 1
    delivered = content(events)
    assert delivered
    rows = await settled_debits(gw, t.account_id)
    expected = counted(delivered)
    assert [(r["amount_micros"], r["usage_source"]) for r in rows] == [
        (-price(gw, MODEL).cost_micros(expected), "counted")
    ]
    assert await held(gw, t.account_id) == 0
    gw.control.reset()
    gw.control.usage = USAGE
    async with openai_client(gw, t.key) as client:
        reply = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert reply.choices[0].message.content


async def test_sdk_raises_a_clean_api_error_on_a_failed_stream(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.fail_after_chunks = 1
    gw.control.fail_mode = "malformed"
    async with openai_client(gw, t.key) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        with pytest.raises(openai.APIError, match="ended abnormally"):
            async for _ in stream:
                pass
    assert [r["usage_source"] for r in await settled_debits(gw, t.account_id)] == ["counted"]


async def test_stream_failing_before_any_output_is_not_billed(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.fail_after_chunks = 0
    gw.control.fail_mode = "error_event"
    events = await raw_stream(gw, t.key)
    assert events[-1].data == "[DONE]" and "error" in json.loads(events[-2].data)
    assert content(events) == ""
    await gw.settle_all()
    assert [r for r in await ledger(gw, t.account_id) if r["kind"] == "debit"] == []
    async with asyncio.timeout(5):
        while await held(gw, t.account_id):
            await gw.settle_all()


async def test_client_gone_before_the_stream_headers_is_billed_the_final_usage(
    gw: Gateway,
) -> None:
    """A client that sends a streaming request and leaves while the provider is still
    thinking: writing the headers fails, and the gateway must still read the provider's
    stream and bill it (it used to release the call unbilled and log an orphaned task)."""
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    gw.control.delay_s = 0.5
    body = json.dumps({"model": MODEL, "messages": MESSAGES, "stream": True, "max_tokens": 600})
    host, port = gw.url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        (
            "POST /v1/chat/completions HTTP/1.1\r\n"
            f"Host: {host}\r\nAuthorization: Bearer {t.key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
        ).encode()
    )
    await writer.drain()
    async with asyncio.timeout(5):
        await gw.control.wait_until(lambda c: c.hits >= 1)
    writer.close()  # gone before the provider's first byte
    rows = await settled_debits(gw, t.account_id)
    assert len(rows) == 1 and rows[0]["usage_source"] == "provider"
    assert (rows[0]["input_tokens"], rows[0]["output_tokens"]) == (1000, 500)
    assert await held(gw, t.account_id) == 0
