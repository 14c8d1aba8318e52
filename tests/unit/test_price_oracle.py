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
with its reason (`pytest -rs` prints them): nothing is left out silently.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
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

from billing.batches import bill_output
from billing.pricing import ModelPrice, load_pricing
from billing.pricing.model import usage_counts
from billing.usage import Usage
from gateway.llm.batch_input import line_usage
from gateway.llm.converse_chat import answer_usage as converse_usage
from gateway.llm.endpoints import (
    CHAT,
    COMPLETIONS,
    EMBEDDINGS,
    GEMINI,
    MESSAGES,
    RESPONSES,
    XAI_CHAT,
)
from gateway.llm.media_answers import image_usage
from gateway.llm.media_readers import per_image
from gateway.llm.sse import SSEEvent
from gateway.settings import PROVIDERS

CONFIG = Path(__file__).resolve().parents[2] / "config" / "pricing.toml"
# Added providers as an operator's [providers.NAME] tables name them: NAME -> catalogue.
ADDED = {"xai": "x-ai", "groq": "groq", "azure": "azure", "bedrock": "aws", "together": "together"}
WIRES = {"xai": "openai", "groq": "openai", "azure": "azure", "bedrock": "bedrock"}
TABLE = load_pricing(CONFIG, PROVIDERS, ADDED, WIRES)
CATALOGUE_OF = {**{p: p for p in PROVIDERS}, **ADDED}
BY_ID = {p.id: p for p in catalogue_data.providers}
EXAMPLES = int(os.environ.get("MW_ORACLE_EXAMPLES", "4"))

Answer = dict[str, Any]
Draw = Callable[..., Any]

# ---------------------------------------------------------------- what the answers carry

# Token counts: small ones, large ones, and each side of every context-length tier's edge.
EDGES = (128_000, 200_000, 272_000)
TOKENS = st.one_of(
    st.integers(0, 3_000),
    st.integers(0, 400_000),
    st.sampled_from([e + d for e in EDGES for d in (-1, 0, 1)]),
)
# 2024-01-01 .. 2027-01-01 at the minute: price history and time-of-day segments.
AT_MS = st.integers(1_704_067_200, 1_798_761_600).map(lambda s: s // 60 * 60_000)


def _split(draw: Draw, total: int, parts: int) -> list[int]:
    """`total` cut at `parts - 1` drawn points: parts that sum to it."""
    cuts = sorted(draw(st.integers(0, total)) for _ in range(parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]


def _some(draw: Draw, priced: bool, whole: int) -> int:
    """A part of `whole` when the model prices it (a provider reports none otherwise)."""
    return draw(st.integers(0, whole)) if priced and whole else 0


def _tier(draw: Draw, price: ModelPrice, at_ms: int) -> str:
    return str(draw(st.sampled_from(["default", *sorted(price.tiers(at_ms))])))


def openai_chat(draw: Draw, price: ModelPrice, at_ms: int) -> Answer:
    """Chat and legacy completions: cached and audio parts of the prompt, reasoning and
    audio parts of the completion, and the service tier that served it."""
    prompt, completion = draw(TOKENS), draw(TOKENS)
    cached = draw(st.integers(0, prompt))
    audio_in = _some(draw, price.prices("input_audio_mtok"), prompt - cached)
    reasoning = draw(st.integers(0, completion))
    audio_out = _some(draw, price.prices("output_audio_mtok"), completion - reasoning)
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": audio_in},
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": audio_out},
    }
    return {
        "model": price.upstream_model,
        "usage": usage,
        "service_tier": _tier(draw, price, at_ms),
    }


def responses(draw: Draw, price: ModelPrice, at_ms: int) -> Answer:
    inp, out = draw(TOKENS), draw(TOKENS)
    usage = {
        "input_tokens": inp,
        "input_tokens_details": {"cached_tokens": draw(st.integers(0, inp))},
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": draw(st.integers(0, out))},
        "total_tokens": inp + out,
    }
    tier = _tier(draw, price, at_ms)
    return {"model": price.upstream_model, "usage": usage, "service_tier": tier, "output": []}


def xai_chat(draw: Draw, price: ModelPrice, at_ms: int) -> Answer:
    """xAI counts reasoning outside `completion_tokens`."""
    prompt, completion, reasoning = draw(TOKENS), draw(TOKENS), draw(TOKENS)
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion + reasoning,
        "prompt_tokens_details": {"cached_tokens": draw(st.integers(0, prompt))},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }
    return {"model": price.upstream_model, "usage": usage}


