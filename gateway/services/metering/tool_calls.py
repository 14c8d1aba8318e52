"""An MCP tool call, metered: hold its worst case, forward it, then debit what the result
says it used, or give the hold back when the tool failed.

The same engine as a proxied model call (`Meter.hold_fixed`, `Meter.settle_fixed`): one
reserve.lua round trip checks the balance and every window of the key, its team, its end
user and its account; settle.lua debits and queues the ledger row. Billed: a result that is
not flagged `isError`. Not billed: a JSON-RPC error, an `isError` result, an answer that is
not a response (an HTTP error, a lost connection).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from billing.metering.usage import Usage
from billing.money.end_users import recorded
from billing.money.micros import marked_up
from billing.pricing.mcp_prices import MODEL_PREFIX, ToolPrice, ledger_model
from gateway.mcp.wire import billed_result, response_to
from gateway.services.money.meter.metering import Meter
from gateway.stores.records import KeyRecord, Settlement

log = logging.getLogger("meterway.mcp")


@dataclass(frozen=True, slots=True)
class Answered:
    """The upstream's answer, read whole."""

    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ToolCall:
    request_id: str
    key: KeyRecord
    server: str
    tool: str
    price: ToolPrice
    message_id: object  # the JSON-RPC id whose response settles it
    end_user: str = ""  # as billing.money.end_users.end_user_id gave it


@dataclass(frozen=True, slots=True)
class Metered:
    answered: Answered
    cost_micros: int | None  # debited (None: not billed, or debited after the answer)


def units_used(price: ToolPrice, result: Mapping[str, object], call: ToolCall) -> int:
    """The units a billed result reports; the declared worst case when it reports none (the
    operator said the tool reports them: a call is never free for want of a field)."""
    if not price.unit_field:
        return 0
    units = price.units_in(result)
    if units is None:
        log.warning(
            "%s: %s/%s reported no whole units at %s; billing max_units",
            call.request_id, call.server, call.tool, ".".join(price.unit_field),
        )  # fmt: skip
        return price.max_units
    return units


def _settlement(call: ToolCall, units: int, markup_bps: int) -> Settlement:
    cost = call.price.cost_micros(units)
    billed = (("units", call.price.billed_units(units)),)
    detail: tuple[tuple[str, int | str], ...] = billed if call.price.unit_field else ()
    return Settlement(
        ledger_model(call.server, call.tool),
        f"{MODEL_PREFIX}{call.server}",
        Usage(),
        marked_up(cost, markup_bps),
        provider_cost_micros=cost,
        detail=detail,
        end_user=recorded(call.end_user),
    )


async def metered_call(
    meter: Meter, call: ToolCall, send: Callable[[], Awaitable[Answered]]
) -> Metered:
    """Hold, send, settle or release. A refusal raises before anything is sent."""
    admitted = await meter.hold_fixed(
        call.request_id, call.key, call.price.worst_case_micros, call.end_user
    )
    async with meter.serving(admitted) as hold:
        answered = await send()
        hold.forwarded = True
        response = None
        if answered.status == 200:
            response = response_to(answered.content_type, answered.body, call.message_id)
        result = billed_result(response)
        if result is None:
            meter.release_later(admitted, forwarded=True)
            return Metered(answered, None)
        settlement = _settlement(call, units_used(call.price, result, call), admitted.markup_bps)
        return Metered(answered, await meter.settle_fixed(hold, settlement))
