"""Meter's admission logic against an in-memory Reservations port: no Redis, no server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from billing.metering.tokens import TokenCounter
from billing.metering.usage import Usage
from billing.money.admission import Admitted, BalanceRefused, Decision
from billing.money.next_step import Links
from billing.money.plans import load_plans
from billing.pricing import load_pricing
from gateway.config.settings import DEFAULT_CONFIG_DIR, PROVIDERS
from gateway.errors import BillingRequired, PermissionDenied, ServiceUnavailable
from gateway.llm.endpoints import CHAT
from gateway.llm.reading.calls import Call, read_call
from gateway.services.money import settlement
from gateway.services.money.meter.metering import Meter, worst_case_micros
from gateway.services.money.settlement import Settlements
from gateway.services.registry import TaskRegistry
from gateway.stores.errors import HotStoreUnavailable
from gateway.stores.ports import Reservations
from gateway.stores.records import KeyRecord, PendingDebit, Settlement
from gateway.telemetry import metrics

PLANS = load_plans(DEFAULT_CONFIG_DIR / "plans.toml")
PRICING = load_pricing(DEFAULT_CONFIG_DIR / "pricing.toml", frozenset(PROVIDERS))
COUNTER = TokenCounter()
KEY = KeyRecord("key_1", "acct_1", 7, "k", (), ())


class FakeReservations:
    """The Reservations port in memory: one prepaid balance and the holds on it."""

    def __init__(self, balance: int, plan: str = "pro", fail_next: int = 0) -> None:
        self.balance, self.plan, self.fail_next = balance, plan, fail_next
        self.holds: dict[str, int] = {}
        self.extended: list[str] = []
        self.reserved: list[int] = []
        self.settled: dict[str, int] = {}
        self.stall: asyncio.Event | None = None  # set: settles wait for it (Redis stalled)
        self.lose_reply_next = 0

    def _maybe_fail(self) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise HotStoreUnavailable("connection refused")

    async def reserve(
        self,
        request_id: str,
        key: KeyRecord,
        *,
        input_tokens: int,
        max_output_tokens: int,
        spend_micros: int,
        requests: int = 1,
        mode: str = "",
        end_user: str = "",
    ) -> Decision:
        self._maybe_fail()
        self.reserved.append(spend_micros)
        available = self.balance - sum(self.holds.values())
        if spend_micros > available:
            return BalanceRefused("insufficient_balance", available, self.plan)
        self.holds[request_id] = spend_micros
        return Admitted(
            request_id,
            key.account_id,
            key.key_id,
            key.shard,
            spend_micros,
            0,
            None,
            None,
            self.plan,
        )

    async def settle(
        self, shard: int, account_id: str, request_id: str, settlement: Settlement
    ) -> int:
        self._maybe_fail()
        if self.stall is not None:
            await self.stall.wait()
        if self.holds.pop(request_id, None) is None:
            return 0
        self.balance -= settlement.cost_micros
        self.settled[request_id] = settlement.cost_micros
        if self.lose_reply_next:  # carried out, but the reply never came back
            self.lose_reply_next -= 1
            raise HotStoreUnavailable("connection reset")
        return True

    async def release(
        self, shard: int, account_id: str, request_id: str, *, keep_request: bool = False
    ) -> bool:
        self._maybe_fail()
        return self.holds.pop(request_id, None) is not None

    async def extend(self, shard: int, request_id: str) -> bool:
        self.extended.append(request_id)
        return request_id in self.holds


def _call(model: str = "gpt-4o-mini", max_tokens: int = 4_000) -> Call:
    body = {
        "model": model,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": "hi"}],
    }
    return read_call(CHAT, body, KEY, PRICING, COUNTER)


def _meter(store: Reservations) -> Meter:
    """A meter with no spool: these tests never stop with a settlement outstanding."""
    return Meter(store, PLANS, Links("https://billing.example"))


def test_the_fake_is_a_reservations_port() -> None:
    store: Reservations = FakeReservations(0)
    assert isinstance(store, FakeReservations)


async def test_clamp_lowers_max_tokens_to_what_the_balance_affords() -> None:
    call = _call()
    affordable = call.price.worst_case_micros(call.input_tokens, 1_000)
    store = FakeReservations(balance=affordable)
    admitted, admitted_call = await _meter(store).admit("r1", KEY, call)
    assert store.reserved[0] == call.worst_case_micros > affordable
    fits = admitted_call.max_output_tokens
    assert fits >= 1_000 and admitted_call.body["max_tokens"] == fits
    assert call.price.worst_case_micros(call.input_tokens, fits) <= affordable
    assert call.price.worst_case_micros(call.input_tokens, fits + 1) > affordable
    assert admitted.held_micros == store.holds["r1"] == store.reserved[1] <= affordable


async def test_refuse_policy_answers_402_with_the_affordable_max_tokens() -> None:
    call = _call()
    affordable = call.price.worst_case_micros(call.input_tokens, 1_000)
    key = KeyRecord("key_1", "acct_1", 7, "k", (), (), on_insufficient="refuse")
    store = FakeReservations(balance=affordable)
    with pytest.raises(BillingRequired) as caught:
        await _meter(store).admit("r1", key, call)
    fits = caught.value.extra["affordable_max_tokens"]
    assert fits >= 1_000
    assert call.price.worst_case_micros(call.input_tokens, fits + 1) > affordable
    assert caught.value.should_retry is False
    assert store.holds == {} and len(store.reserved) == 1


async def test_a_402_names_the_route_that_fixes_it_in_full_on_public_url() -> None:
    call = _call()
    key = KeyRecord("key_1", "acct_1", 7, "k", ("chat", "billing"), (), on_insufficient="refuse")
    meter = Meter(FakeReservations(balance=0), PLANS, Links(public_url="https://m.example"))
    with pytest.raises(BillingRequired) as caught:
        await meter.admit("r1", key, call)
    step = caught.value.extra["next"]
    assert step["action"] == "top_up"
    assert step["url"] == "https://m.example/dashboard/billing#topup"
    assert step["api"] == {"method": "POST", "path": "/v1/account/billing/topups"}
    with pytest.raises(BillingRequired) as caught:
        await Meter(FakeReservations(balance=0), PLANS, Links()).admit("r2", key, call)
    assert caught.value.extra["next"]["url"] == "/dashboard/billing#topup"  # no PUBLIC_URL


async def test_no_clamp_below_the_plan_minimum() -> None:
    call = _call()
    store = FakeReservations(balance=call.price.worst_case_micros(call.input_tokens, 5))
    with pytest.raises(BillingRequired):
        await _meter(store).admit("r1", KEY, call)
    assert len(store.reserved) == 1


async def test_a_model_outside_the_plan_is_refused_released_and_upgrade_named() -> None:
    store = FakeReservations(balance=10**9, plan="free")
    meter = _meter(store)
    with pytest.raises(PermissionDenied) as caught:
        await meter.admit("r1", KEY, _call(model="gpt-4o"))
    assert caught.value.extra == {"upgrade": {"plan": "starter"}}
    assert caught.value.param == "model"
    await meter.drain()
    assert store.holds == {}


async def test_a_model_the_plan_allows_is_admitted() -> None:
    store = FakeReservations(balance=10**9, plan="free")
    admitted, _ = await _meter(store).admit("r1", KEY, _call(model="gpt-4o-mini"))
    assert admitted.plan == "free" and "r1" in store.holds


async def test_store_down_is_a_503_with_retry_after() -> None:
    store = FakeReservations(balance=10**9, fail_next=1)
    with pytest.raises(ServiceUnavailable) as caught:
        await _meter(store).admit("r1", KEY, _call())
    assert caught.value.retry_after_s == 1
    assert store.holds == {}


async def test_settle_retries_a_blip_and_debits_once() -> None:
    store = FakeReservations(balance=10**9)
    meter = _meter(store)
    admitted, call = await meter.admit("r1", KEY, _call())
    store.fail_next = 2
    async with meter.serving(admitted) as hold:
        cost = await meter.settle(hold, call, Usage(input_tokens=8, output_tokens=20))
    assert cost is not None and cost > 0 and store.settled == {"r1": cost}
    assert store.balance == 10**9 - cost and store.holds == {}


def _vanished() -> float:
    return metrics().registry.get_sample_value("meterway_settlements_vanished_total") or 0.0


async def test_a_settle_that_finds_its_reservation_gone_shows_no_cost_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis lost the reservation (a restart without its data): nothing can be debited
    against it, so no cost is shown, and the loss is logged and counted, not taken for a
    settlement that already happened."""
    store = FakeReservations(balance=10**9)
    meter = _meter(store)
    admitted, call = await meter.admit("r1", KEY, _call())
    before = _vanished()
    async with meter.serving(admitted) as hold:
        store.holds.clear()
        with caplog.at_level(logging.ERROR, "meterway.settlement"):
            cost = await meter.settle(hold, call, Usage(input_tokens=8, output_tokens=20))
    assert cost is None and store.settled == {} and store.balance == 10**9
    assert _vanished() == before + 1
    assert "settle r1 found no reservation" in caplog.text and "acct_1" in caplog.text


