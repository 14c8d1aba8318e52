"""A route is one record, and a route without its action, or a changing one that does not say
what it audits, cannot be made; an app with a route added past the records cannot be built."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from billing.authority import KEYS_WRITE, PROXY, PUBLIC
from gateway.app import create_app
from gateway.http.route_actions import message_table, records, table
from gateway.http.routing import (
    MUTATING,
    Route,
    Undeclared,
    audits,
    check_declared,
    declare,
    declared,
    message_action,
    unaudited,
)
from tests.support.harness import gateway_settings


async def _ok(request: web.Request) -> web.Response:
    return web.Response()


DOC = {"summary": "a test route"}


def _app() -> web.Application:
    settings = gateway_settings("postgresql://nobody@127.0.0.1/none", "http://127.0.0.1:1", "p")
    return create_app(settings)


def test_a_route_without_an_action_cannot_be_made() -> None:
    loose: Any = None
    with pytest.raises(TypeError, match="action"):
        Route("GET", "/x", _ok, loose, doc=DOC)
    with pytest.raises(TypeError):
        Route("GET", "/x", _ok)  # type: ignore[call-arg]


def test_a_changing_route_says_what_it_audits() -> None:
    for method in sorted(MUTATING):
        with pytest.raises(TypeError, match="audits"):
            Route(method, "/x", _ok, KEYS_WRITE, doc=DOC)
    Route("POST", "/x", _ok, KEYS_WRITE, audits("key.create"), doc=DOC)
    Route("POST", "/x", _ok, PROXY, unaudited("a metered call"), doc=DOC)
    with pytest.raises(TypeError, match="no audit action"):
        audits("key.created")
    with pytest.raises(TypeError):
        audits()
    with pytest.raises(TypeError):
        unaudited("")


def test_a_route_without_its_openapi_operation_cannot_be_made() -> None:
    with pytest.raises(TypeError, match="OpenAPI"):
        Route("GET", "/x", _ok, PUBLIC)
    Route("*", "/{tail}", _ok, PUBLIC)  # a catch-all is not in the document
    Route("GET", "/x/{id}", _ok, PUBLIC, doc=lambda path: {"summary": path})


def test_a_message_without_an_action_cannot_be_declared() -> None:
    loose: Any = "chat"
    with pytest.raises(TypeError, match=r"message 'session\.update'"):
        Route("GET", "/ws", _ok, PROXY, doc=DOC, messages={"session.update": loose})


def test_an_app_with_a_route_added_past_the_records_is_refused() -> None:
    app = web.Application()
    declare(app.router, Route("GET", "/declared", _ok, PUBLIC, doc=DOC))
    check_declared(app)
    sub = web.Application()
    sub.router.add_post("/bare", _ok)
    app.add_subapp("/sub", sub)
    with pytest.raises(Undeclared, match="POST /sub/bare"):
        check_declared(app)


def test_a_route_is_declared_once() -> None:
    app = web.Application()
    declare(app.router, Route("GET", "/a", _ok, PUBLIC, doc=DOC))
    with pytest.raises(RuntimeError, match="twice"):
        declare(app.router, Route("GET", "/a", _ok, PUBLIC, doc=DOC))


def test_a_get_answers_head_with_the_same_record() -> None:
    app = web.Application()
    declare(app.router, Route("GET", "/a", _ok, PUBLIC, doc=DOC))
    [resource] = app.router.resources()
    assert sorted(r.method for r in resource) == ["GET", "HEAD"]
    assert [(path, r.action) for path, r in declared(app)] == [("/a", PUBLIC)]


def test_the_app_is_built_from_records_only_and_every_change_says_what_it_audits() -> None:
    found = records(_app())
    assert len(found) > 200 and table(_app()).keys() == found.keys()
    for (method, path), route in found.items():
        if method in MUTATING:
            assert route.audit is not None, (method, path)


async def test_a_handler_reads_each_messages_action_off_its_record() -> None:
    seen: dict[str, object] = {}

    async def ws(request: web.Request) -> web.Response:
        seen["a.b"], seen["x.y"] = message_action(request, "a.b"), message_action(request, "x.y")
        return web.Response()

    app = web.Application()
    declare(app.router, Route("GET", "/ws", ws, PROXY, doc=DOC, messages={"a.b": KEYS_WRITE}))
    request = make_mocked_request("GET", "/ws", app=app)
    match = await app.router.resolve(request)
    match.add_app(app)
    request._match_info = match
    await ws(request)
    assert seen == {"a.b": KEYS_WRITE, "x.y": None}


def test_messages_a_route_declares_are_rows_of_the_table() -> None:
    app = web.Application()
    declare(app.router, Route("GET", "/ws", _ok, PROXY, doc=DOC, messages={"a.b": KEYS_WRITE}))
    assert message_table(app) == {("GET", "/ws", "a.b"): KEYS_WRITE}
