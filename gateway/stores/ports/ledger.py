"""The ledger's ports: the PostgreSQL money record and the outboxes written beside it.

What each call promises is in its docstring; every method raises only store errors
(`stores/errors.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol

from billing.grants import Grant
from billing.money.quotas import Quota
from billing.trust.alerts import Transition, UserAlert
from billing.usage.exports import Attempt, ExportRow
from gateway.stores.records import (
    NO_FILTER,
    OPERATOR_MINTED,
    CreditResult,
    EntryFilter,
    EventRef,
    GrantSpec,
    Lineage,
    PendingDebit,
    Row,
)


class LedgerPort(Protocol):
    """The PostgreSQL ledger: the record of truth. Each write is one transaction, and a
    unique constraint makes each write idempotent."""

    async def ping(self, timeout_s: float = 2.0) -> bool:
        """Whether the ledger answers within the timeout; never raises."""
        ...

    async def write_settlements(self, rows: Sequence[tuple[object, ...]]) -> int:
        """Append a batch of settled rows; rows already present are skipped. New rows."""
        ...

    async def create_account(self, account_id: str, name: str, plan: str, mode: str) -> None:
        """Insert a new account with a zero balance."""
        ...

    async def open_account(
        self, account_id: str, name: str, plan: str, mode: str, idempotency_key: str
    ) -> tuple[Row, bool]:
        """Insert a new account unless one was opened with `idempotency_key`; returns its
        row and whether this call created it."""
        ...

    async def account_by_idempotency_key(self, idempotency_key: str) -> Row | None:
        """The account opened with this key, or None."""
        ...

    async def get_account(self, account_id: str) -> Row | None:
        """The account's row, or None."""
        ...

    async def set_plan(
        self, account_id: str, plan: str, mode: str, billing_ready: bool
    ) -> Row | None:
        """Change an account's plan, mode and billing flag; the account as it is now (its
        own markup_bps with it), None if there is no account."""
        ...

    async def set_markup(self, account_id: str, markup_bps: int | None) -> Row | None:
        """Set (None: clear) an account's own markup over provider cost; the account as it
        is now, None if there is no account."""
        ...

    async def uncollected(self, account_id: str, limit: int = 100) -> list[Row]:
        """What the account's debits could not collect (the operator's receivables), newest
        first: request id, key, model, provider, amount, why, when."""
        ...

    async def set_credit_line(self, account_id: str, micros: int) -> Row | None:
        """Set an account's credit line (0: none; its balance may go down to -micros); the
        account as it is now, None if there is no account."""
        ...

    async def credit(
        self,
        account_id: str,
        amount: int,
        idempotency_key: str,
        reason: str,
        *,
        kind: str = "credit",
        event: EventRef | None = None,
        grant: GrantSpec | None = None,
        hold: Callable[[], Awaitable[object]] | None = None,
    ) -> CreditResult:
        """Append a credit once per idempotency key (a replay returns the first entry);
        raises DuplicateCredit when the key was used for another amount. kind="refund"
        posts a negative entry; `event` (the provider event that caused it) is recorded
        as applied in the same transaction, and so is the credit's grant (`grant`, a paid
        one by default; a refund's `refund_of` names the credit whose grant it returns to).
        `hold` is awaited under the account's lock before a new entry is written (never
        for a replay): money taken out is held there (services/money/out.py), and what it
        raises (BalanceTooLow) writes nothing."""
        ...

    async def credit_key_locked(
        self, account_id: str, key: str, then: Callable[[int | None], Awaitable[None]]
    ) -> None:
        """Await `then` with the id of the entry written under `key` (None: none), under the
        account's lock that `credit` writes under, so no entry of the key is written
        meanwhile."""
        ...

    async def create_key(
        self,
        *,
        key_id: str,
        account_id: str,
        name: str,
        key_hash: str,
        key_prefix: str,
        scopes: Sequence[str],
        models: Sequence[str],
        quotas: Sequence[Quota],
        on_insufficient: str | None,
        expires_at: datetime | None,
        providers: Sequence[str] = (),
        lineage: Lineage = OPERATOR_MINTED,
    ) -> None:
        """Record a key by its hash, with who minted it; the secret is never stored."""
        ...

    async def copy_key(self, old_id: str, new_id: str, key_hash: str, key_prefix: str) -> Row:
        """A new key with every column of `old_id` but those of PER_SECRET (rotation)."""
        ...

    async def keys_minted_under(self, key_id: str) -> list[Row]:
        """The live keys minted by `key_id` (or a secret it was rotated from), at any depth."""
        ...

    async def write_grants(self, grants: Mapping[str, Grant], revoke: Collection[str]) -> list[Row]:
        """Give each key its grant, revoking those in `revoke`, in one transaction; the rows."""
        ...

    async def get_key(self, key_id: str) -> Row | None:
        """The key's row, or None."""
        ...

    async def set_key_tags(self, key_id: str, tags: Mapping[str, str]) -> Row | None:
        """Replace a key's own tags; the key's row, or None."""
        ...

    async def revoke_key(self, key_id: str) -> Row | None:
        """Mark the key revoked (the first revocation time is kept); its row, or None."""
        ...

    async def entries(
        self,
        account_id: str,
        *,
        before: int | None,
        limit: int,
        filters: EntryFilter = NO_FILTER,
    ) -> list[Row]:
        """Ledger entries newest first, of the filters (each an index condition);
        `before` is the last id of the previous page."""
        ...


