"""A batch input file read and priced when it is uploaded: every line a request to one of
the metered routes, all for one model, each read as the route reads a call (a line the
route would refuse is refused here, naming its line). Each line's worst case at the batch
tier's rates, at its own long-context band (a batch's lines are requests of their own), is
summed into what its batch reserves.

The provider is sent what was priced: each line re-serialized from the object read (`emit`),
never the bytes uploaded, and a line with a key twice in one object (which parsers resolve
differently: the last one wins here, the first in others) is refused, naming the key and
the line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import orjson

from billing.metering.responses import usage_from_response
from billing.metering.tokens import TokenCounter
from billing.metering.usage import Usage
from billing.pricing import PricingTable
from billing.pricing.batches import BATCH_TIER
from gateway.errors import InvalidRequest, MeterwayError
from gateway.llm import endpoints
from gateway.llm.endpoint import Endpoint
from gateway.llm.reading.calls import Call, read_call
from gateway.stores.records import KeyRecord

BATCH_ROUTES: dict[str, Endpoint] = {
    "/v1/chat/completions": endpoints.CHAT,
    "/v1/completions": endpoints.COMPLETIONS,
    "/v1/embeddings": endpoints.EMBEDDINGS,
    "/v1/responses": endpoints.RESPONSES,
}
MAX_LINES = 50_000  # OpenAI's limit on one batch's requests


@dataclass(frozen=True, slots=True)
class BatchInput:
    endpoint: str
    model: str
    lines: int
    input_tokens: int
    output_tokens: int
    fees_micros: int
    worst_micros: int  # each line's worst case at batch rates (its own band, its fees), summed


def _refuse(number: int, why: str) -> InvalidRequest:
    return InvalidRequest(f"Line {number} of the batch file {why}", param="file")


class _Twice(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Twice(key)
        seen[key] = value
    return seen


def _duplicate_key(raw: bytes) -> str | None:
    """A key some object of the line has twice (None if none, or if only orjson reads it:
    nesting deeper than the stdlib's recursion allows is refused later, as a call's is)."""
    try:
        json.loads(raw, object_pairs_hook=_once)
    except _Twice as twice:
        return twice.key
    except (ValueError, RecursionError):
        return None
    return None


def _line(raw: bytes, number: int) -> tuple[str, dict[str, object], bytes]:
    """The line's route and body, and the line re-serialized from the object read."""
    try:
        item = orjson.loads(raw)
    except ValueError as exc:
        raise _refuse(number, "is not JSON.") from exc
    twice = _duplicate_key(raw)
    if twice is not None:
        raise InvalidRequest(
            f"The batch file has a duplicate key '{twice[:64]}' on line {number}.", param="file"
        )
    if not isinstance(item, dict) or not isinstance(item.get("body"), dict):
        raise _refuse(number, "must be an object with a 'body' object.")
    url = item.get("url")
    if item.get("method", "POST") != "POST" or not isinstance(url, str) or url not in BATCH_ROUTES:
        routes = ", ".join(BATCH_ROUTES)
        raise _refuse(number, f"must POST to one of {routes}.")
    if item["body"].get("stream"):
        raise _refuse(number, "asks to stream, which a batch cannot.")
    try:
        sent = orjson.dumps(item) + b"\n"
    except orjson.JSONEncodeError as exc:  # nested past orjson's 254 levels
        raise _refuse(number, "is nested too deeply.") from exc
    return url, item["body"], sent


def read_batch_input(
    lines: Iterable[bytes],
    key: KeyRecord,
    pricing: PricingTable,
    counter: TokenCounter,
    emit: Callable[[bytes], object] = lambda line: None,
) -> BatchInput:
    """Every line priced as its route prices a call; one model, one route, or a 400. Each
    line, re-serialized from what was read, is handed to `emit`: the file the provider gets."""
    url = model = ""
    count = tokens_in = tokens_out = fees = worst = 0
    key = replace(key, scopes=())  # the batch route's scope covers its lines' routes
    for number, raw in enumerate((r for r in lines if r.strip()), start=1):
        if number > MAX_LINES:
            raise _refuse(number, f"is past the {MAX_LINES} requests a batch may hold.")
        line_url, body, sent = _line(raw, number)
        try:
            call = read_call(
                BATCH_ROUTES[line_url], body, key, pricing, counter, explicit_cap=False
            )
        except MeterwayError as exc:
            raise _refuse(number, f"is refused: {exc.message}") from exc
        if (url, model) != (line_url, call.price.name) and count:
            raise _refuse(number, f"must call {url} with '{model}', as the lines before it.")
        url, model = line_url, call.price.name
        count += 1
        tokens_in += call.input_tokens
        tokens_out += call.max_output_tokens
        fees += call.fees_micros
        worst += line_worst(call)
        emit(sent)
    if not count:
        raise InvalidRequest("The batch file has no requests.", param="file")
    return BatchInput(url, model, count, tokens_in, tokens_out, fees, worst)


def line_worst(call: Call) -> int:
    """One line's worst case at the batch rates, at the band its own prompt reaches."""
    return call.fees_micros + call.price.worst_case_micros(
        call.input_tokens, call.max_output_tokens, BATCH_TIER, kinds=call.kinds
    )


def line_usage(body: dict[str, Any]) -> Usage | None:
    """The usage of one output line's response body, by what it is (a Responses API
    response, an embeddings list, a chat or text completion)."""
    if body.get("object") == "response":
        return usage_from_response(body)
    if body.get("object") == "list":
        return endpoints.embedding_usage(body)
    return endpoints.openai_usage(body)