async def test_a_retry_that_finds_its_own_debit_done_is_no_loss() -> None:
    """The first try was carried out but its reply was lost: the retry finds the
    reservation closed by that try, the cost stands, and nothing is counted as lost."""
    store = FakeReservations(balance=10**9)
    meter = _meter(store)
    admitted, call = await meter.admit("r1", KEY, _call())
    store.lose_reply_next = 1
    before = _vanished()
    async with meter.serving(admitted) as hold:
        cost = await meter.settle(hold, call, Usage(input_tokens=8, output_tokens=20))
    assert cost is not None and store.settled == {"r1": cost}
    assert _vanished() == before


async def test_a_background_response_settled_twice_is_no_loss() -> None:
    store = FakeReservations(balance=10**9)
    meter = _meter(store)
    admitted, call = await meter.admit("r1", KEY, _call())
    usage = Usage(input_tokens=8, output_tokens=20)
    before = _vanished()
    worst = worst_case_micros(call)
    first = await meter.settle_priced(admitted, call.price, usage, worst_micros=worst)
    await meter.settle_priced(admitted, call.price, usage, worst_micros=worst)  # polled too
    assert first is not None and store.settled == {"r1": first}
    assert _vanished() == before


async def test_a_settle_redis_refuses_shows_its_cost_and_is_recorded_at_shutdown() -> None:
    """The cost shown is the one recorded for the sweeper's debit (issue 57: a cost shown
    only when Redis answered in time depended on timing)."""
    store = FakeReservations(balance=10**9)
    recorded: list[PendingDebit] = []

    async def spool(debits: list[PendingDebit]) -> None:
        recorded.extend(debits)

    settlements = Settlements(store, TaskRegistry(), refresh_s=30, spool=spool)
    meter = Meter(store, PLANS, Links("https://billing.example"), settlements)
    admitted, call = await meter.admit("r1", KEY, _call())
    store.fail_next = 10**6
    async with meter.serving(admitted) as hold:
        cost = await meter.settle(hold, call, Usage(input_tokens=8, output_tokens=20))
    assert cost == call.price.cost_micros(Usage(8, output_tokens=20)) and store.settled == {}
    assert store.holds == {"r1": admitted.held_micros}  # never released: settlement began
    await meter.drain(timeout_s=0.1)
    assert [(d.request_id, d.settlement.usage.output_tokens) for d in recorded] == [("r1", 20)]
    assert recorded[0].settlement.cost_micros == cost


