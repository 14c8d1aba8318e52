"""Catching up with the provider: replay its events, reconcile its money with the ledger.

Both go through the payments port, so they work the same for Stripe and the local provider.
Replay applies each event the gateway has not recorded through the webhook's own path
(services/money/payment/events.py), so a payment that was already credited is not credited again
(the credit's key is the payment id). Reconcile only reads: it compares what the provider
says was paid and refunded with what the ledger holds, both ways.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.services.money.payment.events import NOTHING_DONE, apply_event
from gateway.services.money.payment.payments import Payments
from gateway.services.money.payment.port import ProviderEvent, ProviderUnavailable, UnknownObject
from gateway.stores.errors import StoreError
from gateway.stores.ports.money.payments import LedgerMoney

ALREADY = "already applied"


@dataclass(frozen=True, slots=True)
class Replayed:
    event: ProviderEvent
    outcome: str  # what apply_event did, ALREADY, or "error: ..."

    @property
    def failed(self) -> bool:
        return self.outcome.startswith("error")

    @property
    def ignored(self) -> bool:
        """Applied just now, but it changed nothing (an event kind the gateway does not use)."""
        return self.outcome in NOTHING_DONE


@dataclass(frozen=True, slots=True)
class Difference:
    """One payment or refund on which the provider and the ledger disagree."""

    problem: str  # missing in ledger | unknown to provider | amount differs
    what: str  # payment | refund
    id: str
    account_id: str
    provider_micros: int | None  # as the ledger should hold it (refunds negative)
    ledger_micros: int | None


async def replay(p: Payments, since: datetime) -> list[Replayed]:
    """Apply the provider's events since `since` that were never applied, oldest first."""
    done = []
    for event in await p.provider.events_since(since):
        if await p.profiles.event_applied(p.provider.name, event.id):
            done.append(Replayed(event, ALREADY))
            continue
        try:
            outcome = await apply_event(p, event)
        except (ProviderUnavailable, StoreError, LookupError, ValueError) as exc:
            outcome = f"error: {type(exc).__name__}: {exc}"
        done.append(Replayed(event, outcome))
    return done


async def reconcile(p: Payments, since: datetime) -> list[Difference]:
    """Succeeded payments and refunds since `since`, the provider's against the ledger's."""
    expected = await _provider_money(p, since)
    ledger = await p.profiles.ledger_by_keys(list(expected))
    found = []
    for key, (what, account, amount) in expected.items():
        entry = ledger.get(key)
        if entry is None:
            found.append(Difference("missing in ledger", what, key, account, amount, None))
        elif entry.amount_micros != amount:
            found.append(
                Difference("amount differs", what, key, account, amount, entry.amount_micros)
            )
    for entry in await p.profiles.ledger_payments(since):
        if entry.key not in expected and not await _provider_knows(p, entry):
            found.append(
                Difference(
                    "unknown to provider",
                    "refund" if entry.kind == "refund" else "payment",
                    entry.key,
                    entry.account_id,
                    None,
                    entry.amount_micros,
                )
            )
    return found


async def _provider_money(p: Payments, since: datetime) -> dict[str, tuple[str, str, int]]:
    """key -> (payment | refund, account, amount as the ledger should hold it)."""
    money = {
        s.id: ("payment", s.account_id, s.amount_micros)
        for s in await p.provider.payments_since(since)
        if s.status == "succeeded"
    }
    for r in await p.provider.refunds_since(since):
        money[r.id] = ("refund", r.account_id, -r.amount_micros)
    return money


async def _provider_knows(p: Payments, entry: LedgerMoney) -> bool:
    """An entry older than the provider's listing window: ask for the object itself."""
    try:
        return await _matches(p, entry)
    except UnknownObject:
        return False


async def _matches(p: Payments, entry: LedgerMoney) -> bool:
    if entry.kind == "refund":
        refunds = await p.provider.refunds(entry.key)
        return any(r.id == entry.key and -r.amount_micros == entry.amount_micros for r in refunds)
    state = await p.provider.payment(entry.key)
    return (
        state is not None
        and state.status == "succeeded"
        and (state.amount_micros == entry.amount_micros)
    )
