"""Reading a provider's answer as a hostile provider could write it.

A 3xx is never followed (the operator's key would go with it): 502. Error bodies are read up
to a cap and scrubbed (llm/scrub.py's `for_client`) of credentials, org/project ids, echoed
headers, secret-named query values and URLs on internal hosts or the operator's upstreams
before a client sees them. A JSON
answer is read up to MAX_UPSTREAM_BODY_BYTES, with UPSTREAM_IDLE_TIMEOUT_S between chunks.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from gateway.config.settings import Settings
from gateway.errors import MeterwayError, UpstreamError, UpstreamTimeout
from gateway.http.appkeys import SETTINGS
from gateway.http.headers import provider_error_headers
from gateway.llm.bounded import TooLarge, read_capped
from gateway.llm.http1 import Answer
from gateway.llm.providers import own_keys
from gateway.llm.scrub import operator_scrubber
from gateway.scrubbing import redact

UPSTREAM_FAILURES = (aiohttp.ClientError, TimeoutError)
CLIENT_ERRORS = frozenset({400, 404, 409, 413, 422, 429})
MAX_ERROR_BODY_BYTES = 16 * 1024


async def error_text(request: web.Request, resp: Answer) -> str:
    """The provider's error body, at most MAX_ERROR_BODY_BYTES, with secrets scrubbed."""
    settings = request.app[SETTINGS]
    try:
        raw = await read_capped(resp, MAX_ERROR_BODY_BYTES, settings.upstream_idle_timeout_s)
    except TooLarge as exc:
        raw = exc.head
    except UPSTREAM_FAILURES:
        raw = b""
    text = raw.decode("utf-8", "replace")
    return operator_scrubber(settings).text(redact(text, own_keys()))


def scrubbed_error(request: web.Request, raw: bytes) -> bytes:
    """An error body read whole by another route (responses, batches, token counts), as
    `error_text` would pass it to a client."""
    settings = request.config_dict[SETTINGS]
    text = raw[:MAX_ERROR_BODY_BYTES].decode("utf-8", "replace")
    return operator_scrubber(settings).text(redact(text, own_keys())).encode()


def scrubbed_event(settings: Settings, raw: bytes) -> bytes:
    """An error event inside a 200 stream, as `error_text` would pass the body of an error
    status (the replacements add no line break, quote or backslash: the event stays one
    well-formed SSE event of valid JSON)."""
    text = raw.decode("utf-8", "replace")
    return operator_scrubber(settings).text(redact(text, own_keys())).encode()


def upstream_failure(status: int, text: str) -> MeterwayError:
    return UpstreamError(
        f"The provider answered {status}; nothing was billed.",
        extra={"upstream_status": status, "upstream_body": text},
    )


async def refused(request: web.Request, resp: Answer, headers: dict[str, str]) -> web.Response:
    """A provider status that is not success: a redirect or a server error raises (502); a
    4xx about the request itself is passed through, scrubbed, with the provider's back-off
    headers. Nothing is billed either way."""
    if resp.status < 400:
        raise UpstreamError(
            f"The provider answered {resp.status} (a redirect, not followed); nothing was billed.",
            extra={"upstream_status": resp.status},
        )
    text = await error_text(request, resp)
    if resp.status not in CLIENT_ERRORS:
        raise upstream_failure(resp.status, text)
    return web.Response(
        status=resp.status,
        text=text,
        headers={
            **provider_error_headers(headers, resp.headers),
            "content-type": resp.headers.get("content-type", "application/json"),
            "x-meterway-cost-micros": "0",
        },
    )


async def read_answer(settings: Settings, resp: Answer) -> bytes:
    """A complete JSON answer, capped at MAX_UPSTREAM_BODY_BYTES (502 beyond: nothing was
    delivered, so nothing is billed) and idle-bounded between chunks (504)."""
    try:
        return await read_capped(
            resp, settings.max_upstream_body_bytes, settings.upstream_idle_timeout_s
        )
    except TooLarge as exc:
        raise UpstreamError(
            "The provider's answer was larger than this gateway accepts; nothing was billed."
        ) from exc
    except TimeoutError as exc:
        raise UpstreamTimeout("The provider stalled mid-answer; nothing was billed.") from exc
    except aiohttp.ClientError as exc:
        raise UpstreamError("The provider's answer was cut off; nothing was billed.") from exc
