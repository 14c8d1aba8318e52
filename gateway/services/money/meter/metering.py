# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Reserve before forwarding, settle after: the bridge between a proxied call and the store.

Kept whole: `Meter` is the one settlement every debit passes through (`_debit`), and the
compiled build keeps a call's reserve, settle and release in one native class.

A cost a client is shown has been debited (see services/money/settlement.py for how a settlement
survives Redis failing); releases of failed calls run as tracked tasks that shutdown drains.
A reservation a crash leaves open is voided by the sweeper.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from billing import values
from billing.authority import Actor
from billing.metering.usage import Usage
from billing.money.admission import (
    Admitted,
    BalanceRefused,
    Decision,
    QuotaRefused,
    output_room,
)
from billing.money.end_users import recorded
from billing.money.micros import marked_up, within
from billing.money.next_step import AccountState, Links
from billing.money.plans import PlanBook
from billing.pricing import ModelPrice, Priced
from billing.pricing.byok import ByokFee
from gateway.errors import (
    PermissionDenied,
    store_down,
)
from gateway.llm.reading.calls import Call
from gateway.services.money.refusals import refusal_error
from gateway.services.money.settlement import Hold, Settlements
from gateway.services.registry import TaskRegistry
from gateway.stores.errors import HotStoreUnavailable, StoreError
from gateway.stores.ports import Reservations
from gateway.stores.records import KeyRecord, Settlement
from gateway.telemetry import metrics

log = logging.getLogger("meterway.metering")
RELEASE_ATTEMPTS = 5
# The debit may exceed the reservation only on the input side, where the count is an
# estimate: up to 4x it plus 8,192 tokens (README, "The charge cap").
INPUT_MARGIN = 4
INPUT_SLACK_TOKENS = 8192
# How many times a refused call is fitted and asked again (the balance, then a window): a
# second round trip happens only on the refusal path.
FITS = 2


