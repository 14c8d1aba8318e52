"""Test data made through the operator API, the way an operator would."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anthropic
import anthropic._base_client as anthropic_base
import openai
import openai._base_client as openai_base
from openai.types.chat import ChatCompletionChunk

from billing.pricing import ModelPrice
from gateway.http.appkeys import PRICING
from gateway.stores.errors import HotStoreUnavailable
from tests.support.harness import Gateway

# A Gemini API model, for `gateway_with_providers`'s pricing (with a `gemini` provider).
GEMINI_PRO_PRICING = """
[models."gemini-pro"]
provider = "gemini"
upstream = "gemini-2.5-pro"
catalogue = "gemini-2.5-pro"
max_output_tokens = 65536
"""

# An OpenAI function tool, as clients declare one.
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@dataclass
class Tenant:
    account_id: str
    key: str
    key_id: str


async def tenant(
    gw: Gateway, *, credit: int = 10_000_000, plan: str = "pro", **key_fields: Any
) -> Tenant:
    status, account = await gw.admin(
        "POST", "/admin/v1/accounts", {"name": f"t-{secrets.token_hex(3)}", "plan": plan}
    )
    assert status == 201, account
    if credit:
        status, body = await gw.admin(
            "POST",
            f"/admin/v1/accounts/{account['id']}/credits",
            {"amount_micros": credit, "idempotency_key": "seed", "reason": "test"},
        )
        assert status == 201, body
    status, key = await gw.admin(
        "POST", "/admin/v1/keys", {"account_id": account["id"], "name": "k", **key_fields}
    )
    assert status == 201, key
    return Tenant(account["id"], key["key"], key["id"])


# A gateway that changes markups in tests: a change may take effect a second ahead.
FAST_REVIEW = {"PRICE_CHANGE_LEAD_S": "1", "PRICE_CHANGE_POLL_S": "0.2"}


async def propose_markup(
    gw: Gateway, account_id: str, bps: int | None, ahead_s: float = 1.5
) -> dict[str, Any]:
    """A markup change for the account, `ahead_s` from now (the gateway's lead under it)."""
    when = (datetime.now(UTC) + timedelta(seconds=ahead_s)).isoformat()
    body = {"markup_bps": bps, "effective_at": when}
    status, change = await gw.admin("PUT", f"/admin/v1/accounts/{account_id}/markup", body)
    assert status == 202, change
    return dict(change)


async def approve(gw: Gateway, change: dict[str, Any]) -> dict[str, Any]:
    """Approve a change as its reviewer would, naming its largest move."""
    path = f"/admin/v1/prices/changes/{change['id']}/approve"
    status, body = await gw.admin("POST", path, {"confirm": change["largest_move_percent"]})
    assert status == 200, body
    return dict(body)


async def approved_in_time(
    gw: Gateway, propose: Callable[[float], Awaitable[dict[str, Any]]], ahead_s: float = 1.5
) -> dict[str, Any]:
    """A change proposed `ahead_s` from now, then approved. One that a loaded machine let
    come too close to its start to approve (`price_change_too_late`) is rejected and proposed
    again twice as far ahead, as that answer tells an operator to."""
    for _ in range(4):
        change = await propose(ahead_s)
        path = f"/admin/v1/prices/changes/{change['id']}/approve"
        status, body = await gw.admin("POST", path, {"confirm": change["largest_move_percent"]})
        if status == 200:
            return dict(body)
        assert body["error"]["code"] == "price_change_too_late", body
        reject = f"/admin/v1/prices/changes/{change['id']}/reject"
        status, rejected = await gw.admin("POST", reject)
        assert status == 200, rejected
        ahead_s *= 2
    raise AssertionError(f"never approved in time, {ahead_s} s ahead")


async def until_effective(change: dict[str, Any]) -> None:
    at = datetime.fromisoformat(change["effective_at"]).timestamp()
    await asyncio.sleep(max(0.0, at + 0.05 - time.time()))


async def reviewed_markup(
    gw: Gateway, account_id: str, bps: int | None, ahead_s: float = 1.5
) -> dict[str, Any]:
    """An account's markup changed the reviewed way: proposed a moment ahead, approved,
    and in force when this returns (the gateway runs with FAST_REVIEW)."""

    async def propose(ahead: float) -> dict[str, Any]:
        return await propose_markup(gw, account_id, bps, ahead)

    change = await approved_in_time(gw, propose, ahead_s)
    await until_effective(change)
    return change


# The SDKs give up connecting after 5 s. The suite's gateway serves on the test's own event
# loop, on a two-core machine shared with the compiler, valgrind and browsers: a burst of 200
# calls took longer than that to be accepted. What a test waits for is its own timeout.
OPENAI_TIMEOUT = openai.Timeout(600.0, connect=60.0)
ANTHROPIC_TIMEOUT = anthropic.Timeout(600.0, connect=60.0)


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every SDK client of the process. Each client the SDKs make on
    their own loads the CA bundle anew (30 ms of CPU; 7% of a suite worker's, py-spy),
    for a gateway the tests reach over plain HTTP."""
    return ssl.create_default_context()


def openai_http() -> openai.DefaultAsyncHttpxClient:
    """The HTTP client the OpenAI SDK makes for itself (its timeouts, limits, redirects, and
    its close when dropped unclosed), on `_tls()`."""
    return openai_base.AsyncHttpxClientWrapper(verify=_tls())


def anthropic_http() -> anthropic.DefaultAsyncHttpxClient:
    """The HTTP client the Anthropic SDK makes for itself, on `_tls()`."""
    return anthropic_base.AsyncHttpxClientWrapper(verify=_tls())


def openai_client(gw: Gateway, key: str, **kw: Any) -> openai.AsyncOpenAI:
    kw.setdefault("timeout", OPENAI_TIMEOUT)
    kw.setdefault("http_client", openai_http())
    return openai.AsyncOpenAI(
        base_url=gw.url + "/v1", api_key=key, max_retries=kw.pop("max_retries", 0), **kw
    )


def anthropic_client(gw: Gateway, key: str, **kw: Any) -> anthropic.AsyncAnthropic:
    kw.setdefault("timeout", ANTHROPIC_TIMEOUT)
    kw.setdefault("http_client", anthropic_http())
    return anthropic.AsyncAnthropic(
        base_url=gw.url, api_key=key, max_retries=kw.pop("max_retries", 0), **kw
    )


async def usage_stream(
    client: openai.AsyncOpenAI, model: str, messages: Any, **kw: Any
) -> list[ChatCompletionChunk]:
    """A chat stream that asks for its usage chunk (where the debit is shown), read whole."""
    stream = await client.chat.completions.create(
        model=model,
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
        **kw,
    )
    return [chunk async for chunk in stream]


async def balance(gw: Gateway, account_id: str) -> int:
    status, body = await gw.admin("GET", f"/admin/v1/accounts/{account_id}")
    assert status == 200, body
    return int(body["balance_micros"])


async def hot_balance(gw: Gateway, account_id: str) -> int:
    """The balance Redis holds (what admission reads), not the operator API's answer."""
    found = await gw.store.balance(account_id)
    assert found is not None, f"no balance in Redis for {account_id}"
    return found[0]


async def ledger(gw: Gateway, account_id: str) -> list[dict[str, Any]]:
    status, body = await gw.admin("GET", f"/admin/v1/accounts/{account_id}/ledger?limit=500")
    assert status == 200, body
    return list(body["data"])


def price(gw: Gateway, model: str) -> ModelPrice:
    found = gw.app[PRICING].lookup(model)
    assert found is not None
    return found


async def debits(gw: Gateway, account_id: str) -> list[dict[str, Any]]:
    """The account's debit rows once every settlement so far reached the ledger."""
    await gw.settle_all()
    return [r for r in await ledger(gw, account_id) if r["kind"] == "debit"]


async def eventual_debits(gw: Gateway, account_id: str) -> list[dict[str, Any]]:
    """A call whose client left settles after its handler unwinds: poll for the row. After
    a Redis outage a pooled connection fails once on first use (redis-py retries nothing,
    nor does Meterway: a money script is not sent twice), so that try is polled again."""
    while True:
        with contextlib.suppress(HotStoreUnavailable):
            rows = await debits(gw, account_id)
            if rows:
                return rows
        await asyncio.sleep(0.02)


async def settle_after_outage(gw: Gateway, tries: int = 20) -> None:
    """`settle_all` once Redis is back: each pooled connection the outage broke fails once."""
    for _ in range(tries - 1):
        with contextlib.suppress(HotStoreUnavailable):
            await gw.settle_all()
            return
    await gw.settle_all()


async def held(gw: Gateway, account_id: str) -> int:
    _, body = await gw.admin("GET", f"/admin/v1/accounts/{account_id}")
    return int(body["held_micros"])
