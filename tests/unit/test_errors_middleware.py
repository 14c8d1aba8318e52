"""The error middleware: a client that hangs up mid-request is not a gateway failure.

With handler cancellation on, a lost connection usually cancels the handler; under load the
handler's read can instead wake first with the ConnectionResetError aiohttp set on the
payload (seen in the benchmark's wrk shutdown as 'unhandled error' tracebacks)."""

from __future__ import annotations

import json
import logging

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from aiohttp.web_urldispatcher import UrlMappingMatchInfo

from gateway.http.middleware import gateway_middleware


async def _unused(request: web.Request) -> web.StreamResponse:
    raise AssertionError("the middleware under test is given its own handler")


def _request() -> web.Request:
    """A request matched to a real route: the compiled build reads the route's name as the
    str aiohttp gives, where make_mocked_request's own match would be a Mock."""
    route = web.UrlDispatcher().add_post("/v1/chat/completions", _unused)
    request = make_mocked_request("POST", "/v1/chat/completions")
    request._match_info = UrlMappingMatchInfo({}, route)  # its own holds a Mock route
    return request


async def test_a_connection_reset_is_logged_as_the_client_leaving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise ConnectionResetError("Connection lost")

    request = _request()
    with caplog.at_level(logging.INFO, logger="meterway"):
        answer = await gateway_middleware(request, handler)
    assert isinstance(answer, web.Response) and answer.status == 400
    assert answer.text is not None
    assert json.loads(answer.text)["error"]["type"] == "invalid_request_error"
    assert [r.levelno for r in caplog.records if r.name == "meterway"] == [logging.INFO]
    assert "client left" in caplog.records[-1].getMessage()


async def test_any_other_exception_is_still_an_internal_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise KeyError("bug")

    request = _request()
    with caplog.at_level(logging.INFO, logger="meterway"):
        answer = await gateway_middleware(request, handler)
    assert answer.status == 500
    assert [r.levelno for r in caplog.records if r.name == "meterway"] == [logging.ERROR]


async def test_a_provider_socket_reset_is_not_blamed_on_the_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise aiohttp.ClientConnectionResetError("provider reset")

    request = _request()
    with caplog.at_level(logging.INFO, logger="meterway"):
        answer = await gateway_middleware(request, handler)
    assert answer.status == 500
    assert [r.levelno for r in caplog.records if r.name == "meterway"] == [logging.ERROR]
