"""genai-prices as an oracle: every catalogue model of every served provider, in each usage
shape its provider reports, is debited exactly what the catalogue's own extractor
(`Provider.extract_usage`) and calculator (`calc_price`) price it, rounded up once to micros.

Meterway's side is the gateway's pure pricing path: the route's usage reader for the wire
(`Endpoint.read_usage`), then the model's price at the answer's time (`ModelPrice.cost_micros`,
its one upward rounding). The table is the shipped config/pricing.toml over the catalogue,
with the built-in providers and the added ones the docs show (xAI, Groq, Azure, Bedrock,
Together).

Examples per model and shape: `MW_ORACLE_EXAMPLES` (CI's default is small and derandomized,
so CI is stable; `MW_ORACLE_EXAMPLES=500` explores locally). A model not compared is listed
with its reason (`pytest -rs` prints them), and what the answers leave out by design is
`tests/support/oracle_answers.py`'s OMITTED_FIELDS: nothing is left out silently.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from genai_prices import data as catalogue_data
from genai_prices import types as gp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.metering.realtime import response_usage
from billing.metering.usage import Usage
from billing.pricing import ModelPrice, load_pricing
from billing.pricing.batches import bill_output
from billing.pricing.model import usage_counts
from gateway.config.settings import PROVIDERS
from gateway.llm.converse.chat import answer_usage as converse_usage
from gateway.llm.endpoints import (
    CHAT,
    COMPLETIONS,
    EMBEDDINGS,
    GEMINI,
    MESSAGES,
    RESPONSES,
    XAI_CHAT,
)
from gateway.llm.media.answers import image_usage
from gateway.llm.media.readers import per_image
from gateway.llm.reading.batch_input import line_usage
from tests.support.oracle_answers import (
    AT_MS,
    Answer,
    Builder,
    Reader,
    chat_stream,
    converse,
    embeddings,
    gemini,
    gemini_stream,
    images,
    messages,
    messages_no_tools,
    messages_stream,
    openai_chat,
    plain_chat,
    realtime,
    responses,
    responses_stream,
    xai_chat,
)

CONFIG = Path(__file__).resolve().parents[2] / "config" / "pricing.toml"
# Added providers as an operator's [providers.NAME] tables name them: NAME -> catalogue.
ADDED = {"xai": "x-ai", "groq": "groq", "azure": "azure", "bedrock": "aws", "together": "together"}
WIRES = {"xai": "openai", "groq": "openai", "azure": "azure", "bedrock": "bedrock"}
TABLE = load_pricing(CONFIG, PROVIDERS, ADDED, WIRES)
CATALOGUE_OF = {**{p: p for p in PROVIDERS}, **ADDED}
BY_ID = {p.id: p for p in catalogue_data.providers}
EXAMPLES = int(os.environ.get("MW_ORACLE_EXAMPLES", "4"))

# ---------------------------------------------------------------- shapes and models


@dataclass(frozen=True)
class Shape:
    """One usage object a provider reports: how the answer is built, which reader the
    gateway uses for it (and its stream tally for the same answer streamed), and the
    catalogue extractor's api_flavor."""

    name: str
    flavor: str
    build: Builder
    read: Reader
    stream: Reader | None = None


def _route(endpoint: Any) -> Reader:
    return lambda price, answer: endpoint.read_usage(answer)


