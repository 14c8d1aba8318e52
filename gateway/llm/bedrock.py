"""AWS Bedrock: Anthropic models by InvokeModel, signed with SigV4 by botocore's signer.

A Messages call keeps Anthropic's body, less `model` and `stream` (the model id and
streaming are in the path: `/model/{id}/invoke` or `/invoke-with-response-stream`), plus
`anthropic_version`; the answer is Anthropic's JSON. A stream comes back in AWS's binary
event-stream framing, each `chunk` event carrying one Anthropic stream event base64-encoded
in `bytes`: `EventStreamToSSE` reads it with botocore's own decoder (its CRCs checked) and
hands the relay Anthropic's SSE events, so metering and relaying are Anthropic's. An
exception message ends the stream with Anthropic's error event.

Credentials come from botocore's standard chain (environment, shared files, SSO, the
instance or task role), resolved once at start-up and refreshed by botocore when they are
temporary; every request is signed with the credentials of that moment.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import orjson

from gateway.llm.sse import SSEEvent

# botocore is imported when a Bedrock provider is configured, not by every process: its
# few hundred modules would load into a gateway that never signs a request.

ANTHROPIC_VERSION = "bedrock-2023-05-31"
SERVICE = "bedrock"


def credentials() -> Any:
    """The standard chain's credentials (botocore's), None when it finds none."""
    from botocore.session import get_session

    return get_session().get_credentials()


def invoke_body(body: bytes, betas: str | None = None) -> tuple[bytes, bool]:
    """Anthropic's Messages body as InvokeModel takes it, and whether it streams; the
    `anthropic-beta` header's betas (checked by price effect first) go in the body, where
    Bedrock reads them."""
    doc = orjson.loads(body)
    stream = doc.pop("stream", False) is True
    doc.pop("model", None)
    doc["anthropic_version"] = ANTHROPIC_VERSION
    names = [b.strip() for b in (betas or "").split(",") if b.strip()]
    if names:
        doc["anthropic_beta"] = names
    return orjson.dumps(doc), stream


def converse_path(model: str, path: str) -> str:
    """Where a Converse call (`path` "/converse" or "/converse-stream") of `model` goes."""
    return f"/model/{quote(model, safe='')}{path}"


def invoke_path(model: str, stream: bool) -> str:
    action = "invoke-with-response-stream" if stream else "invoke"
    return f"/model/{quote(model, safe='')}/{action}"


def signed_headers(url: str, body: bytes, region: str, creds: Any) -> dict[str, str]:
    """The headers of a POST of `body` to `url`, SigV4-signed for Bedrock in `region`."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    accept = (
        "application/vnd.amazon.eventstream" if "response-stream" in url else "application/json"
    )
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={"content-type": "application/json", "accept": accept},
    )
    SigV4Auth(creds.get_frozen_credentials(), SERVICE, region).add_auth(request)
    return {name.lower(): str(value) for name, value in request.headers.items()}


def _sse(name: str, payload: bytes) -> SSEEvent:
    raw = b"event: " + name.encode() + b"\ndata: " + payload + b"\n\n"
    return SSEEvent(raw, name, payload.decode())


def _error(message: str) -> SSEEvent:
    body = {"type": "error", "error": {"type": "api_error", "message": message}}
    return _sse("error", orjson.dumps(body))


class EventStreamToSSE:
    """Feed it the event-stream bytes as they arrive; it returns Anthropic's SSE events.

    Has the SSEParser's surface the relay uses (`feed`, `flush`, `pending_bytes`)."""

    def __init__(self) -> None:
        from botocore.eventstream import EventStreamBuffer, ParserError

        self.buffer = EventStreamBuffer()
        # botocore's CRC and length errors, and what a bad payload raises here
        self.bad: tuple[type[Exception], ...] = (
            ParserError,
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
        )
        self.pending_bytes = 0
        self.broken = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self.broken:
            return []
        self.buffer.add_data(chunk)
        self.pending_bytes += len(chunk)
        events: list[SSEEvent] = []
        try:
            for message in self.buffer:
                self.pending_bytes = 0
                events.append(self._event(message.headers, message.payload))
        except self.bad:
            self.broken = True
            events.append(SSEEvent(b"data: {\n\n", None, "{"))  # malformed: the relay fails it
        return events

    def flush(self) -> list[SSEEvent]:
        """Bytes left over at the end are a cut message."""
        return [SSEEvent(b"", None, "{")] if self.pending_bytes and not self.broken else []

    def _event(self, headers: dict[str, Any], payload: bytes) -> SSEEvent:
        if headers.get(":message-type") != "event":
            kind = headers.get(":exception-type") or headers.get(":error-code") or "exception"
            try:
                message = orjson.loads(payload).get("message", "")
            except (ValueError, AttributeError):
                message = ""
            return _error(f"Bedrock {kind}: {message}".strip())
        kind = headers.get(":event-type")
        if kind != "chunk":  # ConverseStream: the event itself, named by its type
            return _sse(str(kind), payload)
        data = base64.b64decode(orjson.loads(payload)["bytes"])
        name = orjson.loads(data).get("type", "message")
        return _sse(str(name), data)
