# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Request readers: validate a body and size its worst case, one function per wire shape.

Each reads only what its API defines and raises `InvalidRequest` naming the field; the token
counts are the upper bound the reservation is built on.
"""

from __future__ import annotations

import json
from typing import Any

from billing.metering.tokens import TokenCounter
from billing.pricing import ModelPrice
from gateway.errors import InvalidRequest
from gateway.llm.endpoint import Body, Sizing
from gateway.llm.reading.options import fee_item

COMPLETIONS_DEFAULT_MAX = 16  # the legacy API's documented default
# Request fields besides the messages that the provider counts as prompt tokens.
PROMPT_FIELDS = ("tools", "functions", "tool_choice", "function_call", "response_format")


def positive_int(body: Body, name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest(f"'{name}' must be a positive integer.", param=name)
    return value


def max_output(
    body: Body, price: ModelPrice, names: tuple[str, ...]
) -> tuple[int | None, str | None]:
    """The first of `names` present, checked against the model's cap; (None, None) if absent.

    Two fields that disagree are refused: the provider might honour either. Each is checked
    for its type first: a list or an object is a 400, not a failed comparison."""
    values = {name: positive_int(body, name) for name in names}
    given = {v for v in values.values() if v is not None}
    if len(given) > 1:
        raise InvalidRequest(
            f"{' and '.join(repr(n) for n in names)} disagree; send one of them.",
            param="max_tokens",
        )
    for name in names:
        value = values[name]
        if value is not None:
            if price.max_output_tokens and value > price.max_output_tokens:
                raise InvalidRequest(
                    f"'{name}' is {value}, above {price.name}'s limit of "
                    f"{price.max_output_tokens}.",
                    param=name,
                )
            return value, name
    return None, None


def output_bound(out: int | None, price: ModelPrice) -> int:
    """The request's own output cap, else the model's; 0 when neither is known, and
    `read_call` then sends the gateway's default as an explicit cap (llm/output_default.py)."""
    return out or price.max_output_tokens


def tools_tokens(body: Body, enc: str, counter: TokenCounter) -> int:
    """Tools, legacy `functions`, tool choice and response schemas are prompt tokens too."""
    parts = [body[name] for name in PROMPT_FIELDS if body.get(name)]
    return counter.count_text(enc, json.dumps(parts, ensure_ascii=False)) if parts else 0


def _messages(body: Body) -> list[Any]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array.", param="messages")
    return messages


def read_chat(body: Body, price: ModelPrice, counter: TokenCounter) -> Sizing:
    out, field = max_output(body, price, ("max_completion_tokens", "max_tokens"))
    choices = positive_int(body, "n") or 1
    messages = _messages(body)
    if not all(isinstance(m, dict) for m in messages):
        raise InvalidRequest("Each message must be an object.", param="messages")
    enc = price.encoding
    prompt = counter.count_chat_prompt(enc, messages, price.image_max_tokens)
    tokens = prompt + tools_tokens(body, enc, counter)
    return Sizing(tokens, output_bound(out, price), field, choices)


def _completion_choices(body: Body) -> int:
    """`n` (or `best_of`) completions per prompt, for each prompt of a batch."""
    per_prompt = max(positive_int(body, "n") or 1, positive_int(body, "best_of") or 1)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and prompt and not isinstance(prompt[0], int):
        return per_prompt * len(prompt)
    return per_prompt


def read_completion(body: Body, price: ModelPrice, counter: TokenCounter) -> Sizing:
    out, field = max_output(body, price, ("max_completion_tokens", "max_tokens"))
    choices = _completion_choices(body)
    prompt = body.get("prompt")
    if not isinstance(prompt, str | list):
        raise InvalidRequest("'prompt' must be a string or an array.", param="prompt")
    tokens = counter.count_completion_prompt(price.encoding, prompt)
    return Sizing(tokens, out or COMPLETIONS_DEFAULT_MAX, field, choices)


def read_embedding(body: Body, price: ModelPrice, counter: TokenCounter) -> Sizing:
    data = body.get("input")
    if not isinstance(data, str | list) or not data:
        raise InvalidRequest("'input' must be a non-empty string or array.", param="input")
    return Sizing(counter.count_embedding_input(price.encoding, data), 0)


def read_messages(body: Body, price: ModelPrice, counter: TokenCounter) -> Sizing:
    out, field = max_output(body, price, ("max_completion_tokens", "max_tokens"))
    if out is None:
        raise InvalidRequest("'max_tokens' is required.", param="max_tokens")
    messages = _messages(body)
    enc = price.encoding
    tokens = counter.count_anthropic_prompt(enc, body.get("system"), messages)
    fees = _server_tool_fees(body, price)
    return Sizing(tokens + tools_tokens(body, enc, counter), out, field, fees_micros=fees)


def _responses_fees(body: Body, price: ModelPrice) -> int:
    """One run of each declared fee tool, or `max_tool_calls` runs when the client caps it."""
    tools = body.get("tools")
    if not isinstance(tools, list):
        return 0
    runs = positive_int(body, "max_tool_calls") or 1
    items = [item for item in map(fee_item, tools) if item]
    return price.fees_micros(tuple((item, runs) for item in items))


def _server_tool_fees(body: Body, price: ModelPrice) -> int:
    """Anthropic's server tools with a fee: `max_uses` runs of each, else one."""
    tools = body.get("tools")
    runs = []
    for tool in tools if isinstance(tools, list) else ():
        item = fee_item(tool)
        if item is not None:
            uses = tool.get("max_uses")
            count = uses if isinstance(uses, int) and not isinstance(uses, bool) and uses > 0 else 1
            runs.append((item, count))
    return price.fees_micros(tuple(runs)) if runs else 0


def _responses_items(body: Body) -> list[dict[str, Any]]:
    """Instructions and input as chat-like messages, so the chat counter sizes them."""
    data = body.get("input")
    if data is None and not (body.get("prompt") or body.get("previous_response_id")):
        raise InvalidRequest("'input' is required.", param="input")
    if data is not None and not isinstance(data, str | list):
        raise InvalidRequest("'input' must be a string or an array of items.", param="input")
    items: list[dict[str, Any]] = []
    if isinstance(body.get("instructions"), str):
        items.append({"role": "system", "content": body["instructions"]})
    if isinstance(data, str):
        items.append({"role": "user", "content": data})
    elif isinstance(data, list):
        items += [i if isinstance(i, dict) else {"content": str(i)} for i in data]
    return items


def read_responses(body: Body, price: ModelPrice, counter: TokenCounter) -> Sizing:
    """Input (string or items), instructions and tools at the dearest input rate, plus
    `max_output_tokens` or the model's cap. A `previous_response_id`'s history is not
    visible here; the debit still bills it from the provider's usage."""
    out, field = max_output(body, price, ("max_output_tokens",))
    enc = price.encoding
    tokens = counter.count_chat_prompt(enc, _responses_items(body))
    tier = body.get("service_tier")
    return Sizing(
        tokens + tools_tokens(body, enc, counter),
        output_bound(out, price),
        field,
        service_tier=tier if isinstance(tier, str) else "",
        fees_micros=_responses_fees(body, price),
    )