CHAT_SHAPE = Shape("chat", "chat", openai_chat, _route(CHAT), chat_stream(CHAT))
PLAIN_STREAM = chat_stream(CHAT)
SHAPES = {
    "chat": CHAT_SHAPE,
    "completions": Shape("completions", "chat", openai_chat, _route(COMPLETIONS)),
    "responses": Shape("responses", "responses", responses, _route(RESPONSES), responses_stream),
    "embeddings": Shape("embeddings", "embeddings", embeddings, _route(EMBEDDINGS)),
    "images": Shape(
        "images", "images", images, lambda p, a: image_usage(p, {"model": p.name}, a, 0)
    ),
    "xai-chat": Shape("xai-chat", "chat", xai_chat, _route(XAI_CHAT), chat_stream(XAI_CHAT)),
    "compat-chat": Shape("compat-chat", "chat", plain_chat, _route(CHAT), PLAIN_STREAM),
    "mistral-chat": Shape("mistral-chat", "default", plain_chat, _route(CHAT), PLAIN_STREAM),
    "mistral-embeddings": Shape("mistral-embeddings", "default", embeddings, _route(EMBEDDINGS)),
    "groq-chat": Shape("groq-chat", "default", plain_chat, _route(CHAT), PLAIN_STREAM),
    "messages": Shape("messages", "default", messages, _route(MESSAGES), messages_stream),
    "bedrock-messages": Shape("bedrock-messages", "anthropic", messages_no_tools, _route(MESSAGES)),
    "vertex-messages": Shape("vertex-messages", "anthropic", messages_no_tools, _route(MESSAGES)),
    "gemini": Shape("gemini", "default", gemini, _route(GEMINI), gemini_stream),
    "converse": Shape("converse", "default", converse, lambda p, a: converse_usage(a)),
    "realtime": Shape(
        "realtime", "realtime", realtime, lambda p, a: response_usage(a["response"]["usage"])
    ),
}
# (provider, kind) -> the shapes its answers come in.
SERVED_SHAPES = {
    ("openai", "chat"): ("chat", "completions", "responses"),
    ("openai", "completion"): ("completions",),
    ("openai", "embedding"): ("embeddings",),
    ("openai", "image"): ("images",),
    ("azure", "chat"): ("chat", "responses"),
    ("azure", "embedding"): ("embeddings",),
    ("azure", "image"): ("images",),
    ("anthropic", "chat"): ("messages",),
    ("google", "chat"): ("compat-chat", "gemini"),
    ("deepseek", "chat"): ("compat-chat",),
    ("mistral", "chat"): ("mistral-chat",),
    ("mistral", "embedding"): ("mistral-embeddings",),
    ("xai", "chat"): ("xai-chat", "responses"),
    ("groq", "chat"): ("groq-chat",),
    ("bedrock", "chat"): ("converse",),
    ("openai", "realtime"): ("realtime",),
}

# Models not compared, each with why: the oracle cannot price them, or Meterway prices them
# by another documented rule. Matched on (provider, kind) or a model predicate.
TRANSCRIPTION = (
    "genai-prices has no extractor for transcription answers (usage of type tokens or "
    "duration); Meterway measures a per-second model's seconds from the recording itself"
)
SPEECH = "a speech answer is audio with no usage object: its request's input is counted"
REALTIME = (
    "Azure's catalogue has no Realtime extractor; OpenAI's Realtime models are compared, the "
    "same reader serves both"
)
NOT_COMPARED: dict[tuple[str, str], str] = {
    **{(p, "transcription"): TRANSCRIPTION for p in ("openai", "azure", "groq", "mistral")},
    **{(p, "speech"): SPEECH for p in ("openai", "azure", "groq", "google")},
    ("azure", "realtime"): REALTIME,
    ("openai", "moderation"): "free unless pricing.toml prices it; moderations report no usage",
    ("google", "embedding"): "genai-prices has no embeddings extractor for google",
    ("bedrock", "embedding"): "only chat (as Converse) and Claude's Messages reach Bedrock "
    "(gateway/llm/translations.py)",
}


# Claude on Bedrock (Converse, or Messages bodies by InvokeModel) and on Vertex AI.
CLAUDE_SHAPES = {"bedrock": ("converse", "bedrock-messages"), "google": ("vertex-messages",)}


def _not_compared(price: ModelPrice) -> str | None:
    if not price.source.startswith("genai-prices"):
        return "priced by config/pricing.toml's own rates, not by the catalogue"
    if not BY_ID[CATALOGUE_OF[price.provider]].extractors:
        return f"genai-prices has no usage extractor for {CATALOGUE_OF[price.provider]}"
    if per_image(price):
        return "billed per image by size and quality (DALL-E): the answer reports no usage"
    return NOT_COMPARED.get((price.provider, price.kind))


def _shapes(price: ModelPrice) -> tuple[str, ...]:
    if "claude" in price.upstream_model and price.provider in CLAUDE_SHAPES:
        return CLAUDE_SHAPES[price.provider]
    return SERVED_SHAPES.get((price.provider, price.kind), ())


def _cases() -> list[Any]:
    cases = []
    for price in sorted(TABLE.served(), key=lambda p: (p.provider, p.name)):
        reason = _not_compared(price)
        shapes = () if reason else _shapes(price)
        for shape in shapes:
            cases.append(pytest.param(price, SHAPES[shape], id=f"{price.name}:{shape}"))
        if not shapes:
            why = reason or f"no usage shape listed for a {price.provider} {price.kind} model"
            cases.append(pytest.param(price, None, id=price.name, marks=pytest.mark.skip(why)))
    return cases


CASES = _cases()

# ---------------------------------------------------------------- the two prices


