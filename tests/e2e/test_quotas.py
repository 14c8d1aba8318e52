"""Quota and balance refusals as the official openai SDK sees them, and what drives upgrades."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import openai
import pytest
from aiohttp import web
from openai.types.chat import ChatCompletionMessageParam

from gateway.app import create_app
from gateway.devtools.demo_upstream import UpstreamControl, start_upstream
from gateway.http.appkeys import COUNTER
from tests.support.factories import Tenant, openai_client, price, tenant
from tests.support.harness import COUNTER as HARNESS_COUNTER
from tests.support.harness import Gateway, free_port, gateway_settings, running_gateway

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
MODEL = "gpt-4o-mini"
CHAT = "/v1/chat/completions"


def error_body(exc: openai.APIStatusError) -> dict[str, Any]:
    assert isinstance(exc.body, dict)
    return exc.body


async def chat(gw: Gateway, t: Tenant, **kw: Any) -> Any:
    async with openai_client(gw, t.key) as client:
        return await client.chat.completions.with_raw_response.create(
            model=kw.pop("model", MODEL), messages=HI, max_tokens=kw.pop("max_tokens", 10), **kw
        )


async def refused(gw: Gateway, t: Tenant, **kw: Any) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as caught:
        await chat(gw, t, **kw)
    return caught.value


async def keep_away_from_midnight(gw: Gateway) -> None:
    """Day-window tests need the reset well over a minute away on the gateway's clock."""
    now = datetime.fromtimestamp(await gw.store.now_ms() / 1000, UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    if midnight - now < timedelta(minutes=5):
        await gw.advance_clock(10 * 60_000)


async def test_sdk_does_not_retry_a_quota_that_resets_tomorrow(gw: Gateway) -> None:
    await keep_away_from_midnight(gw)
    t = await tenant(gw, quotas=[{"window": "day", "metric": "requests", "limit": 1}])
    await chat(gw, t)
    sent: list[str] = []

    async def count(request: httpx2.Request) -> None:
        sent.append(str(request.url))

    http = openai.DefaultAsyncHttpxClient(event_hooks={"request": [count]})
    async with openai_client(gw, t.key, max_retries=2, http_client=http) as client:
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(model=MODEL, messages=HI, max_tokens=10)
    assert len(sent) == 1  # the SDK honoured x-should-retry: false
    assert gw.control.hits_by_path[CHAT] == 1  # only the admitted request went upstream
    headers = caught.value.response.headers
    assert headers["x-should-retry"] == "false"
    assert int(headers["retry-after"]) > 60
    body = error_body(caught.value)
    assert body["code"] == "quota_exceeded" and body["type"] == "quota_exceeded"
    assert (body["window"], body["metric"], body["limit"], body["used"], body["requested"]) == (
        "day",
        "requests",
        1,
        1,
        1,
    )
    assert body["resets_at"].endswith("T00:00:00Z")
    assert body["upgrade"] is None  # a key's own quota: no plan lifts it
    assert body["message"].startswith("Quota exceeded for this API key on requests per day:")


async def test_upgrade_names_the_next_plan_and_plan_change_is_immediate(gw: Gateway) -> None:
    t = await tenant(gw, plan="free", scopes=["chat", "billing"])  # may take the step it is shown
    for _ in range(20):
        await chat(gw, t)
    err = await refused(gw, t)
    assert err.status_code == 429
    body = error_body(err)
    assert (body["scope"], body["window"], body["metric"]) == ("account", "minute", "requests")
    assert body["upgrade"] == {
        "plan": "starter",
        "limit": 120,
        "url": "/dashboard/billing?upgrade=starter#plans",
    }
    assert body["next"]["command"] == "meterway billing plan starter"
    assert body["message"].endswith("Upgrade to starter for 120.")
    # A just-filled sliding minute frees up 60-65 s later; past 60 s (the longest Retry-After
    # the SDK honours) the gateway says not to retry.
    wait = int(err.response.headers["retry-after"])
    assert 0 < wait <= 65
    assert err.response.headers.get("x-should-retry") == ("false" if wait > 60 else None)
    status, _ = await gw.admin(
        "PUT", f"/admin/v1/accounts/{t.account_id}/plan", {"plan": "starter"}
    )
    assert status == 200
    raw = await chat(gw, t)  # the very next request sees the new plan
    assert raw.headers["x-ratelimit-limit-requests"] == "120"
    assert gw.control.hits_by_path[CHAT] == 21


async def test_token_window_upgrade_reports_used_and_requested(gw: Gateway) -> None:
    t = await tenant(gw, plan="free")
    n = gw.app[COUNTER].count_chat_prompt(price(gw, "gpt-4.1-mini").encoding, HI)
    gw.control.usage = {"prompt_tokens": n, "completion_tokens": 30000, "total_tokens": n + 30000}
    await chat(gw, t, model="gpt-4.1-mini", max_tokens=30000)
    await gw.settle_all()
    err = await refused(gw, t, model="gpt-4.1-mini", max_tokens=30000)
    body = error_body(err)
    assert (body["window"], body["metric"], body["limit"]) == ("minute", "tokens", 40000)
    assert (body["used"], body["requested"]) == (n + 30000, n + 30000)
    assert body["upgrade"] == {
        "plan": "starter",
        "limit": 200000,
        "url": "/dashboard/billing?upgrade=starter#plans",
    }
    assert "on tokens per minute: Limit 40000" in body["message"]
    assert gw.control.hits_by_path[CHAT] == 1


async def test_key_quota_change_is_immediate(gw: Gateway) -> None:
    t = await tenant(gw, quotas=[{"window": "hour", "metric": "requests", "limit": 1}])
    await chat(gw, t)
    assert (await refused(gw, t)).status_code == 429
    status, key = await gw.admin(
        "PUT",
        f"/admin/v1/keys/{t.key_id}/quotas",
        {"quotas": [{"window": "hour", "metric": "requests", "limit": 3}]},
    )
    assert status == 200, key
    raw = await chat(gw, t)
    assert raw.headers["x-ratelimit-limit-requests"] == "3"
    assert raw.headers["x-ratelimit-remaining-requests"] == "1"
    status, _ = await gw.admin("PUT", f"/admin/v1/keys/{t.key_id}/quotas", {"quotas": []})
    assert status == 200
    for _ in range(3):
        await chat(gw, t)


def prompt_tokens(gw: Gateway) -> int:
    return gw.app[COUNTER].count_chat_prompt(price(gw, MODEL).encoding, HI)


async def test_insufficient_balance_names_what_it_can_afford(gw: Gateway) -> None:
    t = await tenant(gw, plan="free", credit=100)
    err = await refused(gw, t, max_tokens=1000)
    assert err.status_code == 402
    assert err.response.headers["x-should-retry"] == "false"
    body = error_body(err)
    p, n = price(gw, MODEL), prompt_tokens(gw)
    affordable = p.affordable_output_tokens(n, 100)
    assert 0 < affordable < 1000
    assert body["reason"] == "insufficient_balance"
    assert body["balance_micros"] == 100
    assert body["required_micros"] == p.worst_case_micros(n, 1000)
    assert body["affordable_max_tokens"] == affordable
    assert body["next"]["action"] == "top_up" and body["next"]["blocked"] is True
    assert body["next"]["url"] == "/dashboard/billing#topup"
    assert f"max_tokens={affordable}" in body["message"]
    await chat(gw, t, max_tokens=affordable)  # the advice is right
    assert gw.control.hits_by_path[CHAT] == 1


@pytest.mark.parametrize(("plan", "key_policy"), [("pro", None), ("free", "clamp")])
async def test_clamp_lowers_max_tokens(gw: Gateway, plan: str, key_policy: str | None) -> None:
    fields = {"on_insufficient": key_policy} if key_policy else {}
    t = await tenant(gw, plan=plan, credit=100, **fields)
    raw = await chat(gw, t, max_tokens=1000)
    sent = gw.control.last_request.body
    assert sent["max_tokens"] == price(gw, MODEL).affordable_output_tokens(prompt_tokens(gw), 100)
    assert raw.parse().choices[0].message.content


async def test_postpaid_needs_billing_ready(gw: Gateway) -> None:
    t = await tenant(gw, plan="pro", credit=0)
    path = f"/admin/v1/accounts/{t.account_id}/plan"
    status, _ = await gw.admin("PUT", path, {"plan": "enterprise"})
    assert status == 200
    err = await refused(gw, t)
    assert err.status_code == 402
    assert error_body(err)["reason"] == "no_payment_method"
    assert gw.control.hits_by_path[CHAT] == 0
    status, _ = await gw.admin("PUT", path, {"plan": "enterprise", "billing_ready": True})
    assert status == 200
    raw = await chat(gw, t)  # served with no balance at all: spend windows cap exposure
    assert raw.parse().choices[0].message.content
    assert gw.control.hits_by_path[CHAT] == 1


async def test_ratelimit_headers_decrease_plain_and_streaming(gw: Gateway) -> None:
    t = await tenant(
        gw,
        quotas=[
            {"window": "minute", "metric": "requests", "limit": 10},
            {"window": "minute", "metric": "tokens", "limit": 5000},
        ],
    )
    seen = []
    for _ in range(2):
        raw = await chat(gw, t, max_tokens=100)
        seen.append(raw.headers)
    async with (
        openai_client(gw, t.key) as client,
        client.chat.completions.with_streaming_response.create(
            model=MODEL, messages=HI, max_tokens=100, stream=True
        ) as streamed,
    ):
        seen.append(streamed.headers)  # sent before the first byte of the stream
        async for _ in streamed.iter_lines():
            pass
    remaining = [int(h["x-ratelimit-remaining-requests"]) for h in seen]
    assert remaining == [9, 8, 7]
    tokens = [int(h["x-ratelimit-remaining-tokens"]) for h in seen]
    assert tokens[0] < 5000 and tokens[0] > tokens[1] > tokens[2]
    for h in seen:
        assert h["x-ratelimit-limit-requests"] == "10"
        assert h["x-ratelimit-limit-tokens"] == "5000"
        assert h["x-ratelimit-reset-requests"].endswith("s")


class RedisRelay:
    """A TCP relay to the real Redis that a test can cut and heal, like a network partition."""

    def __init__(self) -> None:
        self.port = free_port()
        self.down = False
        self._writers: list[asyncio.StreamWriter] = []

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.close()
            return
        r2, w2 = await asyncio.open_connection("127.0.0.1", 6379)
        self._writers.extend([writer, w2])
        await asyncio.gather(self._pipe(reader, w2), self._pipe(r2, writer))

    def cut(self) -> None:
        self.down = True
        for w in self._writers:
            w.close()
        self._writers.clear()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[RedisRelay]:
        server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        try:
            yield self
        finally:
            self.cut()
            server.close()


async def test_redis_lost_mid_life_refuses_with_503(dsn: str) -> None:
    async with (
        RedisRelay().running() as relay,
        running_gateway(dsn, REDIS_URL=f"redis://127.0.0.1:{relay.port}/0") as gw,
    ):
        t = await tenant(gw)
        await chat(gw, t)  # the key is now cached in the process
        await gw.settle_all()
        relay.cut()
        err = await refused(gw, t)
        relay.down = False  # heal, so the gateway shuts down cleanly
        assert err.status_code == 503
        assert error_body(err)["code"] == "service_unavailable"
        assert err.response.headers["retry-after"] == "1"
        assert gw.control.hits_by_path[CHAT] == 1  # the refused call never went upstream


@contextlib.asynccontextmanager
async def gateway_without_redis(dsn: str) -> AsyncIterator[tuple[str, UpstreamControl]]:
    """A gateway whose REDIS_URL points at a closed port (running_gateway would mark_ready)."""
    upstream = await start_upstream(control=UpstreamControl())
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = gateway_settings(dsn, upstream.url, "mwtdead", REDIS_URL=dead)
    runner = web.AppRunner(create_app(settings, counter=HARNESS_COUNTER), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.listen_port).start()
    try:
        yield f"http://127.0.0.1:{settings.listen_port}", upstream.control
    finally:
        try:
            await runner.cleanup()
        finally:
            await upstream.close()


async def test_redis_unreachable_refuses_with_503(dsn: str) -> None:
    async with gateway_without_redis(dsn) as (url, control):
        async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="mw-x", max_retries=0) as c:
            with pytest.raises(openai.APIStatusError) as caught:
                await c.chat.completions.create(model=MODEL, messages=HI, max_tokens=10)
        assert caught.value.status_code == 503
        assert error_body(caught.value)["code"] == "service_unavailable"
        assert control.hits == 0
