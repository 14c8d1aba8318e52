"""Anthropic's models on Vertex AI: a Messages call as Vertex's `rawPredict` takes it.

The body is Anthropic's less `model` (named in the path) plus `anthropic_version`
("vertex-2023-10-16"); a stream goes to `:streamRawPredict` keeping `"stream": true`, and
comes back as Anthropic's own SSE, so metering and relaying are Anthropic's. The access
token goes as a bearer token; `anthropic-beta` is forwarded as the header Vertex reads.
"""

from __future__ import annotations

from urllib.parse import quote

import orjson

ANTHROPIC_VERSION = "vertex-2023-10-16"


def raw_predict(body: bytes, model: str) -> tuple[str, bytes]:
    """The path under the provider's base URL (…/publishers/anthropic) and the body."""
    doc = orjson.loads(body)
    doc.pop("model", None)
    doc["anthropic_version"] = ANTHROPIC_VERSION
    method = "streamRawPredict" if doc.get("stream") is True else "rawPredict"
    return f"/models/{quote(model, safe='')}:{method}", orjson.dumps(doc)