def catalogue_model(price: ModelPrice, at_ms: int) -> tuple[gp.Provider, gp.ModelInfo]:
    """The catalogue provider and model a served price was compiled from."""
    provider = BY_ID[CATALOGUE_OF[price.provider]]
    model_id = price.card(at_ms).meta["model"]
    return provider, next(m for m in provider.models if m.id == model_id)


@dataclass(frozen=True)
class Oracle:
    """genai-prices' reading of an answer and its price in micros, rounded up once."""

    usage: gp.Usage
    rates: Any  # the catalogue's ModelPrice it was priced at
    micros: int


def oracle(price: ModelPrice, shape: Shape, answer: Answer, at_ms: int) -> Oracle:
    """genai-prices' price of the answer: its own extractor, its own calculator, in the
    service tier the answer reports, rounded up once to micros."""
    provider, model = catalogue_model(price, at_ms)
    _, usage = provider.extract_usage(answer, api_flavor=shape.flavor)
    tier = answer.get("service_tier")
    context = {"service_tier": tier} if tier and tier != "default" else None
    when = datetime.fromtimestamp(at_ms / 1000, UTC)
    found = model.calc_price(usage, provider, genai_request_timestamp=when, price_context=context)
    total: Decimal = found.total_price
    return Oracle(usage, found.model_price, math.ceil(total * 1_000_000))


# Usage keys genai-prices' extractors fill that price nothing (no catalogue price reads
# them) and Meterway does not keep.
UNPRICED_KEYS = frozenset(
    {"input_text_tokens", "output_text_tokens", "cache_text_read_tokens", "input_tool_tokens"}
    | {f"input_{m}_tool_tokens" for m in ("text", "audio", "image", "video")}
)


def _differences(ours: Usage, theirs: gp.Usage, price: ModelPrice, rates: Any, at_ms: int) -> str:
    """Each usage field the two read differently, or, when they read the same, each rate
    they price it at differently."""
    mine = usage_counts(ours)
    keys = sorted((set(mine) | set(vars(theirs))) - UNPRICED_KEYS)
    fields = [
        f"{k}: Meterway {mine.get(k, 0)}, genai-prices {theirs.reported_value(k)}"
        for k in keys
        if mine.get(k, 0) != theirs.reported_value(k)
    ]
    if fields:
        return "usage fields differ: " + "; ".join(fields)
    card = price.card(at_ms, ours.service_tier)
    return (
        "rates differ (micro-USD per unit, card "
        + card.version
        + "): "
        + "; ".join(
            f"{k}: Meterway {card.bands[0].rates.get(k)}, genai-prices {v}"
            for k, v in sorted(vars(rates).items())
            if v is not None and card.bands[0].rates.get(k) != _base_micros(v)
        )
    )


def _base_micros(value: Any) -> int:
    base = value.base if isinstance(value, gp.TieredPrices) else value
    return int(base * 1_000_000)


@pytest.mark.parametrize(("price", "shape"), CASES)
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_the_debit_is_the_catalogues_price(price: ModelPrice, shape: Shape, data: Any) -> None:
    at_ms = data.draw(AT_MS, label="at_ms")
    answer = data.draw(st.composite(lambda d: shape.build(d, price, at_ms))(), label="answer")
    theirs = oracle(price, shape, answer, at_ms)
    when = f"{datetime.fromtimestamp(at_ms / 1000, UTC):%Y-%m-%d %H:%M}"
    for how, read in (("answer", shape.read), ("stream", shape.stream)):
        if read is None:
            continue
        usage = read(price, answer)
        assert usage is not None, f"{price.name} ({shape.name} {how}): unreadable {answer}"
        ours = price.cost_micros(usage, at_ms)
        assert ours == theirs.micros, (
            f"{price.provider} model {price.name}, {shape.name} usage ({how}; genai-prices "
            f"flavor {shape.flavor!r}) at {when}: Meterway debits {ours} micros, genai-prices "
            f"prices {theirs.micros}; "
            f"{_differences(usage, theirs.usage, price, theirs.rates, at_ms)}; answer {answer}"
        )


# ---------------------------------------------------------------- batches, line by line

BATCHED = sorted(
    (c.values[0] for c in CASES if c.values[1] is CHAT_SHAPE and c.values[0].provider == "openai"),
    key=lambda p: p.name,
)


def _line(body: Answer, ok: bool) -> bytes:
    """An output file's line: a response that succeeded, or one the provider failed."""
    response = {"status_code": 200 if ok else 500, "body": body}
    return orjson.dumps({"custom_id": "c", "response": response, "error": None})


