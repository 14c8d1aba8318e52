"""Usage reported after the fact: each event debited exactly once, without a prior hold.

Each event goes through the same two steps as an authorization that settles at once:
reserve.lua (counting, not refusing, its quota windows; refusing only on the balance
unless the meter allows going below zero) and settle.lua. Its id is derived from the
service, account and idempotency key, so the same batch sent twice, even concurrently,
finds each event open or closed and debits it once. An event reserved but not settled (a
crash between the steps) is charged by the sweeper: its hold is exactly its cost.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from billing.money.admission import Admitted, BalanceRefused, KeyRefused, NotReady
from billing.pricing.meters import Meter
from gateway.errors import IdempotencyConflict, MeterwayError
from gateway.services.money.meter.metered import Metering, metered_id
from gateway.stores.meter_records import MeterClosed, MeterHold, MeterOpen, ServiceRecord

EVENT_TTL_MS = 60_000  # a reported event is settled at once; this only bounds a crash


@dataclass(frozen=True, slots=True)
class Event:
    account_id: str
    meter: str
    quantity: int
    idempotency_key: str
    occurred_at_ms: int
    metadata: bytes = b""  # compact JSON, b"" = none


@dataclass(frozen=True, slots=True)
class EventResult:
    idempotency_key: str
    status: str  # debited | duplicate | refused
    cost_micros: int = 0
    error: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "idempotency_key": self.idempotency_key,
            "status": self.status,
            "cost_micros": self.cost_micros,
        }
        if self.error is not None:
            out["error"] = self.error
        return out


def _refused(event: Event, code: str, message: str, **extra: Any) -> EventResult:
    error = {"code": code, "message": message, **extra}
    return EventResult(event.idempotency_key, "refused", error=error)


async def report(
    metering: Metering, service: ServiceRecord, events: list[Event]
) -> list[EventResult]:
    """Every event of a batch at once: the hot store's client pipelines them."""
    return list(await asyncio.gather(*(_one(metering, service, e) for e in events)))


async def _one(metering: Metering, service: ServiceRecord, event: Event) -> EventResult:
    try:
        meter = metering.meter_for(service, event.meter)
    except MeterwayError as exc:
        return _refused(event, exc.code, exc.message)
    rid = metered_id("mev", service.name, event.account_id, event.idempotency_key)
    cost = meter.cost_micros(event.quantity)
    decision = await metering.holds.hold(_hold(rid, event, meter, cost, service))
    if isinstance(decision, MeterClosed) and decision.quantity != event.quantity:
        return _refused(
            event,
            IdempotencyConflict.code,
            f"This idempotency_key was already used for an event of {decision.quantity} units;"
            f" this one has {event.quantity}.",
        )
    if isinstance(decision, MeterOpen | MeterClosed):
        return EventResult(event.idempotency_key, "duplicate")
    if isinstance(decision, BalanceRefused):
        return _refused(
            event,
            "billing_required",
            "Insufficient balance for this event.",
            balance_micros=decision.available_micros,
            required_micros=cost,
        )
    if isinstance(decision, KeyRefused):
        return _refused(event, "not_found", "No such account.")
    if isinstance(decision, NotReady) or not isinstance(decision, Admitted):
        return _refused(event, "service_unavailable", "Metering state is being restored.")
    await metering.holds.settle(rid, event.quantity, cost)
    return EventResult(event.idempotency_key, "debited", cost)


def _hold(rid: str, event: Event, meter: Meter, cost: int, service: ServiceRecord) -> MeterHold:
    return MeterHold(
        rid,
        event.account_id,
        "",
        meter.name,
        event.quantity,
        cost,
        service.name,
        EVENT_TTL_MS,
        True,
        occurred_at_ms=event.occurred_at_ms,
        refuse_over_quota=False,
        refuse_over_balance=not meter.allow_negative,
        metadata=event.metadata,
    )