async def _stalled(
    monkeypatch: pytest.MonkeyPatch, budget_s: float
) -> tuple[FakeReservations, Meter, Admitted, Call]:
    """A meter whose first settle waits on `store.stall`, with `budget_s` for an answer."""
    monkeypatch.setattr(settlement, "ANSWER_BUDGET_S", budget_s)
    store = FakeReservations(balance=10**9)
    meter = _meter(store)
    admitted, call = await meter.admit("r1", KEY, _call())
    store.stall = asyncio.Event()
    return store, meter, admitted, call


async def test_a_settle_redis_does_not_answer_in_time_shows_its_cost_and_debits_it_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, meter, admitted, call = await _stalled(monkeypatch, budget_s=0.05)
    async with meter.serving(admitted) as hold:
        cost = await meter.settle(hold, call, Usage(input_tokens=8, output_tokens=20))
    assert cost == call.price.cost_micros(Usage(8, output_tokens=20)) and store.settled == {}
    current = asyncio.current_task()
    assert current is not None and current.cancelling() == 0  # the budget's cancel is undone
    assert store.stall is not None
    store.stall.set()
    await meter.drain(timeout_s=5)
    assert list(store.settled) == ["r1"] and store.holds == {}
    assert store.settled["r1"] == cost


async def test_a_handler_cancelled_while_settling_stays_cancelled_and_the_debit_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, meter, admitted, call = await _stalled(monkeypatch, budget_s=30.0)

    async def handler() -> int | None:
        async with meter.serving(admitted) as hold:
            return await meter.settle(hold, call, Usage(input_tokens=8, output_tokens=20))

    task = asyncio.create_task(handler())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.stall is not None
    store.stall.set()
    await meter.drain(timeout_s=5)
    assert list(store.settled) == ["r1"] and store.holds == {}


