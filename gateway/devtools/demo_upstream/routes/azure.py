"""Azure OpenAI's routes: OpenAI's bodies under `/openai`, authenticated by `api-key` (or an
Entra bearer token), the dated API's deployments in the path with a required `api-version`,
the v1 API's model in the body.

Azure answers a dated call without `api-version` 404 and one without credentials 401, in
its own error shape; the fake does the same, so a gateway sending either wrong fails here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.devtools.demo_upstream.calls import ProviderError
from gateway.devtools.demo_upstream.routes import openai as openai_routes
from gateway.devtools.demo_upstream.routes import responses as responses_routes

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _azure_error(status: int, code: str, message: str) -> ProviderError:
    return ProviderError(status, {"error": {"code": code, "message": message}})


def _checked(handler: Handler, dated: bool) -> Handler:
    async def route(request: web.Request) -> web.StreamResponse:
        bearer = request.headers.get("authorization", "").startswith("Bearer ")
        if not request.headers.get("api-key") and not bearer:
            raise _azure_error(401, "401", "Access denied due to missing subscription key.")
        if dated and not request.query.get("api-version"):
            raise _azure_error(404, "404", "Resource not found")
        return await handler(request)

    return route


def add_routes(app: web.Application) -> None:
    routes: tuple[tuple[str, Handler], ...] = (
        ("chat/completions", openai_routes.chat_completions),
        ("completions", openai_routes.completions),
        ("embeddings", openai_routes.embeddings),
    )
    for name, handler in routes:
        app.router.add_post(f"/openai/deployments/{{deployment}}/{name}", _checked(handler, True))
        app.router.add_post(f"/openai/v1/{name}", _checked(handler, False))
    responses = responses_routes.create
    app.router.add_post("/openai/responses", _checked(responses, True))
    app.router.add_post("/openai/v1/responses", _checked(responses, False))