class MeteringLedgerPort(Protocol):
    """Service keys and metered usage in PostgreSQL (`stores/postgres/metering/metered.py`)."""

    async def create_service(
        self, service_id: str, name: str, key_hash: str, key_prefix: str, meters: Sequence[str]
    ) -> Row:
        """Record a service key by its hash; raises DuplicateService for a taken name."""
        ...

    async def revoke_service(self, service_id: str) -> Row | None:
        """Mark revoked; the row, or None."""
        ...

    async def active_services(self) -> list[Row]:
        """Every unrevoked service key (rebuild republishes them)."""
        ...

    async def meter_usage(
        self, account_id: str, since: datetime | None, until: datetime | None
    ) -> list[Row]:
        """The account's metered debits grouped by meter."""
        ...


class ExportLedgerPort(Protocol):
    """Per-row export state in PostgreSQL (`stores/postgres/usage/exports.py`)."""

    async def due(self, target: str, now: datetime, limit: int) -> list[ExportRow]:
        """Debits of accounts mapped at `target`, never exported (from the live ledger) or
        failed or pending and due (from their export rows, archived months included),
        oldest first."""
        ...

    async def mark(self, target: str, attempt: Attempt, now: datetime) -> None:
        """Record delivered, failed (due again after a backoff) and expired rows, each with
        its debit (the row `due` answered), so a retry needs no ledger row: retention may
        have archived its month by then."""
        ...

    async def set_customer(self, account_id: str, target: str, customer: str | None) -> None:
        """The account's id at `target` (Stripe customer, Lago external subscription);
        mapping an account makes every debit of it never tried there due."""
        ...

    async def counts(self, target: str, account_id: str | None = None) -> dict[str, int]:
        """Rows per export status (of one account, or of all)."""
        ...


class NotifyOutbox(Protocol):
    """Where other parts of Meterway (payments: payment.failed, grace_period.ending,
    auto_topup.disabled and their .resolved) hand an event to be notified. Delivery happens
    in the notifier worker, never on the caller's request path."""

    async def emit(
        self, account_id: str, event: str, data: Mapping[str, Any], dedup_key: str
    ) -> bool:
        """Queue `event` once per (event, dedup key); True if newly queued."""
        ...


class NotifyLedgerPort(NotifyOutbox, Protocol):
    """Alert state, thresholds and the outbox (`stores/postgres/notify.py`)."""

    async def accounts_to_check(self, name: str = "notifier") -> tuple[list[str], int]:
        """Accounts with ledger activity since the cursor `name` or an alert active."""
        ...

    async def save_cursor(self, value: int, name: str = "notifier") -> None: ...

    async def thresholds(self, account_ids: Sequence[str]) -> dict[str, int]: ...

    async def set_threshold(self, account_id: str, balance_low_micros: int) -> None: ...

    async def active(self, account_id: str) -> set[str]: ...

    async def apply(self, account_id: str, changes: Sequence[Transition]) -> None:
        """Record transitions with their outbox rows in one transaction."""
        ...

    async def due(self, now: datetime, limit: int = 100) -> list[Row]: ...

    async def delivered(
        self,
        outbox_id: int,
        error: str | None,
        next_at: datetime,
        delivered_to: Sequence[str] = (),
        final: bool = False,
    ) -> None:
        """Record an attempt; `delivered_to` names the senders that delivered it this time
        (kept with the row, so a retry goes only to the ones that have not); `final`: its
        error is one no retry mends, so the row is never picked again."""
        ...


class AccountAlertsPort(Protocol):
    """The alerts people set on their own account (`stores/postgres/trust/account_alerts.py`)."""

    async def create(
        self, account_id: str, alert: UserAlert, email: str | None, webhook_url: str | None
    ) -> tuple[Row, str | None]:
        """The stored alert, and its webhook's signing secret (shown once), if any."""
        ...

    async def of_account(self, account_id: str) -> list[Row]: ...

    async def delete(self, account_id: str, alert_id: str) -> bool:
        """False when the account has no such alert."""
        ...

    async def target(self, alert_id: str) -> Row | None:
        """email, webhook_url, webhook_secret; None once the alert was deleted."""
        ...

    async def of_accounts(self, account_ids: Sequence[str]) -> dict[str, list[UserAlert]]: ...

    async def spend(self, account_id: str, today: date) -> dict[str, int]:
        """Spend in today's UTC day ("day") and calendar month ("month")."""
        ...


class PendingDebitsPort(Protocol):
    """Debits a stopping gateway recorded as completed but unsettled, for the sweeper to
    apply (never void)."""

    async def oldest(self, limit: int = 200) -> list[PendingDebit]: ...

    async def done(self, request_id: str) -> None: ...

    async def debited(self, request_id: str) -> bool:
        """Whether the ledger has a debit of the request."""
        ...