def plain_chat(draw: Draw, price: ModelPrice, at_ms: int) -> Answer:
    """Mistral's, Groq's, Google's OpenAI-compatible and DeepSeek's chat usage (DeepSeek
    also spells its cache hits at the top level)."""
    prompt, completion = draw(TOKENS), draw(TOKENS)
    hits = draw(st.integers(0, prompt))
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": hits},
        "completion_tokens_details": {"reasoning_tokens": draw(st.integers(0, completion))},
    }
    if price.provider == "deepseek":
        usage |= {"prompt_cache_hit_tokens": hits, "prompt_cache_miss_tokens": prompt - hits}
    return {"model": price.upstream_model, "usage": usage}


def embeddings(draw: Draw, price: ModelPrice, at_ms: int) -> Answer:
    prompt = draw(TOKENS)
    usage: dict[str, int] = {"prompt_tokens": prompt, "total_tokens": prompt}
    if price.provider == "mistral":
        usage["completion_tokens"] = 0  # Mistral's embeddings report it, as zero
    return {"model": price.upstream_model, "usage": usage}


def images(draw: Draw, price: ModelPrice, at_ms: int) -> Answer:
    """A GPT image answer: text and image input, image (and some text) output."""
    text_in, image_in = draw(TOKENS), _some(draw, price.prices("input_image_mtok"), 10_000)
    out = draw(TOKENS)
    image_out = draw(st.integers(0, out))
    usage = {
        "input_tokens": text_in + image_in,
        "input_tokens_details": {"text_tokens": text_in, "image_tokens": image_in},
        "output_tokens": out,
        "output_tokens_details": {"text_tokens": out - image_out, "image_tokens": image_out},
        "total_tokens": text_in + image_in + out,
    }
    return {"created": 0, "data": [{"b64_json": ""}], "usage": usage}


def messages(draw: Draw, price: ModelPrice, at_ms: int, tools: bool = True) -> Answer:
    """Anthropic's: input apart from cache reads and writes, writes split 5-minute / 1-hour
    (or, as older answers, not split), server tool runs (unless `tools` is False)."""
    w5m, w1h = draw(TOKENS), _some(draw, price.prices("cache_write_1h_mtok"), 100_000)
    usage: dict[str, Any] = {
        "input_tokens": draw(TOKENS),
        "cache_read_input_tokens": draw(TOKENS),
        "cache_creation_input_tokens": w5m + w1h,
        "output_tokens": draw(TOKENS),
    }
    if w1h or draw(st.booleans()):
        usage["cache_creation"] = {
            "ephemeral_5m_input_tokens": w5m,
            "ephemeral_1h_input_tokens": w1h,
        }
    if tools and price.prices("web_searches_kcount"):
        usage["server_tool_use"] = {"web_search_requests": draw(st.integers(0, 20))}
    return {"model": price.upstream_model, "usage": usage}


MODALITIES = ("TEXT", "AUDIO", "IMAGE", "VIDEO", "DOCUMENT")
OUT_MODALITIES = ("TEXT", "IMAGE", "AUDIO")


def _modal(
    parts: list[int], names: tuple[str, ...], listed: list[int] | None = None
) -> list[dict[str, Any]]:
    """A details list of the modalities with tokens (or with tokens in `listed`: a cache's
    list names each prompt modality, zero or not, or genai-prices cannot split the cache)."""
    shown = listed if listed is not None else parts
    pairs = zip(names, parts, shown, strict=True)
    return [{"modality": m, "tokenCount": n} for m, n, s in pairs if s]


