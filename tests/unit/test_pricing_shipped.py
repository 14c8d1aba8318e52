"""The pricing table shipped in config/ over the catalogue: the models it must cover and
sane rates for each."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing.metering.usage import Usage
from billing.pricing import ModelPrice, load_pricing
from tests.unit.test_pricing import PROVIDERS

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "pricing.toml"

TABLE = load_pricing(SHIPPED, PROVIDERS)
REQUIRED = {
    "openai": [
        "gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o1", "o3",
        "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-3.5-turbo-instruct",
        "text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002",
    ],
    "anthropic": [
        "claude-opus-4-1", "claude-opus-4", "claude-sonnet-4-5", "claude-sonnet-4",
        "claude-3-7-sonnet", "claude-haiku-4-5", "claude-3-5-haiku",
    ],
    "google": [
        "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash",
        "gemini-embedding-001",
    ],
    "deepseek": ["deepseek-chat", "deepseek-reasoner"],
    "mistral": [
        "mistral-large-latest", "mistral-medium-latest", "mistral-small-latest",
        "codestral-latest", "mistral-embed",
    ],
}  # fmt: skip


def base(price: ModelPrice, key: str) -> int:
    """The base rate of `key` now, micro-USD per its unit's `per` (0 if unpriced)."""
    return price.card().bands[0].rates.get(key, 0)


def shipped(name: str) -> ModelPrice:
    price = TABLE.lookup(name)
    assert price is not None, name
    return price


def test_shipped_gpt_4o_mini_prices() -> None:
    mini = shipped("gpt-4o-mini")
    rates = [base(mini, k) for k in ("input_mtok", "cache_read_mtok", "output_mtok")]
    assert rates == [150_000, 75_000, 600_000]
    assert mini.max_output_tokens == 16384
    assert mini.encoding == "o200k_base"
    assert mini.cost_micros(Usage(input_tokens=1000, output_tokens=500)) == 450


@pytest.mark.parametrize(
    ("name", "provider"), [(n, p) for p, names in REQUIRED.items() for n in names]
)
def test_shipped_table_covers_required_models(name: str, provider: str) -> None:
    assert shipped(name).provider == provider


def test_shipped_embedding_prices() -> None:
    rates = {n: base(shipped(n), "input_mtok") for n in REQUIRED["openai"] if "embed" in n}
    assert rates == {
        "text-embedding-3-small": 20_000,
        "text-embedding-3-large": 130_000,
        "text-embedding-ada-002": 100_000,
    }


def test_shipped_kinds() -> None:
    assert shipped("gpt-3.5-turbo-instruct").kind == "completion"
    for name in ("text-embedding-3-small", "mistral-embed", "gemini-embedding-001"):
        price = shipped(name)
        assert (price.kind, price.max_output_tokens) == ("embedding", 0)


@pytest.mark.parametrize("name", sorted(TABLE.models))
def test_shipped_models_are_sane(name: str) -> None:
    price = shipped(name)
    if price.kind in UNIT_PRICES:
        return
    assert base(price, "input_mtok") > 0
    assert base(price, "cache_read_mtok") <= base(price, "input_mtok")
    if price.kind != "embedding":
        assert base(price, "output_mtok") > 0
        assert price.max_output_tokens > 0


@pytest.mark.parametrize("name", REQUIRED["anthropic"])
def test_shipped_anthropic_cache_rates(name: str) -> None:
    price = shipped(name)
    fresh = base(price, "input_mtok")
    assert base(price, "cache_write_mtok") * 4 == fresh * 5
    assert base(price, "cache_read_mtok") * 10 == fresh
    assert base(price, "cache_write_1h_mtok") in (0, fresh * 2)
    assert price.upstream_model.startswith(name)
    assert price.upstream_model[-8:].isdigit()
    assert TABLE.lookup(price.upstream_model) is price


@pytest.mark.parametrize("name", sorted(TABLE.models))
def test_shipped_encodings(name: str) -> None:
    price = shipped(name)
    o200k = price.provider == "openai" and name.startswith(("gpt-4o", "gpt-4.1", "gpt-5", "o"))
    assert price.encoding == ("o200k_base" if o200k else "cl100k_base")


# What each kind of model that is not priced in tokens is priced by, one of these at least.
UNIT_PRICES = {
    "image": ("input_mtok", "images_1024x1024_standard"),
    "transcription": ("input_mtok", "audio_hours"),
    "speech": ("input_mtok", "input_mchars"),
}


@pytest.mark.parametrize("name", TABLE.names())
def test_every_served_catalogue_model_has_a_priced_input(name: str) -> None:
    price = shipped(name)
    if price.kind == "moderation":  # free unless the table says otherwise
        assert not price.priced_keys
    elif price.kind in UNIT_PRICES:
        assert any(price.prices(key) for key in UNIT_PRICES[price.kind])
    else:
        assert price.prices("input_mtok")
        assert price.kind in ("chat", "embedding", "completion", "realtime")


def test_shipped_kinds_by_endpoint() -> None:
    kinds = {
        "omni-moderation-latest": "moderation",
        "gpt-image-1": "image",
        "dall-e-3": "image",
        "whisper-1": "transcription",
        "gpt-4o-transcribe": "transcription",
        "tts-1": "speech",
        "gpt-4o-mini-tts": "speech",
    }
    assert {name: shipped(name).kind for name in kinds} == kinds


def test_shipped_per_unit_prices() -> None:
    assert base(shipped("dall-e-3"), "images_1024x1024_hd") == 80_000
    assert base(shipped("dall-e-2"), "images_256x256_standard") == 16_000
    assert base(shipped("whisper-1"), "audio_hours") == 360_000  # $0.006 a minute
    assert base(shipped("tts-1"), "input_mchars") == 15_000_000
