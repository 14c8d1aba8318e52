"""Honest calls are not refused by a hold they would never use (LiteLLM's users report the
same false blocks against its reservation: #40050, #27639, PR #38647).

"hi" to gpt-4o-mini with no max_tokens reserves the model's whole output (16,384 tokens):
with 195,005 of a 200,000 daily token window used it was refused as "used up", and a small
balance was refused too. A call that names no output cap is now fitted to what is left and
sent with that cap (the provider stops there, so nothing overdraws), saying so in
`x-meterway-output-cap-fitted`; a call that named its cap is refused with what it can
afford, in a 429 as in a 402."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from billing.money.quotas import Quota
from gateway.stores.redis.keys import shard_of
from tests.support.factories import balance, debits, openai_client, tenant
from tests.support.harness import Gateway

MODEL = "gpt-4o-mini"
HI: list[Any] = [{"role": "user", "content": "hi"}]
DAY_TOKENS = 200_000
USED = 195_005


async def _chat(gw: Gateway, key: str, **kw: Any) -> Any:
    async with openai_client(gw, key) as client:
        return await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=HI, **kw
        )


async def _window_nearly_used(gw: Gateway) -> Any:
    """A key whose daily token window has USED of DAY_TOKENS spent by one earlier call."""
    t = await tenant(gw, quotas=[{"window": "day", "metric": "tokens", "limit": DAY_TOKENS}])
    gw.control.usage = {"prompt_tokens": USED - 5, "completion_tokens": 5, "total_tokens": USED}
    await _chat(gw, t.key, max_tokens=5)
    gw.control.usage = None
    await gw.settle_all()
    return t


async def test_a_call_with_no_cap_is_fitted_to_the_token_window_left(gw: Gateway) -> None:
    t = await _window_nearly_used(gw)
    raw = await _chat(gw, t.key)  # no max_tokens: worst case 16,384 output tokens
    fitted = int(raw.headers["x-meterway-output-cap-fitted"])
    sent = gw.control.last_request.body
    assert sent["max_completion_tokens"] == fitted or sent.get("max_tokens") == fitted
    assert 16 <= fitted < DAY_TOKENS - USED
    assert raw.parse().choices[0].message.content
    await gw.settle_all()
    day = Quota("day", "tokens", DAY_TOKENS)
    [count] = await gw.store.window_counts(shard_of(t.account_id), "k", t.key_id, (day,))
    assert USED < count.used <= DAY_TOKENS  # fitted, never past the window


async def test_a_call_that_named_its_cap_is_told_what_the_window_affords(gw: Gateway) -> None:
    t = await _window_nearly_used(gw)
    with pytest.raises(openai.RateLimitError) as caught:
        await _chat(gw, t.key, max_tokens=10_000)
    body = caught.value.body
    assert isinstance(body, dict)
    fits = body["affordable_max_tokens"]
    assert 0 < fits < DAY_TOKENS - USED and f"max_tokens={fits}" in body["message"]
    raw = await _chat(gw, t.key, max_tokens=fits)  # the advice is right
    assert raw.parse().choices[0].message.content


async def test_a_call_with_no_cap_is_fitted_to_a_small_balance_and_never_overdraws(
    gw: Gateway,
) -> None:
    """1,500 micros cannot hold 16,384 output tokens of gpt-4o-mini (~9,830 micros): the
    call was refused on the free plan, whose policy is to refuse a call that named its cap."""
    t = await tenant(gw, plan="free", credit=1_500)
    raw = await _chat(gw, t.key)
    fitted = int(raw.headers["x-meterway-output-cap-fitted"])
    assert 16 <= fitted < 2_500
    await gw.settle_all()
    assert await balance(gw, t.account_id) >= 0
    assert [r["amount_micros"] < 0 for r in await debits(gw, t.account_id)] == [True]
    with pytest.raises(openai.APIStatusError) as caught:  # named its cap: refused, advised
        await _chat(gw, t.key, max_tokens=16_000)
    assert caught.value.status_code == 402 and "max_tokens=" in caught.value.message
