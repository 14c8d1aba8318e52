"""The ports: what the rest of Meterway may ask of its stores, and what each call promises.

Services, handlers and workers depend on these Protocols, never on a Redis or asyncpg
client; `stores/redis/hotstore.py` and `stores/postgres/ledger.py` implement them, and unit
tests hand in fakes. Every method raises only store errors (`stores/errors.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol

from billing.admission import Decision
from billing.alerts import Transition
from billing.exports import ExportRow, Outcome
from billing.quotas import Quota
from gateway.stores.records import (
    Backlog,
    CreditResult,
    EventRef,
    Extended,
    KeyRecord,
    MeterClosed,
    MeterHold,
    MeterOpen,
    OpenHold,
    OwnedResponse,
    Row,
    ServiceRecord,
    Settlement,
    WindowCount,
)

MeterDecision = Decision | MeterClosed | MeterOpen


class KeyDirectory(Protocol):
    async def lookup_key(self, key_hash: str) -> KeyRecord | None:
        """The key whose secret hashes to `key_hash`, or None. Revocation and expiry are
        not judged here: the reserve step checks them on every request."""
        ...


class Reservations(Protocol):
    """Reserve before forwarding, close after: each close happens at most once."""

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
    ) -> Decision:
        """Atomically check the key, every quota window and the balance, and hold the
        worst case. Admitted means the hold is in place; any refusal holds nothing.
        `mode` "check" runs every check and holds nothing; "key" checks only the key."""
        ...

    async def settle(
        self, shard: int, account_id: str, request_id: str, settlement: Settlement
    ) -> int:
        """Replace the hold by the actual cost and queue the ledger row in the same atomic
        step. 0 when the reservation was already closed (a retry is harmless); 2 when it had
        been voided (the gateway could not reach Redis in time): the usage is debited anyway."""
        ...

    async def extend(self, shard: int, request_id: str) -> bool:
        """Push a live reservation's deadline to now + its lifetime, while its request is
        still being served; False once it is closed."""
        ...

    async def release(
        self, shard: int, account_id: str, request_id: str, *, keep_request: bool = False
    ) -> bool:
        """Give back everything the reservation held; nothing is billed or queued.
        `keep_request`: the request was forwarded, so it stays counted in request windows."""
        ...


class HotStorePort(KeyDirectory, Reservations, Protocol):
    """The Redis hot store: balances, holds, quota counters, keys, and the settlement queue."""

    @property
    def meters(self) -> MeterHoldsPort:
        """Metered holds on the same reservation engine."""
        ...

    async def void(self, shard: int, account_id: str, request_id: str) -> bool:
        """Close a reservation its gateway abandoned; the ledger records it as voided."""
        ...

    async def apply_credit(self, account_id: str, entry_id: int, amount_micros: int) -> int:
        """Add a committed ledger credit to the hot balance once per entry id; the balance."""
        ...

    async def put_account(
        self, account_id: str, *, plan: str, mode: str, billing_ready: bool, quotas: Sequence[Quota]
    ) -> None:
        """Create or update an account's hot record; its balance and holds are untouched."""
        ...

    async def put_key(
        self,
        record: KeyRecord,
        key_hash: str,
        *,
        active: bool,
        expires_at_ms: int,
        quotas: Sequence[Quota],
    ) -> None:
        """Publish a key so the next request on any gateway process can use it."""
        ...

    async def set_key_quotas(self, shard: int, key_id: str, quotas: Sequence[Quota]) -> None:
        """A key's own quota limits, live on the next request."""
        ...

    async def revoke_key(self, shard: int, key_id: str) -> None:
        """Refuse the key from the next request on, on every gateway process."""
        ...

    async def key_is_live(self, shard: int, key_id: str) -> bool:
        """Active and not expired, judged as the reserve step judges it (same clock)."""
        ...

    async def set_key_expiry(self, shard: int, key_id: str, expires_at_ms: int) -> None:
        """A key's expiry (ms on the store clock), live on the next request."""
        ...

    async def balance(self, account_id: str) -> tuple[int, int] | None:
        """(balance, held) in micros, or None if the account is not in Redis."""
        ...

    async def set_grace(self, account_id: str, until_ms: int | None) -> None:
        """Mark (or clear) an open payment grace period, so a 402 can say payment_failed."""
        ...

    async def in_grace(self, account_id: str) -> bool:
        """Whether the account is in a payment grace period (read on the refusal path only)."""
        ...

    async def set_auto_threshold(self, account_id: str, threshold: int | None) -> None:
        """The auto top-up threshold rides in the hot record: one read after a settlement."""
        ...

    async def auto_threshold(self, account_id: str) -> int | None:
        """The account's auto top-up threshold, or None when auto top-up is off."""
        ...

    async def account_quotas(self, account_id: str) -> tuple[Quota, ...]:
        """The quota limits the reserve step applies to this account now."""
        ...

    async def window_counts(
        self, shard: int, scope: str, owner_id: str, quotas: Sequence[Quota]
    ) -> list[WindowCount]:
        """Current use of each quota window of an account (scope 'a') or key ('k')."""
        ...

    async def now_ms(self) -> int:
        """The clock the scripts decide on (Redis time, plus the test offset if enabled)."""
        ...

    def tz_offset_ms(self) -> str:
        """UTC offset of the quota time zone now, as the reserve script takes it."""
        ...

    async def consistent(self) -> bool:
        """Whether Redis is known to hold the ledger's state (every shard marked ready)."""
        ...

    async def mark_ready(self) -> None:
        """Declare Redis restored from the ledger: the reserve step starts admitting."""
        ...

    async def backlog(self) -> Backlog:
        """Settlements queued in the streams and not yet written to the ledger."""
        ...

    async def settled_total(self) -> int:
        """Ledger rows written by every settler process so far (for /metrics)."""
        ...


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

    async def get_account(self, account_id: str) -> Row | None:
        """The account's row, or None."""
        ...

    async def set_plan(self, account_id: str, plan: str, mode: str, billing_ready: bool) -> bool:
        """Change an account's plan, mode and billing flag; False if there is no account."""
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
    ) -> CreditResult:
        """Append a credit once per idempotency key (a replay returns the first entry);
        raises DuplicateCredit when the key was used for another amount. kind="refund"
        posts a negative entry; `event` (the provider event that caused it) is recorded
        as applied in the same transaction."""
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
    ) -> None:
        """Record a key by its hash; the secret is never stored."""
        ...

    async def get_key(self, key_id: str) -> Row | None:
        """The key's row, or None."""
        ...

    async def revoke_key(self, key_id: str) -> Row | None:
        """Mark the key revoked (the first revocation time is kept); its row, or None."""
        ...

    async def set_key_quotas(self, key_id: str, quotas: Sequence[Quota]) -> Row | None:
        """Replace the key's quotas; its row, or None."""
        ...

    async def entries(self, account_id: str, *, before: int | None, limit: int) -> list[Row]:
        """Ledger entries newest first; `before` is the last id of the previous page."""
        ...


