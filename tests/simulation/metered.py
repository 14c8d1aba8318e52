"""The money paths built on the one settlement, under lying providers (issue 57): Realtime
responses, background Responses and batches, admitted and settled through `Meter` (the
charge cap, what is free, the uncollected rule) with usage that is honest, over-reported,
under-reported or missing. Each is started in one step and finished in a later one, so
every fault of the schedule (a settler crash, a dead gateway, Redis lost) can fall between.

Checked at each settle: the cost shown is within the call's charge cap; drained, every cost
shown is billed exactly (checks.billed_as_priced), and the money invariants hold throughout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from billing.metering.usage import Usage
from billing.money.admission import Admitted
from billing.money.next_step import Links
from billing.pricing import ModelPrice, load_pricing
from gateway.config.settings import PROVIDERS
from gateway.errors import MeterwayError
from gateway.llm.endpoints import CHAT
from gateway.llm.reading.calls import Call, read_call
from gateway.services.metering.realtime_meter import SessionMeter
from gateway.services.money.lost_debits import LostDebits
from gateway.services.money.meter.metering import Meter, charge_cap, worst_case_micros
from gateway.services.money.settlement import Settlements
from gateway.services.registry import TaskRegistry
from gateway.stores.records import KeyRecord
from tests.integration.test_rebuild_metering import PLANS
from tests.simulation.world import World
from tests.support.harness import COUNTER

PRICING = load_pricing(Path(__file__).parents[2] / "config" / "pricing.toml", frozenset(PROVIDERS))
LIES = ("honest", "honest", "over", "under", "missing")


def _price(model: str) -> ModelPrice:
    price = PRICING.lookup(model)
    assert price is not None, model
    return price


REALTIME, TEXT = _price("gpt-realtime"), _price("gpt-4o-mini")


@dataclass
class Live:
    """A metered call started and not yet finished: a Realtime response (its session), or
    a background response or batch (settled by its model's price, as the poller does)."""

    kind: str  # realtime | background | batch
    admitted: Admitted
    call: Call
    session: SessionMeter | None = None


def meter(w: World) -> Meter:
    """The gateway process's meter (a new one after the gateway died)."""
    if w.meter is None:
        stores = w.stores
        settlements = Settlements(
            stores.store,
            TaskRegistry(),
            refresh_s=30,
            spool=stores.pending.put,
            rebook=LostDebits(stores.store, stores.pending),
        )
        w.meter = Meter(stores.store, PLANS, Links(""), settlements)
    return w.meter


def _usage(w: World, live: Live) -> tuple[str, Usage | None]:
    """What the provider reports: honest (within what was held), over (far past the
    output cap), under, or nothing at all."""
    how = w.rng.choice(LIES)
    out = live.call.max_output_tokens
    if how == "honest":
        return how, Usage(live.call.input_tokens, output_tokens=w.rng.randrange(0, out + 1))
    if how == "over":
        return how, Usage(live.call.input_tokens * 5 + 9_000, output_tokens=out * 8 + 50_000)
    if how == "under":
        return how, Usage(0, output_tokens=w.rng.randrange(0, 3))
    return how, None


async def start(w: World) -> None:
    kind = w.rng.choice(("realtime", "background", "batch"))
    account, key = w.pick_key()
    rid = w.next_id(f"{account}:{kind[:2]}")
    try:
        live = await (_realtime(w, key, rid) if kind == "realtime" else _admit(w, key, rid, kind))
    except MeterwayError as exc:  # refused: a 402 or a 429, nothing held
        w.trace.append(f"start {kind} {rid} -> {type(exc).__name__}")
        return
    w.live[live.admitted.request_id] = live
    w.trace.append(f"start {kind} {live.admitted.request_id} held={live.admitted.held_micros}")


async def _realtime(w: World, key: KeyRecord, rid: str) -> Live:
    session = SessionMeter(meter(w), key, REALTIME, rid)
    await session.hold_next(w.rng.choice((64, 4096)), w.rng.randrange(0, 500))
    session.bind(f"resp_{rid}")
    session.produced(f"resp_{rid}", w.rng.randrange(0, 2_000), w.rng.randrange(0, 2_000))
    held = session.bound[f"resp_{rid}"]
    return Live("realtime", held.hold.admitted, held.call, session)


async def _admit(w: World, key: KeyRecord, rid: str, kind: str) -> Live:
    lines = 1 if kind == "background" else w.rng.randrange(2, 6)
    text = " ".join(["word"] * w.rng.randrange(1, 400))
    body = {
        "model": TEXT.name,
        "messages": [{"role": "user", "content": text}] * lines,
        "max_tokens": w.rng.choice((16, 256, 2_048)) * lines,
    }
    call = read_call(CHAT, body, key, PRICING, COUNTER)
    admitted, call = await meter(w).admit(rid, key, call)
    return Live(kind, admitted, call)


async def finish(w: World) -> None:
    if not w.live:
        return await start(w)
    rid = w.rng.choice(sorted(w.live))
    live = w.live.pop(rid)
    how, usage = _usage(w, live)
    if live.session is not None:
        cost = await live.session.done(f"resp_{live.session.request_id}", usage)
        await live.session.close()
    else:
        counted = usage or Usage(live.call.input_tokens, source="counted")
        cost = await meter(w).settle_priced(
            live.admitted, TEXT, counted, worst_micros=worst_case_micros(live.call)
        )
    cap = charge_cap(live.admitted, worst_case_micros(live.call), 0)
    if cost is not None:
        w.costs[rid] = cost
        if cost > cap:
            w.broken.append(f"{rid}: {live.kind} shown {cost} above its charge cap {cap}")
    w.trace.append(f"finish {live.kind} {rid} {how} -> cost={cost} cap={cap}")


async def finish_all(w: World) -> None:
    """Drained: every live call finishes, and the meter's settlements are done."""
    while w.live:
        await finish(w)
    if w.meter is not None:
        await w.meter.drain(5)


def gateway_died(w: World) -> list[str]:
    """The process died with its meter: its live calls' holds wait for the sweeper."""
    died = sorted(w.live)
    w.live.clear()
    w.meter = None
    return died
