"""The OpenAPI 3.1 document of every route, served at /openapi.json.

Each surface writes its paths next to the others (openapi_paths.py, openapi_account.py, ...)
and adds its function to PATH_SOURCES; tests/unit/test_openapi_routes.py fails while any
registered aiohttp route is missing here, or any documented one is not registered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from gateway.http.openapi.account import account_paths, admin_directory_paths
from gateway.http.openapi.billing import billing_paths
from gateway.http.openapi.dashboard import dashboard_paths
from gateway.http.openapi.llm import llm_paths
from gateway.http.openapi.metering import (
    SERVICE_KEY_SCHEME,
    metering_admin_paths,
    metering_paths,
)
from gateway.http.openapi.paths import admin_paths, ops_paths, proxy_paths
from gateway.http.openapi.schemas import SCHEMAS
from gateway.http.openapi.statements import statement_paths

PATH_SOURCES: list[Callable[[], dict[str, Any]]] = [
    proxy_paths,
    ops_paths,
    admin_paths,
    admin_directory_paths,
    account_paths,
    llm_paths,
    metering_paths,
    metering_admin_paths,
    dashboard_paths,
    billing_paths,
    statement_paths,
]
SECURITY_SCHEMES = {
    "apiKey": {"type": "http", "scheme": "bearer", "description": "an API key, mw-..."},
    "adminKey": {"type": "http", "scheme": "bearer", "description": "ADMIN_API_KEY"},
    "userToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "serviceKey": SERVICE_KEY_SCHEME,
    "dashboardSession": {"type": "apiKey", "in": "cookie", "name": "mw_session"},
}
DOCUMENT = web.AppKey("openapi", dict)


def build_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for source in PATH_SOURCES:
        for path, operations in source().items():
            paths.setdefault(path, {}).update(operations)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Meterway",
            "version": "1",
            "description": "A metering gateway for LLM traffic. Money is in integer USD micros.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": SCHEMAS, "securitySchemes": SECURITY_SCHEMES},
    }


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[DOCUMENT])


def add_routes(app: web.Application) -> None:
    app[DOCUMENT] = build_document()
    app.router.add_get("/openapi.json", openapi_json)
