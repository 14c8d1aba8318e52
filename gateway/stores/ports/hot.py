"""The hot store's ports: key lookup, reservations and the counters the proxy keeps in Redis.

What each call promises is in its docstring; every method raises only store errors
(`stores/errors.py`).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Protocol

from billing.money.admission import Decision
from billing.money.next_step import FullWindow
from billing.money.quotas import Quota
from gateway.stores.ports.cache import CacheEntriesPort
from gateway.stores.ports.contracts.commitments import CommitmentHotPort
from gateway.stores.ports.metering.metered import MeterHoldsPort
from gateway.stores.ports.money.out import MoneyOutPort
from gateway.stores.records import (
    AccountFacts,
    Backlog,
    GrantEnd,
    HotBalance,
    KeyRecord,
    KeyState,
    Settlement,
    WindowCount,
)

# Accounts map to a fixed number of shards, and every hot-store call names its account's
# shard (the reservation and key records carry it): the shard is the port's vocabulary, so
# it is worked out here, where the callers of the port read it, not in the Redis adapter.
SHARDS = 64


def shard_of(account_id: str) -> int:
    """Stable across processes and versions: crc32, not Python's salted hash()."""
    return zlib.crc32(account_id.encode()) % SHARDS


# A settle's reply when the reservation was already closed: nothing was debited by it.
CLOSED = 0
# Added to a settle's reply when the debit left the balance under the account's auto
# top-up threshold: the only settlements after which a top-up check runs.
LOW_BALANCE = 4
# A settle's reply over this is the debit's part not collected (balance or spend window out),
# in micros times UNCOLLECTED: `reply // UNCOLLECTED`; its own uncollected row says the same.
UNCOLLECTED = 8

# Set by the one settlement (services/money/settlement.py) for the task that runs a settle: the
# store resolves it once the settle's command is handed to the kernel on its way to Redis, so
# the answer goes out after the command and before its reply. A store that cannot tell
# resolves nothing: the settlement then waits for the reply (or its error), as before.
SETTLE_SENT: ContextVar[asyncio.Future[None] | None] = ContextVar("settle_sent", default=None)


class KeyDirectory(Protocol):
    async def lookup_key(self, key_hash: str) -> KeyRecord | None:
        """The key whose secret hashes to `key_hash`, or None. Revocation and expiry are
        not judged here: the reserve step checks them on every request."""
        ...

    async def consistent(self) -> bool:
        """Whether Redis holds its state (every shard's ready marker): while it is being
        restored from the ledger, a key missing from the directory proves nothing."""
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
        end_user: str = "",
    ) -> Decision:
        """Atomically check the key, every quota window and the balance, and hold the
        worst case. Admitted means the hold is in place; any refusal holds nothing.
        `mode` "check" runs every check and holds nothing; "key" checks only the key.
        `end_user` ('' for none) is checked against its budget in the same step."""
        ...

    async def settle(
        self, shard: int, account_id: str, request_id: str, settlement: Settlement
    ) -> int:
        """Replace the hold by the actual cost and queue the ledger row in the same atomic
        step. 0 when the reservation was already closed (a retry is harmless); 2 when it had
        been voided (the gateway could not reach Redis in time): the usage is debited anyway.
        Plus LOW_BALANCE when the debit left the balance under the auto top-up threshold."""
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


class LeaseUpkeepPort(Protocol):
    """The leases of this process (stores/redis/leases/process.py), kept by a background task."""

    async def keep(self, extend: bool = False) -> None:
        """Apply appended settlements, close leases that stopped admitting, and (`extend`)
        push the deadlines of the others."""
        ...

    async def close_all(self) -> None:
        """At a stop: every lease applied and given back."""
        ...

    async def close_expired(self, shard: int, lease_id: str) -> bool:
        """The sweeper's close of a lease its process stopped extending: what it appended
        is applied, the rest given back; False when it was closed already."""
        ...