class DirectoryPort(Protocol):
    """Finding accounts, keys and requests for the account and operator APIs (not the proxy)."""

    async def account_by_external_id(self, external_id: str) -> Row | None:
        """The account whose external id (the identity provider's `sub`) this is."""
        ...

    async def set_external_id(self, account_id: str, external_id: str | None) -> bool:
        """Raises DuplicateExternalId when another account has it; False if no account."""
        ...

    async def search_accounts(
        self, *, query: str | None, plan: str | None, after: str | None, limit: int
    ) -> list[Row]:
        """By name prefix, exact id or external id, and plan; in id order after `after`."""
        ...

    async def keys_of(self, account_id: str, *, include_revoked: bool) -> list[Row]:
        """An account's keys with `last_used_at` and `month_spend_micros` from the rollups."""
        ...

    async def key_with_use(self, key_id: str) -> Row | None:
        """One key with the same use columns, or None."""
        ...

    async def set_key_expiry(self, key_id: str, expires_at: datetime) -> None:
        """Bring a key's expiry forward to `expires_at` (never later than it was)."""
        ...

    async def mark_rotated(self, new_key_id: str, old_key_id: str) -> None:
        """Record that `new_key_id` replaced `old_key_id`."""
        ...

    async def request_entry(self, account_id: str, request_id: str) -> Row | None:
        """The ledger row of one settled request of this account, or None."""
        ...

    async def usage_report(
        self,
        account_id: str,
        start: date,
        end: date,
        group_by: str,
        *,
        model: str | None = None,
        key_id: str | None = None,
        meter: str | None = None,
    ) -> list[Row]:
        """Sums per bucket (day, model or key) over [start, end) from the rollups only,
        optionally of one model, key and/or meter."""
        ...


class RevocationsPort(Protocol):
    """Revoked user tokens, visible to every gateway process on its next verification."""

    async def revoke_token(self, jti: str, remaining_s: int) -> None:
        """Refuse this jti until the token would have expired anyway."""
        ...

    async def revoke_subject(self, subject: str) -> int:
        """Refuse every token of `subject` issued up to now; the cut-off in ms."""
        ...

    async def is_revoked(self, subject: str, jti: str | None, issued_at: int) -> bool:
        """Whether this token was revoked by jti or by a revoke-all of its subject."""
        ...


