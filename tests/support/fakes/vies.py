"""VIES's REST interface (the EU's register of VAT numbers) from a local server: VIES_URL's
peer. `POST /check-vat-number` with {"countryCode", "vatNumber"} answers as VIES does,
`valid` true for the numbers in `registered`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.harness import listening_socket, port_of, serving


@dataclass
class Vies:
    url: str
    registered: set[str] = field(default_factory=set)  # "FR40303265045"
    status: int = 200
    asked: list[dict[str, Any]] = field(default_factory=list)


@asynccontextmanager
async def vies_server() -> AsyncIterator[Vies]:
    sock = listening_socket()
    vies = Vies(f"http://127.0.0.1:{port_of(sock)}/taxation_customs/vies/rest-api")

    async def check(request: web.Request) -> web.Response:
        body = await request.json()
        vies.asked.append(body)
        if vies.status != 200:
            return web.json_response(
                {"errorWrappers": [{"error": "MS_UNAVAILABLE"}]}, status=vies.status
            )
        number = f"{body['countryCode']}{body['vatNumber']}"
        return web.json_response({
            "countryCode": body["countryCode"], "vatNumber": body["vatNumber"],
            "requestDate": "2026-11-29T12:00:00.000Z", "valid": number in vies.registered,
            "requestIdentifier": "", "name": "---", "address": "---",
        })  # fmt: skip

    app = web.Application()
    app.router.add_post("/taxation_customs/vies/rest-api/check-vat-number", check)
    async with serving(app, sock):
        yield vies
