"""Refund claims: what bounds an operator's refunds by what their payment has left.

A refund is claimed before the provider is asked, in a short transaction under the
payment's advisory lock, so racing refunds of one payment see each other's claims; what is
left counts every claim and every booked refund (a provider's own refund, a dispute) of the
payment once. A claim whose provider call failed outright is dropped; one whose call had no
answer keeps counting until a retry of its key (a replay) finds the provider's refund.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from gateway.stores.ports.money.payments import ClaimState, RefundClaim
from gateway.stores.postgres.errors import map_postgres_errors

# The refunds booked for a payment: ledger refund entries returned to the grant its credit
# funded (grants.refund_to), read from the guard rows that retention never archives.
_BOOKED = (
    "SELECT r.idempotency_key, -r.amount_micros FROM ledger_credit_keys c"
    " JOIN credit_grants g ON g.credit_entry_id = c.entry_id"
    " JOIN grant_refunds gr ON gr.grant_id = g.id"
    " JOIN ledger_credit_keys r ON r.account_id = c.account_id AND r.entry_id = gr.entry_id"
    " WHERE c.account_id = $1 AND c.idempotency_key = $2"
)
_CLAIMS = (
    "SELECT idempotency_key, amount_micros, refund_id FROM refund_claims"
    " WHERE account_id = $1 AND payment_id = $2"
)


async def _lock(conn: asyncpg.Connection, account_id: str, payment_id: str) -> None:
    lock = f"refund:{account_id}:{payment_id}"
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", lock)


def refunded(claims: list[asyncpg.Record], booked: list[asyncpg.Record], key: str) -> int:
    """What a payment's refunds other than `key`'s add up to: each claim, and each booked
    refund that no claim made."""
    answered = {c["refund_id"] for c in claims if c["refund_id"]}
    claimed = sum(int(c["amount_micros"]) for c in claims if c["idempotency_key"] != key)
    return claimed + sum(int(b[1]) for b in booked if b[0] not in answered)


class RefundClaims:
    """Implements `stores.ports.RefundClaimsPort`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def claim(
        self,
        account_id: str,
        payment_id: str,
        paid_micros: int,
        key: str,
        amount: int,
        hold: Callable[[], Awaitable[object]] | None = None,
    ) -> RefundClaim:
        """Claim `amount` of a payment of `paid_micros` for `key`, if that much is left.
        `hold` is awaited under the payment's lock before a new claim is written: the
        refund's money is held there (services/money/out.py); what it raises claims nothing."""
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                await _lock(conn, account_id, payment_id)
                claims = list(await conn.fetch(_CLAIMS, account_id, payment_id))
                booked = list(await conn.fetch(_BOOKED, account_id, payment_id))
                left = paid_micros - refunded(claims, booked, key)
                if any(c["idempotency_key"] == key for c in claims):
                    return RefundClaim(left, True, True)
                if not 0 < amount <= left:
                    return RefundClaim(left, False, False)
                if hold is not None:
                    await hold()
                await conn.execute(
                    "INSERT INTO refund_claims"
                    " (account_id, idempotency_key, payment_id, amount_micros)"
                    " VALUES ($1, $2, $3, $4)",
                    account_id,
                    key,
                    payment_id,
                    amount,
                )
                return RefundClaim(left, True, False)

    async def claim_locked(
        self,
        account_id: str,
        payment_id: str,
        key: str,
        then: Callable[[ClaimState | None], Awaitable[None]],
    ) -> None:
        """Await `then` with the key's claim (None: there is none), under the payment's lock
        that claims are placed under, so none of the key's is placed meanwhile."""
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                await _lock(conn, account_id, payment_id)
                row = await conn.fetchrow(
                    "SELECT c.refund_id, k.entry_id FROM refund_claims c"
                    " LEFT JOIN ledger_credit_keys k"
                    "   ON k.account_id = c.account_id AND k.idempotency_key = c.refund_id"
                    " WHERE c.account_id = $1 AND c.idempotency_key = $2",
                    account_id,
                    key,
                )
                await then(None if row is None else ClaimState(row[0], row[1]))

    async def answered(self, account_id: str, key: str, refund_id: str) -> None:
        """The provider's refund for the key's claim: its booking is then counted once."""
        with map_postgres_errors():
            await self.pool.execute(
                "UPDATE refund_claims SET refund_id = $3"
                " WHERE account_id = $1 AND idempotency_key = $2",
                account_id,
                key,
                refund_id,
            )

    async def refunded(self, account_id: str, payment_ids: list[str]) -> dict[str, int]:
        """What has been refunded of each payment (booked refunds and lost disputes), for
        the pages and receipts that show it; a payment with none is left out."""
        with map_postgres_errors():
            rows = await self.pool.fetch(
                "SELECT c.idempotency_key, -sum(r.amount_micros) FROM ledger_credit_keys c"
                " JOIN credit_grants g ON g.credit_entry_id = c.entry_id"
                " JOIN grant_refunds gr ON gr.grant_id = g.id"
                " JOIN ledger_credit_keys r"
                "   ON r.account_id = c.account_id AND r.entry_id = gr.entry_id"
                " WHERE c.account_id = $1 AND c.idempotency_key = ANY($2::text[]) GROUP BY 1",
                account_id,
                payment_ids,
            )
        return {str(r[0]): int(r[1]) for r in rows}

    async def drop(
        self,
        account_id: str,
        payment_id: str,
        key: str,
        then: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """Forget a claim the provider refused: nothing was refunded. `then` is awaited
        under the payment's lock once it is gone (the claim's money-out hold is given back
        there, so a retry of the key cannot place its claim in between)."""
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                await _lock(conn, account_id, payment_id)
                await conn.execute(
                    "DELETE FROM refund_claims WHERE account_id = $1 AND idempotency_key = $2"
                    " AND refund_id IS NULL",
                    account_id,
                    key,
                )
                if then is not None:
                    await then()