class ResponseOwners(Protocol):
    """Who created each Responses API response, and the background ones still running."""

    async def record(self, owned: OwnedResponse, poll_at_ms: int) -> None:
        """Remember the owner; a pending response is due a poll from `poll_at_ms` on."""
        ...

    async def get(self, response_id: str) -> OwnedResponse | None: ...

    async def settled(self, response_id: str) -> None:
        """Its reservation is closed: never polled again; the owner is kept."""
        ...

    async def due(self, now_ms: int, limit: int = 100) -> list[str]:
        """Ids of pending responses whose poll time has come."""
        ...

    async def poll_later(self, response_id: str, at_ms: int) -> None: ...

    async def hold(self, owned: OwnedResponse, until_ms: int) -> None:
        """Move the open reservation's deadline so the sweeper does not void it."""


class MeterHoldsPort(Protocol):
    """Metered holds on the reservation engine (`stores/redis/meter_holds.py`): the same
    reserve and settle scripts, stream and ledger as LLM calls."""

    async def hold(self, h: MeterHold) -> MeterDecision:
        """Reserve in one round trip; refusals hold nothing. An id already open answers
        MeterOpen, one already closed MeterClosed: a metered id is charged at most once."""
        ...

    async def open_hold(self, request_id: str) -> OpenHold | None:
        """The open hold behind a metered id, or None once closed (or never made)."""
        ...

    async def settle(self, request_id: str, quantity: int, cost_micros: int) -> bool:
        """Debit and queue the ledger row atomically; False when already closed."""
        ...

    async def release(self, request_id: str) -> bool:
        """Give back the hold; nothing is billed. False when already closed."""
        ...

    async def expire(self, request_id: str) -> bool:
        """Close by the meter's expiry policy (charge the hold, or void)."""
        ...

    async def closed(self, request_id: str) -> MeterClosed | None:
        """How a metered id was closed, while its closed marker lasts."""
        ...

    async def extend(
        self, request_id: str, service: str, *, ttl_ms: int, max_quantity: int, hold_micros: int
    ) -> Extended | Decision | None:
        """New deadline now + ttl; a larger max quantity is held and counted or refused.
        None when the id is not open for this service."""
        ...

    async def put_service(self, key_hash: str, record: ServiceRecord | None) -> None:
        """Publish a service key to every gateway process, or withdraw it (None)."""
        ...

    async def lookup_service(self, key_hash: str) -> ServiceRecord | None:
        """The service whose key hashes to `key_hash`, or None."""
        ...


class MeteringLedgerPort(Protocol):
    """Service keys and metered usage in PostgreSQL (`stores/postgres/metering.py`)."""

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
    """Per-row export state in PostgreSQL (`stores/postgres/exports.py`)."""

    async def due(self, target: str, now: datetime, limit: int) -> list[ExportRow]:
        """Debits of accounts mapped at `target`, never exported or failed and due, oldest
        first."""
        ...

    async def mark(
        self, target: str, outcomes: Sequence[Outcome], expired: Sequence[int], now: datetime
    ) -> None:
        """Record delivered, failed (due again after a backoff) and expired rows."""
        ...

    async def set_customer(self, account_id: str, target: str, customer: str | None) -> None:
        """The account's id at `target` (Stripe customer, Lago external subscription)."""
        ...

    async def counts(self, target: str, account_id: str | None = None) -> dict[str, int]:
        """Rows per export status (of one account, or of all)."""
        ...


class SessionsPort(Protocol):
    """Dashboard sign-ins, shared by every gateway process; each expires on its own."""

    async def create(self, digest: str, data: dict[str, object], ttl_s: int) -> None:
        """Keep `data` under `digest` (the cookie's hash, never the cookie) for `ttl_s`."""
        ...

    async def get(self, digest: str) -> dict[str, object] | None:
        """The session's data, or None when it ended or never began."""
        ...

    async def delete(self, digest: str) -> None:
        """End the session at once (sign-out)."""
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

    async def accounts_to_check(self) -> tuple[list[str], int]: ...

    async def save_cursor(self, value: int) -> None: ...

    async def thresholds(self, account_ids: Sequence[str]) -> dict[str, int]: ...

    async def set_threshold(self, account_id: str, balance_low_micros: int) -> None: ...

    async def active(self, account_id: str) -> set[str]: ...

    async def apply(self, account_id: str, changes: Sequence[Transition]) -> None:
        """Record transitions with their outbox rows in one transaction."""
        ...

    async def due(self, now: datetime, limit: int = 100) -> list[Row]: ...

    async def delivered(self, outbox_id: int, error: str | None, next_at: datetime) -> None: ...
