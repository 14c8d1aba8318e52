"""Billing profiles, payment outcomes and applied provider events, in PostgreSQL.

Every write that a provider event causes records the event id in the same transaction, so an
event is applied once however often it is delivered.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from billing.money.payments import AutoTopup
from gateway.stores.ports.money.payments import LedgerMoney, Profile
from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.postgres.ledger import record_event
from gateway.stores.postgres.money.receipt_numbers import ReceiptNumbers
from gateway.stores.postgres.money.refund_claims import RefundClaims
from gateway.stores.records import EventRef

IN_FLIGHT_STALE = timedelta(minutes=10)  # a charge whose process died frees the slot again


def _profile(row: asyncpg.Record) -> Profile:
    auto = None
    if row["auto_threshold"] is not None:
        auto = AutoTopup(row["auto_threshold"], row["auto_amount"], row["auto_monthly_cap"])
    return Profile(
        row["account_id"],
        row["provider"],
        row["customer_id"],
        row["method_on_file"],
        row["subscription_id"],
        row["subscription_status"],
        row["period_end"],
        row["pending_plan"],
        row["grace_until"],
        auto,
        row["auto_failures"],
        row["auto_off_reason"],
    )


class PaymentsStore:
    """Implements `stores.ports.PaymentsStorePort`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.refund_claims = RefundClaims(pool)
        self.receipt_numbers = ReceiptNumbers(pool)

    async def profile(self, account_id: str) -> Profile | None:
        row = await self.pool.fetchrow(
            "SELECT * FROM billing_profiles WHERE account_id = $1", account_id
        )
        return None if row is None else _profile(row)

    async def create_profile(self, account_id: str, provider: str, customer_id: str) -> Profile:
        """Idempotent: a concurrent creator's profile wins and is returned."""
        with map_postgres_errors():
            await self._insert_profile(account_id, provider, customer_id)
        found = await self.profile(account_id)
        assert found is not None
        return found

    async def _insert_profile(self, account_id: str, provider: str, customer_id: str) -> None:
        await self.pool.execute(
            "INSERT INTO billing_profiles (account_id, provider, customer_id) VALUES ($1, $2, $3)"
            " ON CONFLICT (account_id) DO NOTHING",
            account_id,
            provider,
            customer_id,
        )

    async def _update(
        self, account_id: str, event: EventRef | None, sql: str, *args: object
    ) -> None:
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                if event is not None:
                    await record_event(conn, event)
                await conn.execute(
                    f"UPDATE billing_profiles SET {sql}, updated_at = now() WHERE account_id = $1",
                    account_id,
                    *args,
                )

    async def set_method_on_file(
        self, account_id: str, on_file: bool, event: EventRef | None
    ) -> None:
        await self._update(account_id, event, "method_on_file = $2", on_file)

    async def set_subscription(
        self,
        account_id: str,
        subscription_id: str | None,
        status: str | None,
        period_end: datetime | None,
        event: EventRef | None,
    ) -> None:
        await self._update(
            account_id,
            event,
            "subscription_id = $2, subscription_status = $3, period_end = $4",
            subscription_id,
            status,
            period_end,
        )

    async def set_pending_plan(self, account_id: str, plan: str | None) -> None:
        await self._update(account_id, None, "pending_plan = $2", plan)

    async def set_grace(
        self, account_id: str, until: datetime | None, event: EventRef | None
    ) -> None:
        """Open (until set) or close (None) a grace period; opening keeps an earlier end."""
        sql = "grace_until = CASE WHEN $2::timestamptz IS NULL THEN NULL"
        sql += " ELSE coalesce(grace_until, $2) END"
        await self._update(account_id, event, sql, until)

    async def set_auto_topup(self, account_id: str, setting: AutoTopup | None) -> None:
        values = (
            (None, None, None)
            if setting is None
            else (
                setting.threshold_micros,
                setting.amount_micros,
                setting.monthly_cap_micros,
            )
        )
        await self._update(
            account_id,
            None,
            "auto_threshold = $2, auto_amount = $3, auto_monthly_cap = $4,"
            " auto_failures = 0, auto_off_reason = NULL",
            *values,
        )

    async def record_event(self, event: EventRef) -> bool:
        async with self.pool.acquire() as conn:
            return await record_event(conn, event)

    async def event_applied(self, provider: str, event_id: str) -> bool:
        found = await self.pool.fetchval(
            "SELECT 1 FROM provider_events WHERE provider = $1 AND event_id = $2",
            provider,
            event_id,
        )
        return found is not None

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
        await self.pool.execute(
            "INSERT INTO payments (id, account_id, purpose, amount_micros, status, failure)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET"
            " status = CASE WHEN payments.status = 'succeeded' THEN 'succeeded'"
            " ELSE excluded.status END, failure = excluded.failure, updated_at = now()",
            payment_id,
            account_id,
            purpose,
            amount,
            status,
            failure,
        )

    async def payments(self, account_id: str, limit: int = 50) -> list[asyncpg.Record]:
        return list(
            await self.pool.fetch(
                "SELECT * FROM payments WHERE account_id = $1 ORDER BY created_at DESC LIMIT $2",
                account_id,
                limit,
            )
        )

    async def payment(self, account_id: str, payment_id: str) -> asyncpg.Record | None:
        """One of the account's payments; another account's reads as none."""
        return await self.pool.fetchrow(
            "SELECT * FROM payments WHERE account_id = $1 AND id = $2", account_id, payment_id
        )

    async def payment_ids(self, since: datetime) -> set[str]:
        rows = await self.pool.fetch(
            "SELECT idempotency_key FROM ledger_entries WHERE kind = 'credit'"
            " AND idempotency_key IS NOT NULL AND created_at >= $1",
            since - timedelta(days=1),
        )
        return {r[0] for r in rows}

    async def claim_auto_charge(self, account_id: str, month: datetime, now: datetime) -> bool:
        """Take the account's one in-flight slot if the month's cap allows one more charge."""
        got = await self.pool.fetchval(
            "UPDATE billing_profiles p SET auto_in_flight_at = $3 WHERE account_id = $1"
            " AND auto_threshold IS NOT NULL AND auto_off_reason IS NULL AND method_on_file"
            " AND (auto_in_flight_at IS NULL OR auto_in_flight_at < $3::timestamptz - $4::interval)"
            " AND (SELECT coalesce(sum(amount_micros), 0) FROM payments WHERE account_id = $1"
            "      AND purpose = 'auto_topup' AND status = 'succeeded' AND created_at >= $2)"
            "     + p.auto_amount <= p.auto_monthly_cap"
            " RETURNING 1",
            account_id,
            month,
            now,
            IN_FLIGHT_STALE,
        )
        return got is not None

    async def unclaim_auto_charge(self, account_id: str) -> None:
        """Free the slot without charging (no longer due): the failure count stays."""
        await self.pool.execute(
            "UPDATE billing_profiles SET auto_in_flight_at = NULL WHERE account_id = $1",
            account_id,
        )

    async def release_auto_charge(self, account_id: str, *, failed: bool, limit: int) -> int:
        """Free the slot; count a failure (turning auto top-up off at `limit`) or reset."""
        failures = await self.pool.fetchval(
            "UPDATE billing_profiles SET auto_in_flight_at = NULL,"
            " auto_failures = CASE WHEN $2 THEN auto_failures + 1 ELSE 0 END,"
            " auto_off_reason = CASE WHEN $2 AND auto_failures + 1 >= $3"
            "   THEN 'turned off after ' || $3 || ' failed charges' ELSE auto_off_reason END"
            " WHERE account_id = $1 RETURNING auto_failures",
            account_id,
            failed,
            limit,
        )
        return int(failures or 0)

    async def last_failed_auto_charge(self, account_id: str) -> str | None:
        """The failed charge that turned auto top-up off (none is tried after it)."""
        found: str | None = await self.pool.fetchval(
            "SELECT id FROM payments WHERE account_id = $1 AND purpose = 'auto_topup'"
            " AND status = 'failed' ORDER BY created_at DESC LIMIT 1",
            account_id,
        )
        return found

    async def graces_ending(self, before: datetime) -> list[tuple[str, datetime]]:
        """Open grace periods that end before `before`: (account, end)."""
        rows = await self.pool.fetch(
            "SELECT account_id, grace_until FROM billing_profiles WHERE grace_until < $1",
            before,
        )
        return [(r[0], r[1]) for r in rows]

    async def graces_over(self, now: datetime) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT account_id FROM billing_profiles WHERE grace_until <= $1", now
        )
        return [r[0] for r in rows]

    async def downgrades_due(self, now: datetime) -> list[tuple[str, str]]:
        rows = await self.pool.fetch(
            "SELECT account_id, pending_plan FROM billing_profiles"
            " WHERE pending_plan IS NOT NULL AND period_end <= $1",
            now,
        )
        return [(r[0], r[1]) for r in rows]

    async def ledger_payments(self, since: datetime) -> list[LedgerMoney]:
        """Ledger entries that say a provider moved money since `since`: credits of a
        recorded payment (key = payment id) and refunds (key = refund id)."""
        rows = await self.pool.fetch(
            "SELECT idempotency_key, account_id, amount_micros, kind FROM ledger_entries l"
            " WHERE created_at >= $1 AND idempotency_key IS NOT NULL AND (kind = 'refund'"
            " OR (kind = 'credit' AND EXISTS (SELECT 1 FROM payments p"
            "     WHERE p.id = l.idempotency_key AND p.account_id = l.account_id)))",
            since,
        )
        return [LedgerMoney(r[0], r[1], r[2], r[3]) for r in rows]

    async def ledger_by_keys(self, keys: list[str]) -> dict[str, LedgerMoney]:
        """Credit and refund entries with these idempotency keys, whenever written: from
        their guard rows, which retention never archives (a refund is the negative one when
        its entry is archived and its kind no longer at hand)."""
        rows = await self.pool.fetch(
            "SELECT * FROM (SELECT k.idempotency_key, k.account_id, k.amount_micros,"
            " coalesce(l.kind, CASE WHEN k.amount_micros < 0 THEN 'refund' ELSE 'credit' END)"
            " AS kind FROM ledger_credit_keys k LEFT JOIN ledger_entries l"
            " ON l.id = k.entry_id AND l.account_id = k.account_id"
            " WHERE k.idempotency_key = ANY($1::text[])) c WHERE kind IN ('credit', 'refund')",
            keys,
        )
        return {r[0]: LedgerMoney(r[0], r[1], r[2], r[3]) for r in rows}
