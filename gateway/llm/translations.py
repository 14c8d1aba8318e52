"""Which route's calls reach a provider of another wire, and as what: (the client's route,
the provider's configured wire) -> the translated endpoints for a JSON call and a stream."""

from __future__ import annotations

from gateway.llm import endpoints
from gateway.llm.endpoint import Endpoint

TRANSLATED: dict[tuple[str, str], tuple[Endpoint, Endpoint]] = {
    ("chat", "gemini"): (endpoints.CHAT_TO_GEMINI, endpoints.CHAT_TO_GEMINI_STREAM),
    ("chat", "vertex"): (endpoints.CHAT_TO_GEMINI, endpoints.CHAT_TO_GEMINI_STREAM),
    ("chat", "bedrock"): (endpoints.CHAT_TO_CONVERSE, endpoints.CHAT_TO_CONVERSE_STREAM),
}


def translated(endpoint: Endpoint, wire: str) -> tuple[Endpoint, Endpoint] | None:
    """The endpoints carrying `endpoint`'s calls (JSON, stream) to a provider of `wire`, if
    they translate; Azure's deployment routes do not."""
    if endpoint.path_model:
        return None
    return TRANSLATED.get((endpoint.name, wire))
