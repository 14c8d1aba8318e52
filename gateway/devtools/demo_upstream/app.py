"""The demo upstream's composition root: routes, the one middleware, and a runner helper.

Serves OpenAI's and Anthropic's wire formats side by side under /v1, Azure OpenAI's under
/openai, Google's (Gemini API, Vertex AI) and Bedrock's InvokeModel, so one fake process
stands in for them in `meterway dev` and the e2e tests.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import TracebackType

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.devtools.demo_upstream import admin_reports
from gateway.devtools.demo_upstream.calls import CONTROL, ProviderError, open_call, parse_body
from gateway.devtools.demo_upstream.control import RecordedRequest, UpstreamControl
from gateway.devtools.demo_upstream.forms import is_form, parse_form
from gateway.devtools.demo_upstream.routes import anthropic as anthropic_routes
from gateway.devtools.demo_upstream.routes import audio as audio_routes
from gateway.devtools.demo_upstream.routes import azure as azure_routes
from gateway.devtools.demo_upstream.routes import batch as batch_routes
from gateway.devtools.demo_upstream.routes import bedrock as bedrock_routes
from gateway.devtools.demo_upstream.routes import gemini as gemini_routes
from gateway.devtools.demo_upstream.routes import media as media_routes
from gateway.devtools.demo_upstream.routes import openai as openai_routes
from gateway.devtools.demo_upstream.routes import responses as responses_routes
from gateway.devtools.demo_upstream.routes import vertex_claude as vertex_claude_routes
from gateway.devtools.demo_upstream.wires import anthropic as anthropic_wire
from gateway.devtools.demo_upstream.wires import openai as openai_wire

DEMO_MODELS = (
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-3.5-turbo-instruct",
    "text-embedding-3-small",
    "claude-haiku-4-5",
    "claude-sonnet-4-6",
)


MAX_BODY_BYTES = 80 * 1024 * 1024  # MAX_UPLOAD_BYTES' default, and its multipart framing


async def _record(request: web.Request, control: UpstreamControl) -> None:
    raw = await request.read() if request.can_read_body else b""
    form = (
        parse_form(request.headers["content-type"], raw)
        if raw and is_form(request.content_type)
        else None
    )
    body = form if form is not None else (parse_body(raw) if raw else None)
    headers = {name.lower(): value for name, value in request.headers.items()}
    control.record(
        RecordedRequest(
            request.method,
            request.path,
            headers,
            body,
            query=request.query_string,
            raw_path=request.raw_path,
            raw=raw,
        )
    )


@web.middleware
async def _provider_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record every request, render `ProviderError`s, count clients that hung up."""
    control = request.app[CONTROL]
    await _record(request, control)
    try:
        return await handler(request)
    except ProviderError as exc:
        return web.json_response(exc.body, status=exc.status, headers=exc.headers)
    except asyncio.CancelledError:
        control.note_cancelled()
        raise


async def list_models(request: web.Request) -> web.StreamResponse:
    """GET /v1/models in Anthropic's shape when the caller is the Anthropic SDK, else OpenAI's."""
    anthropic = "anthropic-version" in request.headers
    errors = anthropic_wire.error_body if anthropic else openai_wire.error_body
    call = await open_call(request, errors, body_required=False)
    call.finished()
    page = anthropic_wire.models(DEMO_MODELS) if anthropic else openai_wire.models(DEMO_MODELS)
    return web.json_response(page)


def create_upstream_app(control: UpstreamControl | None = None) -> web.Application:
    """The fake provider app; pass a `control` to steer it and read what it saw."""
    # Providers take prompts of a million tokens and more: no 1 MiB cap as aiohttp's default.
    app = web.Application(middlewares=[_provider_middleware], client_max_size=MAX_BODY_BYTES)
    app[CONTROL] = control if control is not None else UpstreamControl()
    app.router.add_post("/v1/chat/completions", openai_routes.chat_completions)
    app.router.add_post("/v1/completions", openai_routes.completions)
    app.router.add_post("/v1/embeddings", openai_routes.embeddings)
    app.router.add_get("/v1/models", list_models)
    app.router.add_post("/v1/messages", anthropic_routes.messages)
    app.router.add_post("/v1/messages/count_tokens", anthropic_routes.count_tokens)
    responses_routes.add_routes(app)
    media_routes.add_routes(app)
    azure_routes.add_routes(app)
    audio_routes.add_routes(app)
    batch_routes.add_routes(app)
    gemini_routes.add_routes(app)
    bedrock_routes.add_routes(app)
    vertex_claude_routes.add_routes(app)
    admin_reports.add_routes(app)
    return app


@dataclass(frozen=True, slots=True)
class RunningUpstream:
    """A started demo upstream: where it listens, its control, and how to stop it."""

    url: str
    control: UpstreamControl
    runner: web.AppRunner

    async def close(self) -> None:
        """Stop listening and finish open connections."""
        await self.runner.cleanup()

    async def __aenter__(self) -> RunningUpstream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def start_upstream(
    host: str = "127.0.0.1", port: int = 0, control: UpstreamControl | None = None
) -> RunningUpstream:
    """Serve the fake on `host:port` (0 picks a free port) and report the real address.

    Handler cancellation is on so a client hanging up cancels its stream at once, which is
    what lets tests see the gateway abandon upstream work promptly.
    """
    control = control if control is not None else UpstreamControl()
    runner = web.AppRunner(create_upstream_app(control), handler_cancellation=True)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, backlog=4096).start()  # as the gateway's
        bound_port = int(runner.addresses[0][1])
    except BaseException:
        await runner.cleanup()
        raise
    return RunningUpstream(_url(host, bound_port), control, runner)