def gemini(draw: Draw, price: ModelPrice, at_ms: int) -> Answer:
    """`usageMetadata`: prompt, cache, tool-use prompt and answer, each with its parts by
    modality summing to its count, and thinking."""
    prompt_parts = _split(draw, draw(TOKENS), len(MODALITIES))
    cache_parts = [draw(st.integers(0, n)) for n in prompt_parts]
    tool_parts = _split(draw, draw(st.integers(0, 5_000)), 2)
    answer_parts = _split(draw, draw(TOKENS), len(OUT_MODALITIES))
    inputs = [n + t for n, t in zip(prompt_parts, [*tool_parts, 0, 0, 0], strict=True)]
    meta = {
        "promptTokenCount": sum(prompt_parts),
        "cachedContentTokenCount": sum(cache_parts),
        "toolUsePromptTokenCount": sum(tool_parts),
        "candidatesTokenCount": sum(answer_parts),
        "thoughtsTokenCount": draw(st.integers(0, 20_000)),
        "promptTokensDetails": _modal(prompt_parts, MODALITIES),
        "cacheTokensDetails": _modal(cache_parts, MODALITIES, inputs),
        "toolUsePromptTokensDetails": _modal(tool_parts, MODALITIES[:2]),
        "candidatesTokensDetails": _modal(answer_parts, OUT_MODALITIES),
    }
    return {"modelVersion": price.upstream_model, "usageMetadata": meta}


def converse(draw: Draw, price: ModelPrice, at_ms: int) -> Answer:
    """Bedrock's Converse: input apart from cache reads and writes, writes by TTL."""
    w5m, w1h = draw(TOKENS), _some(draw, price.prices("cache_write_1h_mtok"), 100_000)
    inp, read, out = draw(TOKENS), draw(TOKENS), draw(TOKENS)
    usage: dict[str, Any] = {
        "inputTokens": inp,
        "outputTokens": out,
        "totalTokens": inp + read + w5m + w1h + out,
        "cacheReadInputTokens": read,
        "cacheWriteInputTokens": w5m + w1h,
    }
    if w1h:
        usage["cacheDetails"] = [
            {"ttl": "5m", "inputTokens": w5m},
            {"ttl": "1h", "inputTokens": w1h},
        ]
    return {"output": {"message": {"content": []}}, "usage": usage}


# ---------------------------------------------------------------- shapes and models

# What the answers leave out by design, each with why. Fields a provider reports that the
# catalogue's extractor for that wire does not read (Meterway bills them; the oracle cannot
# say at what), and options Meterway refuses by name before a call is sent (docs/concepts/
# prices.md, "What is refused"), so no answer carries them.
OMITTED_FIELDS = {
    ("responses", "output tool items"): "genai-prices' `responses` extractors do not count "
    "web_search_call / file_search_call items, which Meterway bills per run",
    ("chat", "unpriced service_tier"): "a service tier the model has no rates for is refused "
    "by name; answers report the default or a tier the model prices",
    ("chat", "unpriced audio"): "audio output on a model without audio prices is refused by "
    "name; answers carry audio parts only where the model prices them",
    ("vertex-messages", "server_tool_use"): "genai-prices' google `anthropic` extractor does "
    "not read web_search_requests, which Meterway bills at the model's web_searches rate",
    ("bedrock-messages", "server_tool_use"): "genai-prices' aws `anthropic` extractor does not "
    "read web_search_requests, which Meterway bills at the model's web_searches rate",
}


def messages_no_tools(draw: Draw, price: ModelPrice, at_ms: int) -> Answer:
    """Claude's answers on Vertex AI and Bedrock, without `server_tool_use`
    (OMITTED_FIELDS)."""
    return messages(draw, price, at_ms, tools=False)


Builder = Callable[[Draw, ModelPrice, int], Answer]
Reader = Callable[[ModelPrice, Answer], Usage | None]


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


def _tallied(endpoint: Any, chunks: list[tuple[str | None, Any]]) -> Usage | None:
    """What the route's stream tally reports after these events (name, JSON body)."""
    tally = endpoint.new_tally(True)
    for name, body in chunks:
        data = body if isinstance(body, str) else orjson.dumps(body).decode()
        raw = (f"event: {name}\n" if name else "") + f"data: {data}\n\n"
        tally.feed(SSEEvent(raw.encode(), name, data))
    return tally.reported()  # type: ignore[no-any-return]