class Meter:
    def __init__(
        self,
        store: Reservations,
        plans: PlanBook,
        links: Links,
        settlements: Settlements | None = None,
    ) -> None:
        self.store = store
        self.plans = plans
        self.links = links  # where the next step a refusal names is
        self.settlements = settlements or Settlements(store, TaskRegistry(), refresh_s=30.0)
        self.tasks = self.settlements.registry
        self.in_grace: Callable[[str], Awaitable[bool]] | None = None  # payment grace period
        self.team_names: Callable[[str], Awaitable[str | None]] | None = None  # a 429's words
        # A 429's account facts, its refused window remembered (services/money/next_steps.py).
        self.refusal_facts: Callable[[QuotaRefused], Awaitable[AccountState | None]] | None = None
        self._stop_by: float | None = None  # loop time by which a stop must be drained
        # Told of every debit as it starts (and again, unbilled, if its reservation was
        # gone): the request's span takes its settlement record (http/observability/tracer.py).
        self.on_settled: Callable[[Admitted, Settlement, bool], None] | None = None
        # Told of every debit once settle.lua took it (billed), or found nothing to debit
        # (not): OTLP metrics count its tokens and cost (http/observability/call_metrics.py).
        self.on_charged: Callable[[Admitted, Settlement, bool], None] | None = None

    async def admit(self, request_id: str, key: KeyRecord, call: Call) -> tuple[Admitted, Call]:
        """Reserve the call's worst case or raise the error the client should see.

        Returns the call as admitted: a clamping plan may have lowered its max tokens.
        """
        decision = await self._reserve(request_id, key, call)
        for _ in range(FITS):  # only on a refusal: an admitted call costs one round trip
            fits = self._fit(key, call, decision)
            if fits is None:
                break
            call = call.clamped(fits)
            decision = await self._reserve(request_id, key, call)
        if not isinstance(decision, Admitted):
            raise await self._refuse(decision, key, call)
        plan = self.plans.get(decision.plan)
        if plan is not None and not plan.allows_model(call.price.name):
            self.release_later(decision)
            raise PermissionDenied(
                f"The model '{call.price.name}' is not included in the {plan.name} plan.",
                param="model",
                extra={"upgrade": self._model_upgrade(plan.rank, call)},
            )
        if plan is not None and plan.providers:
            pinned = call.pinned(plan.providers)
            if pinned is None:
                self.release_later(decision)
                raise PermissionDenied(
                    f"The model '{call.price.name}' is not served by a provider the "
                    f"{plan.name} plan allows ({', '.join(sorted(plan.providers))}).",
                    param="model",
                )
            call = pinned
        return decision, call

    async def precheck(self, request_id: str, key: KeyRecord, *, key_only: bool = False) -> str:
        """Before the body is read, validated or tokenized: the key is live (not revoked or
        expired), metering is ready, and (unless `key_only`) no request window is full and the
        balance covers the cheapest request (one micro). A key that cannot be served costs no
        counting, and learns nothing about the request it sent. Returns the account's plan."""
        decision = await self._call(
            self.store.reserve(
                request_id,
                key,
                input_tokens=0,
                max_output_tokens=0,
                spend_micros=0 if key_only else 1,
                requests=0 if key_only else 1,
                mode="key" if key_only else "check",
            )
        )
        if not isinstance(decision, Admitted):
            raise await self._refuse(decision, key, None)
        return decision.plan

    async def check_floor(self, request_id: str, key: KeyRecord, floor: Call, plan: str) -> None:
        """Before tokenizing: refuse a call whose cheapest reading does not fit the balance
        or a window. `floor` was read with `TokenCounter.floor()` (input tokens a lower bound
        of the count), and its output is lowered as far as a clamping plan would lower it, so
        every amount checked is at most what `admit` will reserve: a call refused here would
        be refused there, only without seconds of tokenizing first. Holds nothing."""
        lowest = self._clamp_floor(key, floor, plan)
        if lowest < floor.max_output_tokens:
            floor = floor.clamped(lowest)
        decision = await self._reserve(request_id, key, floor, mode="check")
        if not isinstance(decision, Admitted):
            raise await self._refuse(decision, key, floor, suggest=False)

    def _clamp_floor(self, key: KeyRecord, call: Call, plan_name: str) -> int:
        """The fewest output tokens `admit` could fit this call to (see `_fit`)."""
        minimum = self._clamp_minimum(key, call, plan_name)
        if minimum is None and not call.names_output_cap():
            minimum = self._fit_minimum(call, plan_name)
        return call.max_output_tokens if minimum is None else min(minimum, call.max_output_tokens)

    def _clamp_minimum(self, key: KeyRecord, call: Call, plan_name: str) -> int | None:
        """The fewest output tokens a clamp may leave, or None when this key's policy (or
        else its plan's) does not clamp, or the endpoint cannot be clamped."""
        plan = self.plans.get(plan_name)
        policy = key.on_insufficient or (plan.on_insufficient if plan else "refuse")
        if policy != "clamp" or not call.endpoint.clamps:
            return None
        return plan.clamp_min_tokens if plan else 16

    async def _refuse(
        self,
        decision: Decision,
        key: KeyRecord,
        call: Call | None,
        *,
        suggest: bool = True,
        worst_micros: int | None = None,
    ) -> Exception:
        """`suggest`: offer an affordable max_tokens (not from a floor: its input is low);
        `worst_micros`: the hold of a call with no `Call` (`hold_fixed`'s)."""
        if isinstance(decision, BalanceRefused) and await self._in_grace(key.account_id):
            decision = replace(decision, reason="payment_failed")
        state = None
        if isinstance(decision, QuotaRefused):
            decision = replace(decision, scope_name=await self._scope_name(decision, key))
            state = await self._facts(decision)
        caller = Actor("key", key.account_id, frozenset(key.scopes))
        return refusal_error(
            decision,
            call,
            self.plans,
            self.links,
            suggest=suggest,
            caller=caller,
            worst_micros=worst_micros,
            state=state,
        )

    async def _facts(self, refusal: QuotaRefused) -> AccountState | None:
        """Only on a 429's path: the account's facts its next step is decided from (None:
        its plan alone, as when Redis does not answer)."""
        if self.refusal_facts is None:
            return None
        try:
            return await self.refusal_facts(refusal)
        except HotStoreUnavailable:
            return None

    async def _scope_name(self, refusal: QuotaRefused, key: KeyRecord) -> str:
        """The refused level's name, only on the refusal path: the key's from its record,
        the team's read once a minute at most (`team_names`), the end user's id."""
        if refusal.scope == "key":
            return key.name
        if refusal.scope == "team" and self.team_names is not None:
            try:
                return await self.team_names(refusal.scope_id) or refusal.scope_id
            except StoreError:
                return refusal.scope_id
        return refusal.scope_id

    async def hold_fixed(
        self, request_id: str, key: KeyRecord, worst_micros: int, end_user: str = ""
    ) -> Admitted:
        """Reserve a fixed worst case (an MCP tool call's price, marked up by reserve.lua as
        a model's is) against the balance and every window of the key, its team, its end
        user and its account, or raise the client's 402, 429 or 503."""
        decision = await self._call(
            self.store.reserve(
                request_id,
                key,
                input_tokens=0,
                max_output_tokens=0,
                spend_micros=worst_micros,
                end_user=end_user,
            )
        )
        if isinstance(decision, Admitted):
            return decision
        raise await self._refuse(decision, key, None, worst_micros=worst_micros)

    async def settle_fixed(self, hold: Hold, settlement: Settlement) -> int | None:
        """Debit a fixed-price settlement (its cost already marked up), at most the hold; the
        cost if Redis took it in time, else None (it is still debited, later)."""
        return await self._debit(hold, settlement, hold.admitted.held_micros)

    async def _in_grace(self, account_id: str) -> bool:
        """Only on the refusal path: a failed plan payment explains the 402 better."""
        if self.in_grace is None:
            return False
        try:
            return await self.in_grace(account_id)
        except HotStoreUnavailable:
            return False

    async def _reserve(
        self, request_id: str, key: KeyRecord, call: Call, mode: str = ""
    ) -> Decision:
        return await self._call(
            self.store.reserve(
                request_id,
                key,
                input_tokens=call.input_tokens,
                max_output_tokens=call.max_output_tokens,
                spend_micros=call.worst_case_micros,
                mode=mode,
                end_user=call.end_user,
            )
        )

    async def _call(self, reserve: Awaitable[Decision]) -> Decision:
        try:
            return await reserve
        except HotStoreUnavailable as exc:
            log.error("reserve failed, refusing unmetered work: %s", exc)
            raise store_down("redis") from exc

    def _fit(self, key: KeyRecord, call: Call, decision: Decision) -> int | None:
        """The output tokens a refused call fits in, when it may be sent with fewer: a
        clamping plan's (balance only), or any call that named no output cap of its own,
        whose worst case (the model's whole output) is a hold it would never use. A call
        that named its cap is refused, with what it can afford."""
        if isinstance(decision, BalanceRefused) and decision.reason == "insufficient_balance":
            minimum = self._clamp_minimum(key, call, decision.plan)
            if minimum is None and not call.names_output_cap():
                minimum = self._fit_minimum(call, decision.plan)
            budget = within(decision.available_micros, decision.markup_bps)
            fits = call.price.affordable_output_tokens(call.input_tokens, budget)
        elif isinstance(decision, QuotaRefused):
            room = output_room(decision, call.input_tokens)
            if room is None:
                return None
            minimum = None if call.names_output_cap() else self._fit_minimum(call, decision.plan)
            fits = room
        else:
            return None
        if minimum is None:
            return None
        return fits if minimum <= fits < call.max_output_tokens else None

    def _fit_minimum(self, call: Call, plan_name: str) -> int | None:
        """The fewest output tokens a call without its own cap is fitted to (its plan's
        clamp minimum, 16 by default); None where the endpoint cannot be fitted."""
        if not call.endpoint.clamps:
            return None
        plan = self.plans.get(plan_name)
        return plan.clamp_min_tokens if plan else 16

    def _model_upgrade(self, rank: int, call: Call) -> dict[str, object] | None:
        for plan in sorted(self.plans.plans.values(), key=lambda p: p.rank):
            if plan.rank > rank and plan.allows_model(call.price.name):
                return {"plan": plan.name}
        return None

    async def settle(self, hold: Hold, call: Call, usage: Usage) -> int | None:
        """Debit the priced usage; its cost (under the charge cap), whether Redis answered
        within the answer budget or not: what is shown is what the settlement debits.

        The settlement runs on in a task shutdown drains, so a caller cancelled here (the
        client left) does not stop it; a None (Redis lost the reservation, with no rebook)
        means the answer goes out without a cost.
        """
        if call.byok is not None:
            return await self._settle_byok(hold, call, call.byok, usage)
        cap = _cap(hold.admitted, call, usage)
        return await self._settle(hold, call.price, usage, cap, recorded(call.end_user))

    async def _settle_byok(self, hold: Hold, call: Call, fee: ByokFee, usage: Usage) -> int | None:
        """A call made with the account's own key: debited the platform fee on its list
        price (no markup; the operator paid the provider nothing), the usage recorded as
        any call's, and the debit's detail saying it was a BYOK fee and on what."""
        price = call.price
        priced = price.price(usage, hold.admitted.now_ms)
        worst = worst_case_micros(call) + price.fees_micros(usage.tool_runs)
        cap = max(hold.admitted.held_micros, fee.worst(worst))
        detail = (
            *priced.detail,
            ("byok", price.provider),
            ("byok_fee_bps", fee.bps),
            ("byok_fee_fixed_micros", fee.fixed_micros),
            ("list_micros", priced.provider_micros),
        )
        settlement = Settlement(
            price.name,
            price.provider,
            usage,
            fee.charged(priced.numerator),
            priced.version,
            0,
            detail,
            recorded(call.end_user),
        )
        return await self._debit(hold, settlement, cap)

    async def settle_priced(
        self,
        admitted: Admitted,
        price: ModelPrice,
        usage: Usage,
        priced: Priced | None = None,
        *,
        worst_micros: int,
    ) -> int | None:
        """Settle a reservation by its model's price: a background response settles long after
        its request, when the gateway first sees it finished. `priced`: its exact cost when
        worked out part by part (a batch's lines), else `usage` at `price`. `worst_micros`:
        the call's worst case at admission (`worst_case_micros`), which caps the debit as a
        foreground call's is; 0 (a record from before it was kept) caps it at the hold."""
        cap = priced_cap(admitted, price, usage, worst_micros)
        return await self._settle(Hold(admitted, resettle=True), price, usage, cap, priced=priced)

    async def _settle(
        self,
        hold: Hold,
        price: ModelPrice,
        usage: Usage,
        cap: int,
        end_user: str = "",
        priced: Priced | None = None,
    ) -> int | None:
        priced = price.price(usage, hold.admitted.now_ms) if priced is None else priced
        settlement = Settlement(
            price.name,
            price.provider,
            usage,
            priced.charged(hold.admitted.markup_bps),
            priced.version,
            priced.provider_micros,
            priced.detail,
            end_user,
        )
        return await self._debit(hold, settlement, cap)

    async def _debit(self, hold: Hold, settlement: Settlement, cap: int) -> int | None:
        """The one settlement every debit of a reservation takes: the charge cap applied (a
        provider that reports more than the call could have used is debited the cap, and
        logged), then settle.lua. The cost, whether Redis answered in time or the settlement
        runs on (it is debited either way); None only when Redis lost the reservation and
        nothing can rebook it (a Meter without `Settlements.rebook`)."""
        cost = settlement.cost_micros
        if cost > cap:
            log.warning(
                "provider discrepancy on %s (%s): usage %s costs %d micros, above the cap of "
                "%d (reserved %d); debiting the cap",
                hold.admitted.request_id,
                settlement.model,
                settlement.usage,
                cost,
                cap,
                hold.admitted.held_micros,
            )
            settlement = values.replace(settlement, cost_micros=cap)
        self._tell(self.on_settled, hold.admitted, settlement, True)
        done = await self.settlements.settle(hold, settlement)
        if done is None:  # Redis lost the reservation: nothing is, or will be, debited
            self._tell(self.on_settled, hold.admitted, settlement, False)
            self._tell(self.on_charged, hold.admitted, settlement, False)
            return None
        hold.settled = settlement
        _count_settled(settlement.model, settlement.usage, settlement.cost_micros)
        self._tell(self.on_charged, hold.admitted, settlement, True)
        return settlement.cost_micros  # debited now, or by the settlement's retries

    def _tell(
        self,
        told: Callable[[Admitted, Settlement, bool], None] | None,
        admitted: Admitted,
        settlement: Settlement,
        billed: bool,
    ) -> None:
        """Hand the settlement to an observer (`on_settled`, the trace; `on_charged`, the
        metrics): one that fails is logged, never allowed to stop the debit it watches."""
        if told is None:
            return
        try:
            told(admitted, settlement, billed)
        except Exception:
            log.exception("an observer of %s failed; the debit goes on", admitted.request_id)

    def release_later(self, admitted: Admitted, *, forwarded: bool = False) -> None:
        """Give the reservation back, for a call whose settlement never began; a `forwarded`
        request stays counted in request windows whatever the provider answered."""
        self.tasks.spawn(self._release(admitted, forwarded))

    async def _release(self, a: Admitted, forwarded: bool = False) -> None:
        """A release that keeps failing is left to the sweeper, which voids it: same money."""
        for attempt in range(RELEASE_ATTEMPTS):
            try:
                await self.store.release(
                    a.shard, a.account_id, a.request_id, keep_request=forwarded
                )
                return
            except HotStoreUnavailable as exc:
                log.warning("release attempt %d failed: %s", attempt + 1, exc)
                await asyncio.sleep(0.05 * 2**attempt)
        log.error("release of %s gave up; the sweeper will void it", a.request_id)

    def begin_stop(self, timeout_s: float) -> None:
        """Shutdown began (before open requests are waited for): every later `drain` shares
        this one budget, so DRAIN_TIMEOUT_S bounds the whole stop, not each step of it."""
        if self._stop_by is None:
            self._stop_by = asyncio.get_running_loop().time() + timeout_s

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Wait for owned tasks up to timeout_s (less what `begin_stop` left); cancel the
        rest, settle what they delivered, and spool what Redis still refuses."""
        if self._stop_by is not None:
            left = self._stop_by - asyncio.get_running_loop().time()
            timeout_s = max(0.0, min(timeout_s, left))
        await self.settlements.drain(timeout_s)

    def serving(self, admitted: Admitted) -> Serving:
        """Hold the reservation while serving; release it if serving fails before settling."""
        return Serving(self, admitted)


class Serving:
    """`Meter.serving`'s context: a class, since a generator-based one costs several times
    as much CPU and is entered on every proxied request."""

    __slots__ = ("_hold", "_meter")

    def __init__(self, meter: Meter, admitted: Admitted) -> None:
        self._meter = meter
        self._hold = Hold(admitted)

    async def __aenter__(self) -> Hold:
        self._meter.settlements.open(self._hold)
        return self._hold

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        hold = self._hold
        self._meter.settlements.let_go(hold)
        if kind is not None and not hold.settling:
            self._meter.release_later(hold.admitted, forwarded=hold.forwarded)


def _count_settled(model: str, usage: Usage, cost: int) -> None:
    m = metrics()
    tally = m.tally
    tally.count(m.spend, model, amount=cost)
    for kind, tokens in (
        ("input", usage.input_tokens),
        ("cached_input", usage.cached_input_tokens),
        ("cache_write", usage.cache_write_tokens),
        ("output", usage.output_tokens),
        ("reasoning", usage.reasoning_tokens),
    ):
        if tokens:
            tally.count(m.tokens, model, kind, amount=tokens)


def worst_case_micros(call: Call) -> int:
    """A call's tokens at their worst, before markup and fees: never more output than
    reserved (the provider enforces max_tokens, reasoning included), input at most
    INPUT_MARGIN x the gateway's count + INPUT_SLACK_TOKENS (the count is an estimate:
    another tokenizer, cache fields), at the requested tier's rates. Kept with a call that
    settles later (a background response, a batch), so its cap is the foreground one."""
    margin_input = call.input_tokens * INPUT_MARGIN + INPUT_SLACK_TOKENS
    return call.price.worst_case_micros(
        margin_input, call.max_output_tokens, call.service_tier, kinds=call.kinds
    )


def charge_cap(admitted: Admitted, worst_micros: int, fees_micros: int) -> int:
    """The most a call may be debited: its worst case with the built-in tool fees the
    provider reported, marked up by the account's markup as its charge is, and never less
    than its hold. A worst case of 0 (not known) caps it at the hold."""
    if worst_micros <= 0:
        return admitted.held_micros
    return max(admitted.held_micros, marked_up(worst_micros + fees_micros, admitted.markup_bps))


def priced_cap(admitted: Admitted, price: ModelPrice, usage: Usage, worst_micros: int) -> int:
    """The charge cap of a call settled by its model's price long after its request (a
    background response, a batch): `settle_priced` debits at most this, and a batch's line
    shares stop at it."""
    return charge_cap(admitted, worst_micros, price.fees_micros(usage.tool_runs))


def _cap(admitted: Admitted, call: Call, usage: Usage) -> int:
    return charge_cap(admitted, worst_case_micros(call), call.price.fees_micros(usage.tool_runs))
