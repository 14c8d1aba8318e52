"""Sending a call to its provider: a JSON body re-serialized from what was priced, or a
multipart upload re-encoded from its spool."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.llm.http1 import Answer
from gateway.llm.reading.calls import Call, upstream_body
from gateway.llm.upstream import Upstream


async def send(upstream: Upstream, call: Call, incoming: Mapping[str, str]) -> Answer:
    """The open answer of `call` sent as priced (its model under its upstream id)."""
    provider, path = call.price.provider, call.endpoint.path
    if call.upload is not None:
        body = call.upload.encoded(call.price.upstream_model)
        return await upstream.upload(provider, path, incoming, body)
    return await upstream.post(
        provider, path, incoming, upstream_body(call), call.price.upstream_model
    )
