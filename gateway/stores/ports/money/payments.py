"""Billing profiles, payment outcomes, applied provider events and refund claims: what the
payment use cases (`services/money/payment/payments.py` and its family) ask of their store, and the
values
crossing it. `stores/postgres/money/payments.py` and `refund_claims.py` implement it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from billing.money.payments import AutoTopup
from gateway.stores.records import EventRef, Row


@dataclass(frozen=True, slots=True)
class Profile:
    account_id: str
    provider: str
    customer_id: str
    method_on_file: bool
    subscription_id: str | None
    subscription_status: str | None
    period_end: datetime | None
    pending_plan: str | None
    grace_until: datetime | None
    auto_topup: AutoTopup | None
    auto_failures: int
    auto_off_reason: str | None


@dataclass(frozen=True, slots=True)
class LedgerMoney:
    """A ledger entry a provider's payment or refund caused (amount signed as posted)."""

    key: str
    account_id: str
    amount_micros: int
    kind: str


@dataclass(frozen=True, slots=True)
class RefundClaim:
    """A claim's outcome: `left` is what the payment had left for it (other refunds
    subtracted); `placed` whether it was claimed; `replay` whether its key claimed before."""

    left_micros: int
    placed: bool
    replay: bool


@dataclass(frozen=True, slots=True)
class ClaimState:
    """A placed claim: the provider's refund id once it answered, and the ledger entry
    that booked that refund once it is booked."""

    refund_id: str | None
    entry_id: int | None


class RefundClaimsPort(Protocol):
    async def claim(
        self,
        account_id: str,
        payment_id: str,
        paid_micros: int,
        key: str,
        amount: int,
        hold: Callable[[], Awaitable[object]] | None = None,
    ) -> RefundClaim:
        """Claim `amount` of a payment of `paid_micros` for `key`, if that much is left;
        `hold` is awaited under the payment's lock before a new claim is written."""
        ...

    async def claim_locked(
        self,
        account_id: str,
        payment_id: str,
        key: str,
        then: Callable[[ClaimState | None], Awaitable[None]],
    ) -> None:
        """Await `then` with the key's claim (None: none), under the payment's lock."""
        ...

    async def answered(self, account_id: str, key: str, refund_id: str) -> None:
        """The provider's refund for the key's claim: its booking is then counted once."""
        ...

    async def refunded(self, account_id: str, payment_ids: list[str]) -> dict[str, int]:
        """What has been refunded of each payment (booked refunds and lost disputes)."""
        ...

    async def drop(
        self,
        account_id: str,
        payment_id: str,
        key: str,
        then: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """Forget a claim the provider refused: nothing was refunded; `then` is awaited
        under the payment's lock once it is gone."""
        ...


class ReceiptNumbersPort(Protocol):
    async def number(self, account_id: str, payment_id: str) -> int:
        """The payment's receipt number, given the first time it is asked for."""
        ...

    async def numbers(self, payment_ids: list[str]) -> dict[str, int]:
        """The numbers already given to these payments."""
        ...


class PaymentsStorePort(Protocol):
    @property
    def refund_claims(self) -> RefundClaimsPort: ...

    @property
    def receipt_numbers(self) -> ReceiptNumbersPort: ...

    async def profile(self, account_id: str) -> Profile | None: ...

    async def create_profile(self, account_id: str, provider: str, customer_id: str) -> Profile:
        """Idempotent: a concurrent creator's profile wins and is returned."""
        ...

    async def set_method_on_file(
        self, account_id: str, on_file: bool, event: EventRef | None
    ) -> None: ...

    async def set_subscription(
        self,
        account_id: str,
        subscription_id: str | None,
        status: str | None,
        period_end: datetime | None,
        event: EventRef | None,
    ) -> None: ...

    async def set_pending_plan(self, account_id: str, plan: str | None) -> None: ...

    async def set_grace(
        self, account_id: str, until: datetime | None, event: EventRef | None
    ) -> None:
        """Open (until set) or close (None) a grace period; opening keeps an earlier end."""
        ...

    async def set_auto_topup(self, account_id: str, setting: AutoTopup | None) -> None: ...

    async def record_event(self, event: EventRef) -> bool:
        """Record a provider event once: False when it was applied before."""
        ...

    async def event_applied(self, provider: str, event_id: str) -> bool: ...

    async def record_payment(
        self,
        payment_id: str,
        account_id: str,
        purpose: str,
        amount: int,
        status: str,
        failure: str | None,
    ) -> None:
        """A later success overrides a failure (a retried payment); never the reverse."""
        ...

    async def payments(self, account_id: str, limit: int = 50) -> list[Row]: ...

    async def payment(self, account_id: str, payment_id: str) -> Row | None:
        """One of the account's payments; another account's reads as none."""
        ...

    async def payment_ids(self, since: datetime) -> set[str]: ...

    async def claim_auto_charge(self, account_id: str, month: datetime, now: datetime) -> bool:
        """Take the account's one in-flight slot if the month's cap allows one more charge."""
        ...

    async def unclaim_auto_charge(self, account_id: str) -> None:
        """Free the slot without charging (no longer due): the failure count stays."""
        ...

    async def release_auto_charge(self, account_id: str, *, failed: bool, limit: int) -> int:
        """Free the slot; count a failure (turning auto top-up off at `limit`) or reset."""
        ...

    async def last_failed_auto_charge(self, account_id: str) -> str | None:
        """The failed charge that turned auto top-up off (none is tried after it)."""
        ...

    async def graces_ending(self, before: datetime) -> list[tuple[str, datetime]]:
        """Open grace periods that end before `before`: (account, end)."""
        ...

    async def graces_over(self, now: datetime) -> list[str]: ...

    async def downgrades_due(self, now: datetime) -> list[tuple[str, str]]: ...

    async def ledger_payments(self, since: datetime) -> list[LedgerMoney]:
        """Ledger entries that say a provider moved money since `since`: credits of a
        recorded payment (key = payment id) and refunds (key = refund id)."""
        ...

    async def ledger_by_keys(self, keys: list[str]) -> dict[str, LedgerMoney]:
        """Credit and refund entries with these idempotency keys, whenever written."""
        ...


class LocalProviderStorePort(Protocol):
    """The local payments provider's own objects (JSON documents by kind, as a hosted
    provider's API objects) and its events, appended in order."""

    async def put(
        self, object_id: str, kind: str, account_id: str | None, data: dict[str, Any]
    ) -> None: ...

    async def get(self, object_id: str) -> dict[str, Any] | None: ...

    async def claim(self, object_id: str, expect: str, status: str) -> dict[str, Any] | None:
        """Move an object from status `expect` to `status` once (a double click pays once)."""
        ...

    async def of_kind(self, kind: str, since: datetime) -> list[dict[str, Any]]: ...

    async def of_account(self, kind: str, account_id: str) -> list[dict[str, Any]]: ...

    async def add_event(self, event_id: str, type_: str, object_id: str) -> datetime: ...

    async def events_since(self, since: datetime) -> list[Row]:
        """Events (`id`, `type`, `object_id`, `created_at`) from `since`, in order."""
        ...