@settings(max_examples=EXAMPLES * 25, derandomize=True, deadline=None, database=None)
@given(data=st.data())
def test_a_batch_is_the_catalogues_price_of_its_lines(data: Any) -> None:
    """An OpenAI batch's output file: each succeeded line priced by the catalogue at its
    batch rate (`processing: batch`), failed lines not at all, the sum rounded up once."""
    price = data.draw(st.sampled_from(BATCHED), label="model")
    at_ms = data.draw(AT_MS, label="at_ms")
    line = st.composite(lambda d: openai_chat(d, price, at_ms) | {"service_tier": "default"})
    lines = data.draw(st.lists(st.tuples(line(), st.booleans()), max_size=6), label="lines")
    ours = bill_output(
        [_line(body, ok) for body, ok in lines], line_usage, price, TABLE.lookup, at_ms
    ).priced.provider_micros
    provider, model = catalogue_model(price, at_ms)
    when = datetime.fromtimestamp(at_ms / 1000, UTC)
    total = sum(
        model.calc_price(
            provider.extract_usage(body, api_flavor="chat")[1],
            provider,
            genai_request_timestamp=when,
            price_context={"processing": "batch"},
        ).total_price
        for body, ok in lines
        if ok
    )
    assert ours == math.ceil(Decimal(total) * 1_000_000), (
        f"openai model {price.name}, a batch of {len(lines)} chat lines: Meterway debits "
        f"{ours} micros, genai-prices prices {total} USD; lines {lines}"
    )


# ---------------------------------------------------------------- what the oracle found


def test_bedrock_converse_bills_one_hour_cache_writes_at_their_rate() -> None:
    """Converse's `cacheDetails` splits the writes by TTL; an hour's writes cost more than
    five minutes' (they were billed at the 5-minute rate)."""
    price = TABLE.lookup("bedrock/global.anthropic.claude-sonnet-4-6-v1:0")
    assert price is not None and price.prices("cache_write_1h_mtok")
    shape = SHAPES["converse"]
    usage = {
        "inputTokens": 100,
        "outputTokens": 1_000,
        "cacheReadInputTokens": 0,
        "cacheWriteInputTokens": 50_000,
        "cacheDetails": [
            {"ttl": "5m", "inputTokens": 10_000},
            {"ttl": "1h", "inputTokens": 40_000},
        ],
    }
    answer = {"output": {"message": {"content": []}}, "usage": usage}
    read = shape.read(price, answer)
    assert read is not None and read.extra == (("cache_write_1h_tokens", 40_000),)
    at_ms = 1_790_000_000_000
    assert price.cost_micros(read, at_ms) == oracle(price, shape, answer, at_ms).micros
    five_minutes = {k: v for k, v in usage.items() if k != "cacheDetails"}
    cheaper = shape.read(price, {"usage": five_minutes})
    assert cheaper is not None and price.cost_micros(cheaper, at_ms) < price.cost_micros(
        read, at_ms
    )


@pytest.mark.parametrize("details", ["1h", [{"ttl": "1h", "inputTokens": -1}], ["1h"]])
def test_malformed_converse_cache_details_are_no_usage(details: object) -> None:
    usage = {
        "inputTokens": 1,
        "outputTokens": 1,
        "cacheWriteInputTokens": 5,
        "cacheDetails": details,
    }
    assert converse_usage({"usage": usage}) is None


def test_converse_hour_writes_never_exceed_the_writes() -> None:
    usage = {
        "inputTokens": 1,
        "outputTokens": 1,
        "cacheWriteInputTokens": 5,
        "cacheDetails": [{"ttl": "1h", "inputTokens": 900}],
    }
    read = converse_usage({"usage": usage})
    assert read is not None and read.extra == (("cache_write_1h_tokens", 5),)


def test_every_served_model_is_compared_or_named_with_a_reason() -> None:
    """Nothing leaves the oracle silently: each served model has a shape or a reason, and
    every catalogue-priced chat model of a served provider is compared."""
    compared = {c.values[0].name for c in CASES if c.values[1] is not None}
    skipped = {c.values[0].name: c.marks[0].args[0] for c in CASES if c.values[1] is None}
    assert compared.isdisjoint(skipped)
    assert {p.name for p in TABLE.served()} == compared | set(skipped)
    unlisted = {n: r for n, r in skipped.items() if r.startswith("no usage shape listed")}
    assert not unlisted, f"served models with neither a usage shape nor a reason: {unlisted}"
    extracted = {n for n, p in BY_ID.items() if p.extractors}
    chat = {
        p.name
        for p in TABLE.served()
        if p.kind == "chat" and p.source != "pricing.toml" and CATALOGUE_OF[p.provider] in extracted
    }
    assert chat <= compared
    assert len(compared) > 350
