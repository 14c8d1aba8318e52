"""The output-cap table: every entry names a served catalogue model and its provider's page,
is no larger than the model's context window, and reaches the compiled price; a model it
does not list has no cap (0), never its context window; a call naming no cap to such a
model is sent the table's default in the field its wire reads."""

from __future__ import annotations

from dataclasses import replace

import pytest
from genai_prices import data as catalogue_data

from billing import values
from billing.metering.tokens import TokenCounter
from billing.pricing import load_pricing
from billing.pricing.output_caps import OUTPUT_CAPS, output_cap
from gateway.config.settings import DEFAULT_CONFIG_DIR, PROVIDERS
from gateway.errors import InvalidRequest
from gateway.llm.endpoints import CHAT, GEMINI, RESPONSES
from gateway.llm.reading.calls import read_call
from gateway.stores.records import KeyRecord

PRICING = load_pricing(DEFAULT_CONFIG_DIR / "pricing.toml", frozenset(PROVIDERS))
COUNTER = TokenCounter()
KEY = KeyRecord("k", "a", 0, "k", (), ())
SOURCES = {
    "openai": "https://platform.openai.com/docs/models/",
    "anthropic": "https://docs.anthropic.com/",
    "google": "https://ai.google.dev/",
    "deepseek": "https://api-docs.deepseek.com/",
}
MODELS = {m.id: (p.id, m) for p in catalogue_data.providers if p.id in SOURCES for m in p.models}


@pytest.mark.parametrize("model_id", sorted(OUTPUT_CAPS))
def test_each_cap_names_a_catalogue_model_its_source_and_fits_its_window(model_id: str) -> None:
    assert model_id in MODELS, f"{model_id} is no catalogue model: a stale entry"
    provider, model = MODELS[model_id]
    cap, source = OUTPUT_CAPS[model_id]
    if not model_id.startswith("claude") or provider == "anthropic":
        assert source.startswith(SOURCES[provider])
    assert 0 < cap <= (model.context_window or cap)


def test_a_catalogue_price_takes_the_tables_cap_never_the_context_window() -> None:
    sol = PRICING.lookup("gpt-6.1-sol")
    assert sol is not None and sol.max_output_tokens == 0 == output_cap("gpt-6.1-sol")
    assert MODELS["gpt-6.1-sol"][1].context_window == 1_050_000
    five = PRICING.lookup("gpt-5.1")
    assert five is not None and five.max_output_tokens == 128000


def test_the_operators_cap_overrides_the_table() -> None:
    gpt4o = PRICING.lookup("gpt-4o")  # pricing.toml names 16384 itself
    assert gpt4o is not None and gpt4o.max_output_tokens == 16384


def test_an_unknown_cap_is_the_default_sent_in_each_wires_field() -> None:
    table = replace(PRICING, default_output_tokens=700)
    chat = {"model": "gpt-6.1-sol", "messages": [{"role": "user", "content": "hi"}], "n": 2}
    call = read_call(CHAT, chat, KEY, table, COUNTER)
    assert call.body["max_completion_tokens"] == 700 and call.max_output_tokens == 1400
    resp = read_call(RESPONSES, {"model": "gpt-6.1-sol", "input": "hi"}, KEY, table, COUNTER)
    assert resp.body["max_output_tokens"] == 700 and resp.max_output_tokens == 700
    gemini = values.replace(call, endpoint=GEMINI, body={"generationConfig": {"temperature": 0}})
    sent = gemini.with_output_cap(300).body["generationConfig"]
    assert sent == {"temperature": 0, "maxOutputTokens": 300}


def test_a_request_above_an_unknown_cap_is_not_refused_and_not_lowered() -> None:
    body = {"model": "gpt-6.1-sol", "input": "hi", "max_output_tokens": 200_000}
    call = read_call(RESPONSES, body, KEY, PRICING, COUNTER)
    assert call.body["max_output_tokens"] == 200_000 == call.max_output_tokens


def test_a_batch_line_without_a_cap_on_an_unknown_model_is_refused() -> None:
    """A batch's input file is sent as it is: no explicit cap could be added to it."""
    with pytest.raises(InvalidRequest, match=r"output limit of 'gpt-6\.1-sol' is unknown"):
        read_call(
            RESPONSES,
            {"model": "gpt-6.1-sol", "input": "hi"},
            KEY,
            PRICING,
            COUNTER,
            explicit_cap=False,
        )
