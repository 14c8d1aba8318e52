"""A batch input file read and priced when it is uploaded: every line a request to one of
the metered routes, all for one model, each read as the route reads a call (a line the
route would refuse is refused here, naming its line), summed into the worst case its batch
reserves at the batch tier's rates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import orjson

from billing.pricing import PricingTable
from billing.responses import usage_from_response
from billing.tokens import TokenCounter
from billing.usage import Usage
from gateway.errors import InvalidRequest, MeterwayError
from gateway.llm import endpoints
from gateway.llm.calls import read_call
from gateway.llm.endpoint import Endpoint
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


def _refuse(number: int, why: str) -> InvalidRequest:
    return InvalidRequest(f"Line {number} of the batch file {why}", param="file")


def _line(raw: bytes, number: int) -> tuple[str, dict[str, object]]:
    try:
        item = orjson.loads(raw)
    except ValueError as exc:
        raise _refuse(number, "is not JSON.") from exc
    if not isinstance(item, dict) or not isinstance(item.get("body"), dict):
        raise _refuse(number, "must be an object with a 'body' object.")
    url = item.get("url")
    if item.get("method", "POST") != "POST" or not isinstance(url, str) or url not in BATCH_ROUTES:
        routes = ", ".join(BATCH_ROUTES)
        raise _refuse(number, f"must POST to one of {routes}.")
    if item["body"].get("stream"):
        raise _refuse(number, "asks to stream, which a batch cannot.")
    return url, item["body"]


def read_batch_input(
    lines: Iterable[bytes], key: KeyRecord, pricing: PricingTable, counter: TokenCounter
) -> BatchInput:
    """Every line priced as its route prices a call; one model, one route, or a 400."""
    url = model = ""
    count = tokens_in = tokens_out = fees = 0
    key = replace(key, scopes=())  # the batch route's scope covers its lines' routes
    for number, raw in enumerate((r for r in lines if r.strip()), start=1):
        if number > MAX_LINES:
            raise _refuse(number, f"is past the {MAX_LINES} requests a batch may hold.")
        line_url, body = _line(raw, number)
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
    if not count:
        raise InvalidRequest("The batch file has no requests.", param="file")
    return BatchInput(url, model, count, tokens_in, tokens_out, fees)


def line_usage(body: dict[str, Any]) -> Usage | None:
    """The usage of one output line's response body, by what it is (a Responses API
    response, an embeddings list, a chat or text completion)."""
    if body.get("object") == "response":
        return usage_from_response(body)
    if body.get("object") == "list":
        return endpoints.embedding_usage(body)
    return endpoints.openai_usage(body)