class HotStorePort(KeyDirectory, Reservations, Protocol):
    """The Redis hot store: balances, holds, quota counters, keys, and the settlement queue."""

    @property
    def leases(self) -> LeaseUpkeepPort:
        """Leases of this process: requests admitted against slices held in Redis."""
        ...

    @property
    def cache(self) -> CacheEntriesPort:
        """The response cache's entries, on their owners' shards."""
        ...

    @property
    def meters(self) -> MeterHoldsPort:
        """Metered holds on the same reservation engine."""
        ...

    @property
    def money_out(self) -> MoneyOutPort:
        """Money an operator takes out, held before it leaves."""
        ...

    @property
    def commitments(self) -> CommitmentHotPort:
        """An account's commitment: its open period, drawn down at request time."""
        ...

    async def void(self, shard: int, account_id: str, request_id: str) -> bool:
        """Close a reservation its gateway abandoned; the ledger records it as voided."""
        ...

    async def set_key_team(
        self, shard: int, key_id: str, team_id: str | None, quotas: Sequence[Quota]
    ) -> None:
        """Put a key in a team with the team's quotas (set again on every key of a team
        when they change), or, with None, in none."""
        ...

    async def put_end_user_budget(
        self, account_id: str, key_id: str, end_user: str, quotas: Sequence[Quota]
    ) -> None:
        """Set (or, with no quotas, remove) an end-user budget where the reserve script
        reads it: the account's default, a key's default, or one end user's own."""
        ...

    async def apply_credit(
        self,
        account_id: str,
        entry_id: int,
        amount_micros: int,
        ends: tuple[int, int] | None = None,
        hold: str | None = None,
    ) -> int:
        """Add a committed ledger credit to the hot balance once per entry id; the balance.
        `ends`: (grant id, end ms) of the grant it funds when that grant ends, entered with
        it (reserve and settle never spend it past its end). `hold`: the money-out hold the
        entry was taken under, dropped in the same step (even if the entry was applied)."""
        ...

    async def put_account(
        self,
        account_id: str,
        *,
        plan: str,
        mode: str,
        billing_ready: bool,
        quotas: Sequence[Quota],
        markup_bps: int,
        signup_status: str | None = None,
        next_markup: tuple[int, int] | None = None,
    ) -> None:
        """Create or update an account's hot record; its balance and holds are untouched.
        `markup_bps` is the account's resolved markup (reserve.lua marks holds up by it);
        `next_markup` (markup, from ms) one a reviewed change schedules, which reserve.lua
        applies from then on by the reservation's clock (None: none scheduled);
        `signup_status`: pending or rejected for a sign-up not approved, whose keys
        reserve.lua refuses."""
        ...

    async def put_key(
        self,
        record: KeyRecord,
        key_hash: str,
        *,
        expires_at_ms: int,
        quotas: Sequence[Quota],
        state: KeyState | None = None,
    ) -> None:
        """Publish a key so the next request on any gateway process can use it. Its state
        (paused, revoked) is written only when `state` names one (a new key is active):
        republishing a key's limits, scopes or expiry never lifts a pause or revives a
        revoked key; only `set_key_paused` and `revoke_key` change it, and `meterway
        rebuild`, which writes every key's state from PostgreSQL."""
        ...

    async def set_key_quotas(self, shard: int, key_id: str, quotas: Sequence[Quota]) -> None:
        """A key's own quota limits, live on the next request."""
        ...

    async def revoke_key(self, shard: int, key_id: str) -> None:
        """Refuse the key from the next request on, on every gateway process."""
        ...

    async def set_byok_version(self, account_id: str, version: int) -> None:
        """Write an account's BYOK version (`bk`) into its hot record, which reserve.lua
        hands back with every admission; an account with no hot record is left alone."""
        ...

    async def set_key_paused(self, shard: int, key_id: str, paused: bool) -> None:
        """Pause an active key (refused `key_paused` from the next request on, on every
        gateway process) or make it active again. The caller holds a revoked key revoked
        (services/trust/key_pauses.py)."""
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

    async def money(self, account_id: str) -> HotBalance | None:
        """Balance, held and what reserve.lua lets the account spend now (less ended grants'
        rests, plus its credit line); None if the account is not in Redis."""
        ...

    async def set_credit_line(self, account_id: str, micros: int | None) -> None:
        """The account may go down to -micros (None or 0: to 0; a postpaid account without
        one has no floor): reserve.lua admits, and settle.lua collects, down to it."""
        ...

    async def credit_line(self, account_id: str) -> int:
        """The account's credit line in micros (0: none)."""
        ...

    async def set_grant_end(self, account_id: str, end: GrantEnd) -> None:
        """One grant's end and rest (0 drops it): past it, the rest is not spendable."""
        ...

    async def put_grant_ends(self, account_id: str, ends: Sequence[GrantEnd]) -> None:
        """Every grant end of the account at once (rebuild, self-restore)."""
        ...

    async def grant_ends(self, account_id: str) -> tuple[GrantEnd, ...]:
        """The grant ends the account hash holds."""
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

    async def note_refusal(
        self, account_id: str, window: FullWindow | None, now_ms: int
    ) -> AccountFacts | None:
        """On a 429's path only: remember the account's refused window (None: not an
        account window) and read the facts its next step is decided from, in one round
        trip; None when the account is not in Redis."""
        ...

    async def last_refusal(self, account_id: str) -> FullWindow | None:
        """The account's last refused window, whether or not it still stands."""
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

    async def dead_letter_count(self) -> int:
        """Settlement messages the ledger refused, parked in the dead-letter streams."""
        ...

    async def settled_total(self) -> int:
        """Ledger rows written by every settler process so far (for /metrics)."""
        ...


class LostReservationsPort(Protocol):
    """Reservations Redis lost, found by a settle (stores/redis/holds/lost.py)."""

    async def queued(self, shard: int, request_id: str) -> bool: ...

    async def entomb(self, shard: int, account_id: str, key_id: str, request_id: str) -> bool: ...


class SweptStorePort(HotStorePort, Protocol):
    """What the sweeper asks of the hot store beyond the rest: the reservations' deadline
    index, read per shard, and the tombstones of reservations found lost."""

    @property
    def lost(self) -> LostReservationsPort: ...

    async def expired_reservations(self, now_ms: int, limit: int) -> dict[int, list[str]]:
        """Per shard, the request ids whose reservation deadline is at or before now_ms,
        oldest first, at most `limit` each."""
        ...

    async def forget_deadline(self, shard: int, request_id: str) -> None:
        """Drop a deadline whose reservation is already gone."""
        ...

    async def reservation_account(self, shard: int, request_id: str) -> str | None: ...
