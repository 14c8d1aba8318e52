"""Reserve before forwarding, settle after: the bridge between a proxied call and the store.

Settlement is awaited before the answer goes out, so a cost a client is shown has been
debited; releases of failed calls run as tracked background tasks that shutdown drains. A
reservation a crash leaves open is voided by the sweeper.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from billing.admission import (
    Admitted,
    BalanceRefused,
    Decision,
    KeyRefused,
    NotReady,
    QuotaRefused,
)
from billing.answers import balance_answer, quota_answer
from billing.plans import PlanBook
from billing.pricing import ModelPrice
from billing.usage import Usage
from gateway.errors import (
    BillingRequired,
    InvalidApiKey,
    PermissionDenied,
    QuotaExceeded,
    ServiceUnavailable,
)
from gateway.llm.calls import Call
from gateway.stores.errors import HotStoreUnavailable
from gateway.stores.ports import Reservations
from gateway.stores.records import KeyRecord, Settlement

log = logging.getLogger("meterway.metering")
KEY_MESSAGES = {
    "key_revoked": "This API key has been revoked.",
    "key_expired": "This API key has expired.",
    "key_invalid": "Incorrect API key provided.",
}
SETTLE_ATTEMPTS = 5


class Meter:
    def __init__(self, store: Reservations, plans: PlanBook, billing_url: str) -> None:
        self.store = store
        self.plans = plans
        self.billing_url = billing_url
        self._tasks: set[asyncio.Task[Any]] = set()

    async def admit(self, request_id: str, key: KeyRecord, call: Call) -> tuple[Admitted, Call]:
        """Reserve the call's worst case or raise the error the client should see.

        Returns the call as admitted: a clamping plan may have lowered its max tokens.
        """
        decision = await self._reserve(request_id, key, call)
        if isinstance(decision, BalanceRefused):
            affordable = self._clamp_to(key, call, decision)
            if affordable is not None:
                call = call.clamped(affordable)
                decision = await self._reserve(request_id, key, call)
        if not isinstance(decision, Admitted):
            raise self._refusal(decision, key, call)
        plan = self.plans.get(decision.plan)
        if plan is not None and not plan.allows_model(call.price.name):
            self.release_later(decision)
            raise PermissionDenied(
                f"The model '{call.price.name}' is not included in the {plan.name} plan.",
                param="model",
                extra={"upgrade": self._model_upgrade(plan.rank, call)},
            )
        return decision, call

    async def precheck(self, request_id: str, key: KeyRecord, *, key_only: bool = False) -> None:
        """Before the body is read, validated or tokenized: the key is live (not revoked or
        expired), metering is ready, and (unless `key_only`) no request window is full and the
        balance covers the cheapest request (one micro). A key that cannot be served costs no
        counting, and learns nothing about the request it sent."""
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
            raise self._refusal(decision, key, None)

    async def _reserve(self, request_id: str, key: KeyRecord, call: Call) -> Decision:
        return await self._call(
            self.store.reserve(
                request_id,
                key,
                input_tokens=call.input_tokens,
                max_output_tokens=call.max_output_tokens,
                spend_micros=call.worst_case_micros,
            )
        )

    async def _call(self, reserve: Awaitable[Decision]) -> Decision:
        try:
            return await reserve
        except HotStoreUnavailable as exc:
            log.error("reserve failed, refusing unmetered work: %s", exc)
            raise ServiceUnavailable(
                "Metering is unavailable; the request was not sent.", retry_after_s=1
            ) from exc

    def _clamp_to(self, key: KeyRecord, call: Call, refusal: BalanceRefused) -> int | None:
        plan = self.plans.get(refusal.plan)
        policy = key.on_insufficient or (plan.on_insufficient if plan else "refuse")
        if (
            policy != "clamp"
            or refusal.reason != "insufficient_balance"
            or not call.endpoint.clamps
        ):
            return None
        fits = call.price.affordable_output_tokens(call.input_tokens, refusal.available_micros)
        minimum = plan.clamp_min_tokens if plan else 16
        return fits if minimum <= fits < call.max_output_tokens else None

    def _model_upgrade(self, rank: int, call: Call) -> dict[str, object] | None:
        for plan in sorted(self.plans.plans.values(), key=lambda p: p.rank):
            if plan.rank > rank and plan.allows_model(call.price.name):
                return {"plan": plan.name}
        return None

    def _refusal(self, decision: Decision, key: KeyRecord, call: Call | None) -> Exception:
        if isinstance(decision, QuotaRefused):
            message, extra, retry = quota_answer(decision, self.plans, decision.now_ms)
            return QuotaExceeded(
                message, extra=extra, retry_after_s=retry.after_s, should_retry=retry.should_retry
            )
        if isinstance(decision, BalanceRefused):
            affordable = None if call is None else _affordable(call, decision)
            required = 1 if call is None else call.worst_case_micros
            message, extra = balance_answer(decision, required, affordable, self.billing_url)
            return BillingRequired(message, extra=extra)
        if isinstance(decision, NotReady):
            return ServiceUnavailable(
                "Metering state is being restored (run `meterway rebuild`); request not sent.",
                retry_after_s=5,
            )
        assert isinstance(decision, KeyRefused)
        return InvalidApiKey(
            KEY_MESSAGES.get(decision.reason, "Invalid API key."), extra={"reason": decision.reason}
        )

    async def settle(self, admitted: Admitted, call: Call, usage: Usage) -> int:
        """Settle before answering, so a cost the client is shown is a cost Redis debited.

        Callers run inside the proxy's shielded task: a client leaving does not cancel this.
        """
        return await self.settle_priced(admitted, call.price, usage)

    async def settle_priced(self, admitted: Admitted, price: ModelPrice, usage: Usage) -> int:
        """Settle a reservation by its model's price: a background response settles long after
        its request, when the gateway first sees it finished."""
        cost = price.cost_micros(usage)
        settlement = Settlement(price.name, price.provider, usage, cost)
        a = admitted
        await self._retry(
            lambda: self.store.settle(a.shard, a.account_id, a.request_id, settlement)
        )
        return cost

    def release_later(self, admitted: Admitted) -> None:
        a = admitted
        self._spawn(lambda: self.store.release(a.shard, a.account_id, a.request_id))

    def _spawn(self, op: Callable[[], Awaitable[bool]]) -> None:
        task = asyncio.get_running_loop().create_task(self._retry(op))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _retry(self, op: Callable[[], Awaitable[bool]]) -> None:
        """Settle survives a Redis blip; what still fails is voided by the sweeper later."""
        for attempt in range(SETTLE_ATTEMPTS):
            try:
                await op()
                return
            except HotStoreUnavailable as exc:
                log.warning("settle attempt %d failed: %s", attempt + 1, exc)
                await asyncio.sleep(0.05 * 2**attempt)
        log.error("settle gave up; the sweeper will void the reservation")

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _affordable(call: Call, refusal: BalanceRefused) -> int | None:
    """The max_tokens the balance would cover, when lowering it would help."""
    if not call.endpoint.clamps:
        return None
    fits = call.price.affordable_output_tokens(call.input_tokens, refusal.available_micros)
    return fits if 0 < fits < call.max_output_tokens else None