def _chat_stream(endpoint: Any) -> Reader:
    """The answer as a Chat Completions stream: a content chunk, then the usage chunk."""

    def read(price: ModelPrice, answer: Answer) -> Usage | None:
        head = {"object": "chat.completion.chunk", "model": answer.get("model")}
        if "service_tier" in answer:
            head["service_tier"] = answer["service_tier"]
        choice = {"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}
        chunks = [head | {"choices": [choice]}, head | {"choices": [], "usage": answer["usage"]}]
        return _tallied(endpoint, [*((None, c) for c in chunks), (None, "[DONE]")])

    return read


def _messages_stream(price: ModelPrice, answer: Answer) -> Usage | None:
    """Anthropic's: the input side in message_start, the output count (cumulative) and
    server tool runs in message_delta."""
    usage = dict(answer["usage"])
    out, tools = usage.pop("output_tokens"), usage.pop("server_tool_use", None)
    message = {"type": "message", "role": "assistant", "content": [], "model": answer["model"]}
    start = {"type": "message_start", "message": message | {"usage": usage | {"output_tokens": 1}}}
    grown = {"output_tokens": out} | ({"server_tool_use": tools} if tools else {})
    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": grown}
    events = [("message_start", start), ("message_delta", delta)]
    return _tallied(MESSAGES, [*events, ("message_stop", {"type": "message_stop"})])


def _gemini_stream(price: ModelPrice, answer: Answer) -> Usage | None:
    """`streamGenerateContent?alt=sse`: usage so far on each event, final on the last."""
    meta = answer["usageMetadata"]
    part = {"content": {"role": "model", "parts": [{"text": "hi"}]}}
    first = {"candidates": [part], "usageMetadata": {"promptTokenCount": meta["promptTokenCount"]}}
    last = {"candidates": [part | {"finishReason": "STOP"}], "usageMetadata": meta}
    return _tallied(GEMINI, [(None, first), (None, last)])


def _responses_stream(price: ModelPrice, answer: Answer) -> Usage | None:
    response = answer | {"object": "response", "status": "completed"}
    done = {"type": "response.completed", "response": response}
    return _tallied(RESPONSES, [("response.completed", done)])


CHAT_SHAPE = Shape("chat", "chat", openai_chat, _route(CHAT), _chat_stream(CHAT))
PLAIN_STREAM = _chat_stream(CHAT)
SHAPES = {
    "chat": CHAT_SHAPE,
    "completions": Shape("completions", "chat", openai_chat, _route(COMPLETIONS)),
    "responses": Shape("responses", "responses", responses, _route(RESPONSES), _responses_stream),
    "embeddings": Shape("embeddings", "embeddings", embeddings, _route(EMBEDDINGS)),
    "images": Shape(
        "images", "images", images, lambda p, a: image_usage(p, {"model": p.name}, a, 0)
    ),
    "xai-chat": Shape("xai-chat", "chat", xai_chat, _route(XAI_CHAT), _chat_stream(XAI_CHAT)),
    "compat-chat": Shape("compat-chat", "chat", plain_chat, _route(CHAT), PLAIN_STREAM),
    "mistral-chat": Shape("mistral-chat", "default", plain_chat, _route(CHAT), PLAIN_STREAM),
    "mistral-embeddings": Shape("mistral-embeddings", "default", embeddings, _route(EMBEDDINGS)),
    "groq-chat": Shape("groq-chat", "default", plain_chat, _route(CHAT), PLAIN_STREAM),
    "messages": Shape("messages", "default", messages, _route(MESSAGES), _messages_stream),
    "bedrock-messages": Shape("bedrock-messages", "anthropic", messages_no_tools, _route(MESSAGES)),
    "vertex-messages": Shape("vertex-messages", "anthropic", messages_no_tools, _route(MESSAGES)),
    "gemini": Shape("gemini", "default", gemini, _route(GEMINI), _gemini_stream),
    "converse": Shape("converse", "default", converse, lambda p, a: converse_usage(a)),
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
}

# Models not compared, each with why: the oracle cannot price them, or Meterway prices them
# by another documented rule. Matched on (provider, kind) or a model predicate.
TRANSCRIPTION = (
    "genai-prices has no extractor for transcription answers (usage of type tokens or "
    "duration); Meterway measures a per-second model's seconds from the recording itself"
)
SPEECH = "a speech answer is audio with no usage object: its request's input is counted"
NOT_COMPARED: dict[tuple[str, str], str] = {
    **{(p, "transcription"): TRANSCRIPTION for p in ("openai", "azure", "groq", "mistral")},
    **{(p, "speech"): SPEECH for p in ("openai", "azure", "groq", "google")},
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
    assert all(skipped.values())
    extracted = {n for n, p in BY_ID.items() if p.extractors}
    chat = {
        p.name
        for p in TABLE.served()
        if p.kind == "chat" and p.source != "pricing.toml" and CATALOGUE_OF[p.provider] in extracted
    }
    assert chat <= compared
    assert len(compared) > 350