async def _until(done: Callable[[], bool]) -> None:
    for _ in range(3000):  # the beat is every 0.01 s; this allows a very loaded machine
        if done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the heartbeat never got there")


async def test_one_heartbeat_extends_every_live_hold_and_stops_with_it() -> None:
    """One timer for the process: every hold alive at a beat is extended, a hold let go or
    whose reservation closed is not extended again, and with none left the beat stops."""
    store = FakeReservations(balance=10**9)
    settlements = Settlements(store, TaskRegistry(), refresh_s=0.01)
    meter = Meter(store, PLANS, Links("https://billing.example"), settlements)
    a1, _ = await meter.admit("r1", KEY, _call())
    a2, _ = await meter.admit("r2", KEY, _call())
    a3, _ = await meter.admit("r3", KEY, _call())
    async with meter.serving(a1), meter.serving(a3):
        async with meter.serving(a2):
            await _until(lambda: {"r1", "r2", "r3"} <= set(store.extended))
        del store.holds["r3"]  # closed under it (a sweeper voided it): extend says False
        await _until(lambda: "r3" not in settlements._live)
        beats = store.extended.count("r1")
        await _until(lambda: store.extended.count("r1") > beats)
        after = len(store.extended)
        await _until(lambda: store.extended.count("r1") > beats + 3)
        assert set(store.extended[after:]) == {"r1"}  # r2 let go, r3 closed
    await _until(lambda: settlements._beat is None)
    count = len(store.extended)
    await asyncio.sleep(0.05)
    assert len(store.extended) == count


async def test_a_failure_before_settling_releases_after_settling_does_not() -> None:
    store = FakeReservations(balance=10**9)
    meter = _meter(store)
    admitted, _ = await meter.admit("r1", KEY, _call())
    with pytest.raises(RuntimeError):
        async with meter.serving(admitted):
            raise RuntimeError("provider vanished")
    await meter.drain(timeout_s=1)
    assert store.holds == {}


async def test_a_stop_waits_for_handlers_then_cuts_them_and_their_releases_run() -> None:
    """Handlers serving holds are the stop's to wait for (no task of the meter's own runs a
    proxied call): one that finishes within the budget settles; one that outlasts it is
    cancelled, and the release its cancellation starts still gets the second round."""
    store = FakeReservations(balance=10**9)
    meter = _meter(store)
    quick, call = await meter.admit("quick", KEY, _call())
    stuck, _ = await meter.admit("stuck", KEY, _call())
    provider = asyncio.Event()

    async def serve(admitted: Admitted) -> int | None:
        async with meter.serving(admitted) as hold:
            hold.forwarded = True
            if admitted is stuck:
                await asyncio.Event().wait()  # a provider that never answers
            await provider.wait()
            return await meter.settle(hold, call, Usage(input_tokens=8, output_tokens=20))

    handlers = [asyncio.create_task(serve(a)) for a in (quick, stuck)]
    await asyncio.sleep(0.01)
    asyncio.get_running_loop().call_later(0.05, provider.set)
    await meter.drain(timeout_s=0.3)
    assert handlers[0].result() is not None and handlers[1].cancelled()
    assert list(store.settled) == ["quick"] and store.holds == {}


async def test_an_observer_that_fails_never_stops_the_debit() -> None:
    """The trace's hook raised inside the one settlement once (a Realtime turn's request id
    it could not parse) and the debit never reached settle.lua: a failing observer is
    logged, and the call is debited all the same."""
    store = FakeReservations(balance=10**9)
    meter = _meter(store)

    def broken(*_: object) -> None:
        raise ValueError("an observer's bug")

    meter.on_settled = broken
    admitted, call = await meter.admit("r1", KEY, _call())
    usage = Usage(input_tokens=8, output_tokens=20)
    cost = await meter.settle_priced(admitted, call.price, usage, worst_micros=1)
    assert cost is not None and store.settled == {"r1": cost}
