"""Metered work from other services: authorize, extend, settle, release.

The same engine as a proxied LLM call: one reserve.lua round trip holds the worst case
(max quantity x price) against the balance and every quota window, settle.lua debits the
actual quantity and queues the ledger row, the sweeper closes what expires (charged at the
hold or voided, per meter). Refusals are the proxy's own 402 and 429 answers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from billing.money.admission import Admitted, BalanceRefused, Decision, KeyRefused, QuotaRefused
from billing.money.answers import balance_answer, quota_answer
from billing.money.next_step import Links
from billing.money.plans import PlanBook
from billing.pricing.meters import Meter, MeterBook
from gateway.errors import (
    BillingRequired,
    Conflict,
    IdempotencyConflict,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    ServiceUnavailable,
)
from gateway.services.auth import KEY_PREFIX, hash_key
from gateway.stores.meter_records import (
    Extended,
    MeterClosed,
    MeterHold,
    MeterOpen,
    OpenHold,
    ServiceRecord,
)
from gateway.stores.ports import KeyDirectory, MeterDecision, MeterHoldsPort
from gateway.stores.ports.hot import shard_of

MAX_TTL_S = 7 * 86_400


@dataclass(frozen=True, slots=True)
class Target:
    """Whose credit: an account by id, or the account behind a user's API key."""

    account_id: str
    key_id: str = ""


@dataclass(frozen=True, slots=True)
class Asked:
    """What an authorization asked for, compared with the hold a retry of its key finds."""

    target: Target
    meter: str
    max_quantity: int
    key: str


@dataclass(frozen=True, slots=True)
class Authorization:
    id: str
    account_id: str
    meter: str
    max_quantity: int
    held_micros: int
    expires_at_ms: int
    replay: bool = False


@dataclass(frozen=True, slots=True)
class Settled:
    id: str
    status: str  # settled | released | voided
    quantity: int
    cost_micros: int
    replay: bool


def metered_id(kind: str, service: str, account_id: str, idempotency_key: str) -> str:
    """Stable per (service, account, idempotency key): a retry names the same hold."""
    digest = hashlib.sha256(f"{service}|{account_id}|{idempotency_key}".encode()).hexdigest()
    return f"{kind}_{shard_of(account_id)}_{digest[:32]}"


def refusal(decision: Decision, plans: PlanBook, required: int, links: Links) -> Exception:
    """The proxy's answers for the same decisions, so clients handle both alike."""
    if isinstance(decision, QuotaRefused):
        message, extra, retry = quota_answer(decision, plans, decision.now_ms, links)
        return QuotaExceeded(
            message, extra=extra, retry_after_s=retry.after_s, should_retry=retry.should_retry
        )
    if isinstance(decision, BalanceRefused):
        message, extra = balance_answer(decision, required, None, links)
        return BillingRequired(message, extra=extra)
    if isinstance(decision, KeyRefused):
        if decision.reason == "key_invalid":
            return NotFound("No such account, or the API key does not belong to it.")
        return PermissionDenied(
            f"The user's API key is not usable ({decision.reason}).", param="api_key"
        )
    return ServiceUnavailable(
        "Metering state is being restored; nothing was authorized.", retry_after_s=5
    )


