"""/openapi.json documents every route and nothing else.

A new route fails here until its surface adds it to the document (gateway/http/openapi/document.py
says where): that is how the document stays whole while many hands add routes.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.web_urldispatcher import PrefixedSubAppResource

from gateway.app import create_app
from gateway.http.openapi.document import build_document
from gateway.settings import load_settings

ENV = {
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/unused",
    "ADMIN_API_KEY": "a-secret-of-enough-length",
    "JWT_SECRET": "s" * 40,
    "JWT_AUDIENCE": "a",
    "JWT_ISSUER": "i",
}
METHODS = {"get", "put", "post", "delete", "patch"}


def registered(app: web.Application) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for resource in app.router.resources():
        if isinstance(resource, PrefixedSubAppResource):
            found |= registered(resource._app)
            continue
        for route in resource:
            if route.method.lower() in METHODS:
                found.add((route.method.lower(), resource.canonical))
    return found


def documented() -> set[tuple[str, str]]:
    doc = build_document()
    return {(m, path) for path, ops in doc["paths"].items() for m in ops if m in METHODS}


def test_every_route_is_documented_and_every_documented_route_exists() -> None:
    routes = registered(create_app(load_settings(ENV)))
    docs = documented()
    assert routes - docs == set(), "routes missing from /openapi.json"
    assert docs - routes == set(), "documented routes that do not exist"


def test_the_document_is_openapi_3_1_with_the_error_body_on_every_operation() -> None:
    doc = build_document()
    assert doc["openapi"] == "3.1.0"
    assert doc["components"]["schemas"]["Error"]["required"] == ["error"]
    for path, ops in doc["paths"].items():
        for method, operation in ops.items():
            if path != "/metrics":
                assert operation["responses"]["default"]["content"], (method, path)
            for param in operation.get("parameters", []):
                if param["in"] == "path":
                    assert "{" + param["name"] + "}" in path
