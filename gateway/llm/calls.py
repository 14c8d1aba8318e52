"""Reading a proxied request: validate its body and size its worst case before forwarding."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import orjson

from billing.pricing import ModelPrice, PricingTable
from billing.tokens import TokenCounter
from gateway.errors import InvalidRequest, ModelNotFound, PermissionDenied
from gateway.stores.redis.hotstore import KeyRecord

# endpoint -> (model kind it serves, upstream path for OpenAI-wire providers, key scope)
ENDPOINTS: dict[str, tuple[str, str, str]] = {
    "chat": ("chat", "/chat/completions", "chat"),
    "completions": ("completion", "/completions", "completions"),
    "embeddings": ("embedding", "/embeddings", "embeddings"),
    "messages": ("chat", "/v1/messages", "messages"),
}


@dataclass(slots=True)
class Call:
    endpoint: str
    price: ModelPrice
    body: dict[str, Any]
    stream: bool
    client_wants_usage: bool
    input_tokens: int
    max_output_tokens: int
    max_tokens_field: str | None = field(default=None)
    choices: int = 1
    raw: bytes = b""  # the client's body, forwarded as is when nothing needs changing

    @property
    def worst_case_micros(self) -> int:
        return self.price.worst_case_micros(self.input_tokens, self.max_output_tokens)

    def clamp(self, max_tokens: int) -> None:
        """Lower max_tokens in the body the provider will see, and the reservation with it.

        `max_tokens` is the total over all choices, as `max_output_tokens` is.
        """
        per_choice = max(max_tokens // self.choices, 1)
        self.body[self.max_tokens_field or "max_tokens"] = per_choice
        self.raw = b""
        self.max_output_tokens = per_choice * self.choices


def parse_json(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"Request body is not valid JSON: {exc}", param="body") from exc
    if not isinstance(body, dict):
        raise InvalidRequest("Request body must be a JSON object.", param="body")
    return body


def _positive_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest(f"'{name}' must be a positive integer.", param=name)
    return value


def _max_output(endpoint: str, body: dict[str, Any], price: ModelPrice) -> tuple[int, str | None]:
    if endpoint == "embeddings":
        return 0, None
    for name in ("max_completion_tokens", "max_tokens"):
        value = _positive_int(body, name)
        if value is not None:
            if value > price.max_output_tokens:
                raise InvalidRequest(
                    f"'{name}' is {value}, above {price.name}'s limit of "
                    f"{price.max_output_tokens}.",
                    param=name,
                )
            return value, name
    if endpoint == "messages":
        raise InvalidRequest("'max_tokens' is required.", param="max_tokens")
    if endpoint == "completions":
        return 16, None  # the legacy API's documented default
    return price.max_output_tokens, None


def _choices(endpoint: str, body: dict[str, Any]) -> int:
    """How many completions one request generates: `n` (or `best_of`) per prompt."""
    if endpoint not in ("chat", "completions"):
        return 1
    per_prompt = _positive_int(body, "n") or 1
    if endpoint == "chat":
        return per_prompt
    per_prompt = max(per_prompt, _positive_int(body, "best_of") or 1)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and prompt and not isinstance(prompt[0], int):
        return per_prompt * len(prompt)  # a batch of prompts, each with its own completions
    return per_prompt


def _input_tokens(endpoint: str, body: dict[str, Any], enc: str, counter: TokenCounter) -> int:
    if endpoint == "chat":
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise InvalidRequest("'messages' must be a non-empty array.", param="messages")
        if not all(isinstance(m, dict) for m in messages):
            raise InvalidRequest("Each message must be an object.", param="messages")
        extra = json.dumps(body["tools"]) if body.get("tools") else ""
        return counter.count_chat_prompt(enc, messages) + counter.count_text(enc, extra)
    if endpoint == "messages":
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise InvalidRequest("'messages' must be a non-empty array.", param="messages")
        extra = json.dumps(body["tools"]) if body.get("tools") else ""
        return counter.count_anthropic_prompt(
            enc, body.get("system"), messages
        ) + counter.count_text(enc, extra)
    if endpoint == "completions":
        prompt = body.get("prompt")
        if not isinstance(prompt, str | list):
            raise InvalidRequest("'prompt' must be a string or an array.", param="prompt")
        return counter.count_completion_prompt(enc, prompt)
    data = body.get("input")
    if not isinstance(data, str | list) or not data:
        raise InvalidRequest("'input' must be a non-empty string or array.", param="input")
    return counter.count_embedding_input(enc, data)


def read_call(
    endpoint: str,
    body: dict[str, Any],
    key: KeyRecord,
    pricing: PricingTable,
    counter: TokenCounter,
) -> Call:
    kind, _, scope = ENDPOINTS[endpoint]
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required.", param="model")
    price = pricing.lookup(model)
    if price is None or price.kind != kind:
        raise ModelNotFound(
            f"The model '{model}' does not exist or is not served on this endpoint.", param="model"
        )
    if key.scopes and scope not in key.scopes:
        raise PermissionDenied(f"This API key lacks the '{scope}' scope.")
    if key.models and price.name not in key.models:
        raise PermissionDenied(f"This API key may not use the model '{model}'.", param="model")
    if endpoint == "messages" and price.provider != "anthropic":
        raise ModelNotFound(f"'{model}' is not an Anthropic model.", param="model")
    if endpoint != "messages" and price.provider == "anthropic":
        raise ModelNotFound(f"'{model}' is served on /v1/messages only.", param="model")
    stream = body.get("stream") is True
    options = body.get("stream_options")
    wants_usage = isinstance(options, dict) and options.get("include_usage") is True
    max_out, field_name = _max_output(endpoint, body, price)
    choices = _choices(endpoint, body)
    tokens = _input_tokens(endpoint, body, price.encoding, counter)
    return Call(
        endpoint, price, body, stream, wants_usage, tokens, max_out * choices, field_name, choices
    )


def upstream_body(call: Call) -> bytes:
    """The body the provider sees: its model name, and usage always asked for on streams."""
    asks_usage = call.stream and call.endpoint in ("chat", "completions")
    unchanged = call.body.get("model") == call.price.upstream_model and (
        not asks_usage or call.client_wants_usage
    )
    if unchanged and call.raw:
        return call.raw
    body = dict(call.body)
    body["model"] = call.price.upstream_model
    if asks_usage:
        options = dict(body.get("stream_options") or {})
        options["include_usage"] = True
        body["stream_options"] = options
    return orjson.dumps(body)
