"""Routes today's SDKs call besides generation: token counting, one model, provider 429s
backed off as the provider asked, request ids both SDKs read, and /api/ping."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from gateway.devtools.demo_upstream import Behaviour
from tests.support.factories import anthropic_client, balance, debits, openai_client, tenant
from tests.support.harness import ADMIN_KEY, COUNTER, Gateway

MESSAGES: Any = [{"role": "user", "content": "How many tokens is this?"}]  # both SDKs


async def test_count_tokens_is_the_providers_and_not_billed(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    async with anthropic_client(gw, t.key) as client:
        raw = await client.messages.with_raw_response.count_tokens(
            model="claude-haiku-4-5",
            messages=MESSAGES,
            system="Be brief.",
        )
    counted = await raw.parse()
    assert raw.headers["x-meterway-token-count"] == "provider"
    prompt = "Be brief.\nHow many tokens is this?"
    assert counted.input_tokens == COUNTER.count_text("o200k_base", prompt)
    sent = gw.control.last_request
    assert sent.path == "/v1/messages/count_tokens"
    assert sent.body["model"] == "claude-haiku-4-5-20251001"
    assert await debits(gw, t.account_id) == []
    assert await balance(gw, t.account_id) == 1_000_000


async def test_count_tokens_is_counted_locally_when_the_provider_fails(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.status = 503
    async with anthropic_client(gw, t.key) as client:
        raw = await client.messages.with_raw_response.count_tokens(
            model="claude-haiku-4-5",
            messages=MESSAGES,
        )
    assert raw.headers["x-meterway-token-count"] == "local"
    expected = COUNTER.count_anthropic_prompt("cl100k_base", None, MESSAGES)
    assert (await raw.parse()).input_tokens == expected
    assert await debits(gw, t.account_id) == []


async def test_count_tokens_needs_a_key(gw: Gateway) -> None:
    async with anthropic_client(gw, "mw-not-a-key") as client:
        with pytest.raises(anthropic.AuthenticationError):
            await client.messages.count_tokens(
                model="claude-haiku-4-5",
                messages=MESSAGES,
            )
    assert gw.control.hits == 0


async def test_models_retrieve_only_what_the_key_may_use(gw: Gateway) -> None:
    t = await tenant(gw, models=["gpt-4o-mini"])
    async with openai_client(gw, t.key) as client:
        model = await client.models.retrieve("gpt-4o-mini")
        assert (model.id, model.owned_by) == ("gpt-4o-mini", "openai")
        for name in ("gpt-4o", "no-such-model"):
            with pytest.raises(openai.NotFoundError) as err:
                await client.models.retrieve(name)
            assert err.value.code == "model_not_found"


async def test_provider_429_makes_the_sdk_wait_as_the_provider_asked(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    limited = {"retry-after": "3", "x-ratelimit-remaining-requests": "0"}
    gw.control.script.append(Behaviour(status=429, error_headers=limited))
    async with openai_client(gw, t.key, max_retries=1) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
        )
    assert raw.http_response.status_code == 200
    first, second = gw.control.requests[-2:]
    assert second.at - first.at >= 2.9  # the SDK waited the provider's retry-after
    assert len(await debits(gw, t.account_id)) == 1  # the refused attempt cost nothing


async def test_provider_429_keeps_its_headers_and_ours_move_aside(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.status = 429
    gw.control.error_headers = {
        "retry-after": "7",
        "retry-after-ms": "6500",
        "x-ratelimit-remaining-requests": "0",
    }
    async with openai_client(gw, t.key) as client:
        with pytest.raises(openai.RateLimitError) as err:
            await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    headers = err.value.response.headers
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("7", "6500")
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-meterway-ratelimit-limit-requests"] == "600"  # the pro plan's minute
    assert headers["x-meterway-cost-micros"] == "0"
    assert await debits(gw, t.account_id) == []


async def test_both_sdks_see_the_request_id(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    async with anthropic_client(gw, t.key) as client:
        message = await client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=50,
            messages=MESSAGES,
        )
    assert message._request_id and len(message._request_id) == 32
    async with openai_client(gw, t.key) as oai:
        completion = await oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion._request_id and len(completion._request_id) == 32


async def test_ping_reports_the_build_from_the_environment(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with gw.http.get(gw.url + "/api/ping") as r:
        assert r.status == 200
        empty = await r.json()
    assert set(empty) == {"image", "version", "commit", "price_catalogue"}
    assert empty["price_catalogue"].startswith("genai-prices ")
    monkeypatch.setenv("MW_GIT_COMMIT", "abc123")
    monkeypatch.setenv("MW_IMAGE", "meterway:test")
    async with gw.http.get(gw.url + "/api/ping") as r:
        body = await r.json()
    assert (body["commit"], body["image"]) == ("abc123", "meterway:test")


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def _scrape(gw: Gateway) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    operator = {"Authorization": f"Bearer {ADMIN_KEY}"}  # /metrics is the operator's
    async with gw.http.get(gw.url + "/metrics", headers=operator) as r:
        assert r.status == 200
        return _samples(await r.text())


async def test_metrics_count_refusals_responses_and_time_without_ids(gw: Gateway) -> None:
    """Metrics are per process (tests share one): every check is a difference."""
    rich, poor = await tenant(gw, credit=1_000_000), await tenant(gw, credit=1)
    refused = (
        "meterway_reservations_refused_total",
        (("reason", "insufficient_balance"), ("window", "")),
    )
    route = (("model", "gpt-4o-mini"), ("route", "/v1/responses"), ("status", "200"))
    before = await _scrape(gw)
    async with openai_client(gw, poor.key) as client:
        with pytest.raises(openai.APIStatusError):
            await client.responses.create(model="gpt-4o-mini", input="hi")
    async with openai_client(gw, rich.key) as client:
        await client.responses.create(model="gpt-4o-mini", input="hi")
    after = await _scrape(gw)
    assert after[refused] - before.get(refused, 0) == 1
    assert (
        after[("meterway_requests_total", route)]
        - before.get(("meterway_requests_total", route), 0)
        == 1
    )
    overhead = ("meterway_overhead_seconds_count", (("route", "/v1/responses"),))
    assert after[overhead] - before.get(overhead, 0) == 2
    upstream = ("meterway_upstream_seconds_count", (("route", "/v1/responses"),))
    assert after[upstream] - before.get(upstream, 0) == 1  # the refused call never went out
    values = {v for (_, labels) in after for _, v in labels}
    assert not values & {rich.account_id, rich.key_id, poor.account_id, poor.key_id}
