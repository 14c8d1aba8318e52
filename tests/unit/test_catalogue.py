"""Prices from the catalogue: every dimension it knows, dated prices, and its own arithmetic.

The catalogue's own calculator (`genai_prices`, in Decimal) is the oracle: the compiled
integer rates must bill exactly its figure, rounded up once.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from genai_prices import Usage as CatalogueUsage
from genai_prices import data as catalogue_data
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.metering.usage import Usage, usage_from_anthropic, usage_from_openai
from billing.money.micros import COST_SCALE
from billing.pricing import ModelPrice, PricingError, parse_pricing
from billing.pricing.model import usage_counts
from gateway.llm.reading.kinds import billed_kinds
from tests.unit.test_pricing import PROVIDERS

TABLE = parse_pricing({}, PROVIDERS)


def served(name: str) -> ModelPrice:
    price = TABLE.lookup(name)
    assert price is not None, name
    return price


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


# ---------------------------------------------------------------- the reproductions


def test_long_context_gemini_bills_the_whole_call_at_the_long_rates() -> None:
    usage = usage_from_openai({"prompt_tokens": 250_000, "completion_tokens": 1000})
    assert usage is not None
    assert served("gemini-2.5-pro").cost_micros(usage) == 640_000
    short = usage_from_openai({"prompt_tokens": 200_000, "completion_tokens": 1000})
    assert short is not None
    assert served("gemini-2.5-pro").cost_micros(short) == 260_000


def test_one_hour_cache_writes_bill_at_twice_input() -> None:
    usage = usage_from_anthropic(
        {
            "input_tokens": 100,
            "cache_creation_input_tokens": 10_000,
            "cache_creation": {"ephemeral_1h_input_tokens": 10_000, "ephemeral_5m_input_tokens": 0},
            "output_tokens": 100,
        }
    )
    assert usage is not None
    assert served("claude-sonnet-4-5").cost_micros(usage) == 61_800
    five_minutes = usage_from_anthropic(
        {"input_tokens": 100, "cache_creation_input_tokens": 10_000, "output_tokens": 100}
    )
    assert five_minutes is not None
    assert served("claude-sonnet-4-5").cost_micros(five_minutes) == 39_300


def test_a_catalogue_only_model_is_served_at_its_catalogue_price() -> None:
    pro = served("o3-pro")
    assert (pro.provider, pro.source.startswith("genai-prices")) == ("openai", True)
    assert pro.cost_micros(Usage(input_tokens=1_000_000, output_tokens=1_000_000)) == 100_000_000


@pytest.mark.parametrize(
    ("sent", "model"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("gpt-5.2-2025-12-11", "gpt-5.2"),
        ("gpt-5.2-20251211", "gpt-5.2"),
        ("o3-pro-2025-06-10", "o3-pro"),
    ],
)
def test_dated_snapshot_names_are_served_and_sent_upstream_as_sent(sent: str, model: str) -> None:
    price = served(sent)
    assert price.card().meta["model"] == model
    assert price.upstream_model == sent
    assert TABLE.lookup(sent) is price  # the match is kept


def test_an_unknown_name_is_not_served() -> None:
    assert TABLE.lookup("no-such-model-2031") is None


# ---------------------------------------------------------------- every dimension


def test_service_tiers_bill_at_their_rates() -> None:
    mini = served("gpt-5-mini")
    assert {"flex", "priority"} <= mini.tiers()
    flex = Usage(input_tokens=1_000_000, service_tier="flex")
    assert mini.cost_micros(flex) == 125_000
    assert mini.cost_micros(Usage(input_tokens=1_000_000)) == 250_000


def test_audio_tokens_bill_at_audio_rates() -> None:
    usage = usage_from_openai(
        {
            "prompt_tokens": 1000,
            "completion_tokens": 1000,
            "prompt_tokens_details": {"audio_tokens": 400},
            "completion_tokens_details": {"audio_tokens": 500},
        }
    )
    assert usage is not None
    # gpt-audio: text in 2.50, audio in 32, text out 10, audio out 64 per 1M.
    units = 600 * 2_500_000 + 400 * 32_000_000 + 500 * 10_000_000 + 500 * 64_000_000
    assert served("gpt-audio").cost_micros(usage) == units // 1_000_000


def test_web_searches_bill_per_call() -> None:
    usage = usage_from_anthropic(
        {"input_tokens": 0, "output_tokens": 0, "server_tool_use": {"web_search_requests": 3}}
    )
    assert usage is not None
    assert served("claude-sonnet-4-5").cost_micros(usage) == 30_000  # $10 per 1k


def test_the_reservation_covers_the_long_context_band() -> None:
    gemini = served("gemini-2.5-pro")
    assert gemini.worst_case_micros(250_000, 1000) == 640_000
    assert gemini.worst_case_micros(100_000, 1000) == 135_000


def test_a_one_hour_cache_request_reserves_at_the_one_hour_rate() -> None:
    sonnet = served("claude-sonnet-4-5")
    assert sonnet.worst_case_micros(10_000, 0) == 37_500  # 5-minute writes, 3.75 per 1M
    assert sonnet.worst_case_micros(10_000, 0, kinds=("cache_write_1h_tokens",)) == 60_000


# ---------------------------------------------------------------- dated prices


def test_a_catalogue_price_change_applies_from_its_date() -> None:
    flash = served("deepseek-v4-flash")
    usage = Usage(input_tokens=1_000_000)
    before = flash.price(usage, ms("2026-08-16T20:00:00"))
    after = flash.price(usage, ms("2026-08-17T20:00:00"))
    assert (before.provider_micros, after.provider_micros) == (140_000, 220_000)
    assert before.version != after.version


def test_time_of_day_prices_apply_in_their_hours() -> None:
    chat = served("deepseek-chat")
    usage = Usage(input_tokens=1_000_000)
    assert chat.cost_micros(usage, ms("2026-11-24T12:00:00")) == 270_000  # 00:30-16:30 UTC
    assert chat.cost_micros(usage, ms("2026-11-24T20:00:00")) == 135_000


def test_operator_dated_prices_take_the_latest_in_force() -> None:
    doc: dict[str, Any] = {
        "catalogue": {"serve": False},
        "models": {
            "m": {
                "provider": "openai",
                "max_output_tokens": 100,
                "prices": [
                    {"from": "2026-01-01", "input": "1", "output": "2"},
                    {"from": "2026-06-01", "input": "3", "output": "4"},
                ],
            }
        },
    }
    m = parse_pricing(doc, PROVIDERS).lookup("m")
    assert m is not None
    usage = Usage(input_tokens=1_000_000)
    assert m.cost_micros(usage, ms("2025-06-01T00:00:00")) == 1_000_000  # the first, before
    assert m.cost_micros(usage, ms("2026-05-31T23:59:59")) == 1_000_000
    assert m.cost_micros(usage, ms("2026-06-01T00:00:00")) == 3_000_000


def test_operator_context_tiers() -> None:
    doc: dict[str, Any] = {
        "catalogue": {"serve": False},
        "models": {
            "m": {
                "provider": "google",
                "max_output_tokens": 100,
                "input": "1",
                "output": "2",
                "tiers": [{"above": 1000, "input": "2", "output": "4"}],
            }
        },
    }
    m = parse_pricing(doc, PROVIDERS).lookup("m")
    assert m is not None
    assert m.cost_micros(Usage(input_tokens=1000, output_tokens=1000)) == 3000
    assert m.cost_micros(Usage(input_tokens=1001, output_tokens=1000)) == 6002


def test_every_card_is_named_by_its_content() -> None:
    cards = TABLE.rate_cards()
    version = served("gpt-4o-mini").card().version
    assert version.startswith("openai/gpt-4o-mini/")
    assert cards[version]["model"] == "gpt-4o-mini"
    bands = cards[version]["bands"]
    assert isinstance(bands, list) and bands[0]["rates"]["input_mtok"] == 150_000


def test_a_catalogue_price_not_exact_in_micros_fails_loudly() -> None:
    with pytest.raises(PricingError, match=r"openrouter/.*not a whole number of micro-USD"):
        parse_pricing({"catalogue": {"providers": ["openrouter"]}}, frozenset({"openrouter"}))


def test_an_operator_entry_names_a_catalogue_model() -> None:
    doc = {"models": {"fast": {"provider": "openai", "catalogue": "gpt-4o-mini"}}}
    fast = parse_pricing(doc, PROVIDERS).lookup("fast")
    assert fast is not None
    assert fast.cost_micros(Usage(input_tokens=1000, output_tokens=500)) == 450
    with pytest.raises(PricingError, match="no openai model 'nope'"):
        parse_pricing({"models": {"x": {"provider": "openai", "catalogue": "nope"}}}, PROVIDERS)


# ---------------------------------------------------------------- the catalogue as oracle

ORACLE_MODELS = [
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-5.4"),
    ("openai", "gpt-audio"),
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-opus-4-1"),
    ("google", "gemini-2.5-pro"),
    ("deepseek", "deepseek-chat"),
    ("mistral", "mistral-large"),
]
counts = st.integers(min_value=0, max_value=400_000)


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    fresh, cached, written, output = (draw(counts) for _ in range(4))
    hour = draw(st.integers(0, written))
    audio_in = draw(st.integers(0, fresh))
    audio_out = draw(st.integers(0, output))
    extra = [("cache_write_1h_tokens", hour), ("input_audio_tokens", audio_in)]
    extra.append(("output_audio_tokens", audio_out))
    tier = draw(st.sampled_from(["", "flex", "priority", "batch"]))
    parts = tuple((k, n) for k, n in extra if n)
    return Usage(fresh, cached, written, output, extra=parts, service_tier=tier)


def _oracle(provider: str, model_id: str, usage: Usage, at: datetime) -> Decimal:
    info = next(
        m
        for p in catalogue_data.providers
        if p.id == provider
        for m in p.models
        if m.id == model_id
    )
    context = {"service_tier": usage.service_tier} if usage.service_tier else None
    if usage.service_tier == "batch":
        context = {"processing": "batch"}
    prices = info.get_prices(at, context)
    result = prices.calc_price(CatalogueUsage(**usage_counts(usage)))
    return result["total_price"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ORACLE_MODELS), usages(), st.integers(0, 23))
def test_compiled_rates_bill_exactly_the_catalogues_price(
    model: tuple[str, str], usage: Usage, hour: int
) -> None:
    provider, model_id = model
    at = datetime(2026, 11, 24, hour, 7, tzinfo=UTC)
    price = served(model_id)
    assert price.provider == provider
    exact = _oracle(provider, model_id, usage, at) * 1_000_000
    priced = price.price(usage, int(at.timestamp() * 1000))
    assert priced.provider_micros == math.ceil(exact)
    assert priced.numerator == exact * COST_SCALE


# ---------------------------------------------------------------- what a request asks for


def _kinds(body: dict[str, Any], model: str) -> tuple[str, ...]:
    return billed_kinds(body, served(model))


def test_a_request_names_the_kinds_its_reservation_assumes() -> None:
    hour = {"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    assert _kinds({"system": [hour], "messages": []}, "claude-sonnet-4-6") == (
        "cache_write_1h_tokens",
    )
    # A 5-minute cache_control too: the provider may write (and bill) an hour's cache.
    five = {**hour, "cache_control": {"type": "ephemeral"}}
    assert _kinds({"messages": [{"role": "user", "content": [five]}]}, "claude-sonnet-4-6") == (
        "cache_write_1h_tokens",
    )
    plain = {"type": "text", "text": "x"}
    assert _kinds({"messages": [{"role": "user", "content": [plain]}]}, "claude-sonnet-4-6") == ()
    audio = {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}
    spoken = {"messages": [{"role": "user", "content": [audio]}], "modalities": ["audio"]}
    assert _kinds(spoken, "gpt-audio") == ("input_audio_tokens", "output_audio_tokens")
    image = {"type": "image_url", "image_url": {"url": "data:"}}
    assert _kinds({"messages": [{"role": "user", "content": [image]}]}, "gpt-image-1") == (
        "input_image_tokens",
    )
    assert _kinds({"messages": [{"role": "user", "content": [image]}]}, "gpt-4o") == ()
