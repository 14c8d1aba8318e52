"""What every route does before it answers: pick the behaviour, parse the body, misbehave.

Errors leave as `ProviderError`, which carries the body already in the provider's own
format; the app's one middleware renders it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.devtools.demo_upstream.control import (
    BEHAVIOUR_HEADER,
    JSON,
    Behaviour,
    UpstreamControl,
    behaviour_from_header,
)
from gateway.devtools.demo_upstream.forms import is_form, parse_form
from gateway.devtools.demo_upstream.text import Reply, demo_reply, plan_reply

CONTROL = web.AppKey("demo_upstream_control", UpstreamControl)
ErrorFormat = Callable[[int, str], JSON]


class ProviderError(Exception):
    """An HTTP error response, body already shaped like the provider's."""

    def __init__(self, status: int, body: JSON, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class Call:
    """One request being answered: its body, its behaviour, and the shared control."""

    body: JSON
    behaviour: Behaviour
    control: UpstreamControl

    def reply(self, prompt: str, user_text: str, max_tokens: int | None) -> Reply:
        """The override text or the demo echo, cut to the budget and counted."""
        text = self.behaviour.reply_text
        if text is None:
            text = demo_reply(user_text)
        return plan_reply(prompt, text, max_tokens, self.control.counter)

    def finished(self) -> None:
        """Count a response delivered in full."""
        self.control.note_completed()


def parse_body(raw: bytes) -> Any:
    """The JSON body, None when empty, or the raw text when it is not JSON."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def _behaviour(request: web.Request, control: UpstreamControl, errors: ErrorFormat) -> Behaviour:
    try:
        header = request.headers.get(BEHAVIOUR_HEADER)
        return behaviour_from_header(control.next_behaviour(), header)
    except ValueError as exc:
        raise ProviderError(400, errors(400, str(exc))) from exc


async def _body(request: web.Request, errors: ErrorFormat, required: bool) -> JSON:
    raw = await request.read()
    if is_form(request.content_type):
        form = parse_form(request.headers["content-type"], raw)
        if form is None:
            raise ProviderError(400, errors(400, "Could not parse multipart form"))
        return form
    body = parse_body(raw)
    if body is None and not required:
        return {}
    if not isinstance(body, dict):
        raise ProviderError(400, errors(400, "The request body must be a JSON object."))
    return body


async def open_call(request: web.Request, errors: ErrorFormat, body_required: bool = True) -> Call:
    """Resolve the behaviour, validate the body, then apply the delay and any injected status."""
    control = request.app[CONTROL]
    behaviour = _behaviour(request, control, errors)
    body = await _body(request, errors, body_required)
    if behaviour.delay_s > 0:
        await asyncio.sleep(behaviour.delay_s)
    if behaviour.status is not None:
        status = behaviour.status
        message = f"Injected error {status} from the Meterway demo upstream."
        body = behaviour.error_body or errors(status, message)
        raise ProviderError(status, body, behaviour.error_headers)
    return Call(body, behaviour, control)


def model_of(call: Call, errors: ErrorFormat) -> str:
    """The requested model name, which every generation route requires."""
    model = call.body.get("model")
    if not isinstance(model, str) or not model:
        raise ProviderError(400, errors(400, "you must provide a model parameter"))
    return model
