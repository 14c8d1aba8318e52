"""Recording which key created a Responses API response, from the proxy's side."""

from __future__ import annotations

from aiohttp import web

from billing.money.admission import Admitted
from gateway.http.appkeys import RESPONSE_BOOK
from gateway.llm.reading.calls import Call
from gateway.services.metering.responses import Created
from gateway.services.money.meter.metering import worst_case_micros


async def own_response(
    request: web.Request, call: Call, admitted: Admitted, response_id: str, *, pending: bool
) -> None:
    """A pending (background) response keeps its reservation open until it ends."""
    worst = worst_case_micros(call)
    created = Created(response_id, admitted, call.price.name, call.input_tokens, pending, worst)
    await request.app[RESPONSE_BOOK].created(created)
