"""/docs/api: the OpenAPI document as a browsable page (Swagger UI 5, whose assets the
`swagger-ui-py` package ships: nothing from a CDN), under a strict CSP: the page loads only
its own scripts, and the one that starts Swagger UI is a file, not inline. The package's
Python is not imported; only its static files are read."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from aiohttp import web

from billing import authority
from gateway.errors import NotFound
from gateway.http.openapi.paths import operator as ops_doc
from gateway.http.page_headers import PAGE_HEADERS
from gateway.http.routing import Route, declare

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'"
)
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Meterway API</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="/docs/api/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/api/swagger-ui-bundle.js"></script>
<script src="/docs/api/start.js"></script></body></html>
"""
START = 'window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});\n'
ASSETS = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "text/javascript"}
SECURITY = {**PAGE_HEADERS, "Content-Security-Policy": CSP}


def _static() -> Path:
    spec = find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


STATIC = _static()


async def page(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html", headers=SECURITY)


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["asset"]
    if name == "start.js":
        return web.Response(text=START, content_type="text/javascript", headers=SECURITY)
    if name not in ASSETS:
        raise NotFound(f"No asset '{name}'.")
    body = (STATIC / name).read_bytes()
    return web.Response(body=body, content_type=ASSETS[name], headers=SECURITY)


def add_routes(app: web.Application) -> None:
    declare(
        app.router,
        Route("GET", "/docs/api", page, authority.PUBLIC, doc=ops_doc.PAGE),
        Route("GET", "/docs/api/{asset}", asset, authority.PUBLIC, doc=ops_doc.ASSET),
    )
