"""Provider answers for the price oracle (tests/unit/test_price_oracle.py), as hypothesis
draws them: each usage object in the shape its provider reports, with its parts consistent
(cache and audio within the prompt, reasoning within the completion, modalities summing to
their counts), and the same answers streamed as the gateway's stream tallies read them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from hypothesis import strategies as st

from billing.metering.usage import Usage
from billing.pricing import ModelPrice
from gateway.llm.endpoints import GEMINI, MESSAGES, RESPONSES
from gateway.llm.sse import SSEEvent

Answer = dict[str, Any]
Draw = Callable[..., Any]
Builder = Callable[[Draw, ModelPrice, int], Answer]
Reader = Callable[[ModelPrice, Answer], Usage | None]

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


def realtime(draw: Draw, price: ModelPrice, at_ms: int) -> Answer:
    """A Realtime `response.done`: the input's text, audio and image parts, each with a
    cached part, and the output's text and audio parts (OpenAI's input_token_details)."""
    part = st.integers(0, 40_000)
    text, audio = draw(part), _some(draw, price.prices("input_audio_mtok"), draw(part))
    image = _some(draw, price.prices("input_image_mtok"), draw(part))
    cached = {
        "text_tokens": draw(st.integers(0, text)),
        "audio_tokens": _some(draw, price.prices("cache_audio_read_mtok"), audio),
        "image_tokens": _some(draw, price.prices("cache_image_read_mtok"), image),
    }
    text_out = draw(part)
    audio_out = _some(draw, price.prices("output_audio_mtok"), draw(part))
    usage = {
        "total_tokens": text + audio + image + text_out + audio_out,
        "input_tokens": text + audio + image,
        "output_tokens": text_out + audio_out,
        "input_token_details": {
            "text_tokens": text,
            "audio_tokens": audio,
            "image_tokens": image,
            "cached_tokens": sum(cached.values()),
            "cached_tokens_details": cached,
        },
        "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
    }
    response = {"id": "resp_1", "object": "realtime.response", "usage": usage}
    return {"type": "response.done", "model": price.upstream_model, "response": response}


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


# ---------------------------------------------------------------- the same answers streamed


def tallied(endpoint: Any, chunks: list[tuple[str | None, Any]]) -> Usage | None:
    """What the route's stream tally reports after these events (name, JSON body)."""
    tally = endpoint.new_tally(True)
    for name, body in chunks:
        data = body if isinstance(body, str) else orjson.dumps(body).decode()
        raw = (f"event: {name}\n" if name else "") + f"data: {data}\n\n"
        tally.feed(SSEEvent(raw.encode(), name, data))
    return tally.reported()  # type: ignore[no-any-return]


def chat_stream(endpoint: Any) -> Reader:
    """The answer as a Chat Completions stream: a content chunk, then the usage chunk."""

    def read(price: ModelPrice, answer: Answer) -> Usage | None:
        head = {"object": "chat.completion.chunk", "model": answer.get("model")}
        if "service_tier" in answer:
            head["service_tier"] = answer["service_tier"]
        choice = {"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}
        chunks = [head | {"choices": [choice]}, head | {"choices": [], "usage": answer["usage"]}]
        return tallied(endpoint, [*((None, c) for c in chunks), (None, "[DONE]")])

    return read


def messages_stream(price: ModelPrice, answer: Answer) -> Usage | None:
    """Anthropic's: the input side in message_start, the output count (cumulative) and
    server tool runs in message_delta."""
    usage = dict(answer["usage"])
    out, tools = usage.pop("output_tokens"), usage.pop("server_tool_use", None)
    message = {"type": "message", "role": "assistant", "content": [], "model": answer["model"]}
    start = {"type": "message_start", "message": message | {"usage": usage | {"output_tokens": 1}}}
    grown = {"output_tokens": out} | ({"server_tool_use": tools} if tools else {})
    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": grown}
    events = [("message_start", start), ("message_delta", delta)]
    return tallied(MESSAGES, [*events, ("message_stop", {"type": "message_stop"})])


def gemini_stream(price: ModelPrice, answer: Answer) -> Usage | None:
    """`streamGenerateContent?alt=sse`: usage so far on each event, final on the last."""
    meta = answer["usageMetadata"]
    part = {"content": {"role": "model", "parts": [{"text": "hi"}]}}
    first = {"candidates": [part], "usageMetadata": {"promptTokenCount": meta["promptTokenCount"]}}
    last = {"candidates": [part | {"finishReason": "STOP"}], "usageMetadata": meta}
    return tallied(GEMINI, [(None, first), (None, last)])


def responses_stream(price: ModelPrice, answer: Answer) -> Usage | None:
    response = answer | {"object": "response", "status": "completed"}
    done = {"type": "response.completed", "response": response}
    return tallied(RESPONSES, [("response.completed", done)])