class Metering:
    def __init__(
        self,
        holds: MeterHoldsPort,
        keys: KeyDirectory,
        meters: MeterBook,
        plans: PlanBook,
        links: Links,
    ) -> None:
        self.holds = holds
        self.keys = keys
        self.meters = meters
        self.plans = plans
        self.links = links

    def meter_for(self, service: ServiceRecord, name: str) -> Meter:
        meter = self.meters.get(name)
        if meter is None:
            raise NotFound(f"Unknown meter '{name}'.", param="meter")
        if name not in service.meters:
            raise PermissionDenied(
                f"Service '{service.name}' may not charge meter '{name}'.", param="meter"
            )
        return meter

    async def target(self, account_id: str | None, api_key: str | None) -> Target:
        if api_key is None:
            return Target(str(account_id))
        record = None
        if api_key.startswith(KEY_PREFIX):
            record = await self.keys.lookup_key(hash_key(api_key))
        if record is None:
            raise NotFound("Unknown user API key.", param="api_key")
        return Target(record.account_id, record.key_id)

    async def authorize(
        self,
        service: ServiceRecord,
        target: Target,
        meter: Meter,
        max_quantity: int,
        idempotency_key: str,
        ttl_s: int,
        *,
        metadata: bytes = b"",
    ) -> Authorization:
        """Hold max_quantity's cost; `metadata` (compact JSON) rides with the hold into the
        ledger row its settlement or expiry writes."""
        rid = metered_id("mtr", service.name, target.account_id, idempotency_key)
        hold = meter.cost_micros(max_quantity)
        decision = await self.holds.hold(
            MeterHold(
                rid,
                target.account_id,
                target.key_id,
                meter.name,
                max_quantity,
                hold,
                service.name,
                ttl_s * 1000,
                meter.on_expiry == "charge",
                metadata=metadata,
            )
        )
        asked = Asked(target, meter.name, max_quantity, idempotency_key)
        return await self._authorized(rid, meter, decision, asked, ttl_s)

    async def _authorized(
        self, rid: str, meter: Meter, decision: MeterDecision, asked: Asked, ttl_s: int
    ) -> Authorization:
        hold = meter.cost_micros(asked.max_quantity)
        if isinstance(decision, Admitted):
            expires = decision.now_ms + ttl_s * 1000
            return Authorization(
                rid, decision.account_id, meter.name, asked.max_quantity, hold, expires
            )
        if isinstance(decision, MeterOpen):
            return await self._replay(rid, asked)
        if isinstance(decision, MeterClosed):
            raise Conflict(
                f"This idempotency_key names an authorization already {decision.kind}ed.",
                param="idempotency_key",
            )
        raise refusal(decision, self.plans, hold, self.links)

    async def _replay(self, rid: str, asked: Asked) -> Authorization:
        """The open hold a retry names, unless it was made for another target or meter, or
        for less than this retry asks (an extension only raises a hold's quantity)."""
        held = await self.holds.open_hold(rid)
        if held is None:
            raise Conflict("This authorization was closed meanwhile.", param="idempotency_key")
        first = f"an authorization of {held.max_quantity} {held.meter} for {held.account_id}"
        same = (held.meter, held.key_id) == (asked.meter, asked.target.key_id)
        if not same or held.max_quantity < asked.max_quantity:
            this = f"{asked.max_quantity} {asked.meter}"
            raise IdempotencyConflict(asked.key, first, this)
        return Authorization(
            rid, held.account_id, held.meter, held.max_quantity, held.held_micros, 0, True
        )

    async def open_hold(self, service: ServiceRecord, rid: str) -> OpenHold | None:
        held = await self.holds.open_hold(rid)
        return held if held is not None and held.service == service.name else None

    async def extend(
        self, service: ServiceRecord, rid: str, ttl_s: int, max_quantity: int | None
    ) -> Authorization:
        held = await self.open_hold(service, rid)
        if held is None:
            raise NotFound("No open authorization with this id.")
        meter = self.meter_for(service, held.meter)
        quantity = max(max_quantity or 0, held.max_quantity)
        hold = meter.cost_micros(quantity)
        result = await self.holds.extend(
            rid, service.name, ttl_ms=ttl_s * 1000, max_quantity=quantity, hold_micros=hold
        )
        if result is None:
            raise NotFound("No open authorization with this id.")
        if not isinstance(result, Extended):
            raise refusal(result, self.plans, hold - held.held_micros, self.links)
        expires = result.now_ms + ttl_s * 1000
        return Authorization(
            rid, held.account_id, meter.name, result.max_quantity, result.held_micros, expires
        )

    async def settle(self, service: ServiceRecord, rid: str, quantity: int) -> Settled:
        """Debit the used quantity; at most the hold unless the meter allows overage."""
        held = await self.open_hold(service, rid)
        if held is not None:
            meter = self.meter_for(service, held.meter)
            used = quantity if meter.allow_overage else min(quantity, held.max_quantity)
            cost = meter.cost_micros(used)
            if await self.holds.settle(rid, used, cost, asked=quantity):
                return Settled(rid, "settled", used, cost, False)
        return await self._closed(rid, "debit", quantity)

    async def release(self, service: ServiceRecord, rid: str) -> Settled:
        """Give the whole hold back: the work did not happen; nothing is billed."""
        held = await self.open_hold(service, rid)
        if held is not None and await self.holds.release(rid):
            return Settled(rid, "released", 0, 0, False)
        return await self._closed(rid, "release")

    async def _closed(self, rid: str, wanted: str, asked: int | None = None) -> Settled:
        """A retry of a close that already happened answers what happened, once; a settle
        asking for another quantity than the one that closed it is a conflict, not a retry."""
        closed = await self.holds.closed(rid)
        if closed is None:
            raise NotFound("No open authorization with this id.")
        if closed.kind != wanted:
            raise Conflict(f"This authorization was already {STATUS[closed.kind]}.")
        if closed.asked is not None and asked is not None and closed.asked != asked:
            raise Conflict(
                f"This authorization was already settled for a quantity of {closed.asked};"
                f" this settle asks for {asked}.",
                param="quantity",
            )
        return Settled(rid, STATUS[closed.kind], closed.quantity, closed.cost_micros, True)


STATUS = {"debit": "settled", "release": "released", "void": "voided"}
