"""`signups`: the address a person signed up with, bound to the account it opened; the
address's primary key and the trial's claim make both happen once (migration 066); what it
was opened from, its card and its trial's hold (migration 097)."""

from __future__ import annotations

import asyncpg

from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.records import Row

_SELECT = (
    "SELECT s.address, s.email, s.account_id, s.via, s.created_at, s.decided_at,"
    " s.decided_by, s.trial_at, a.signup_status AS status, a.name, a.plan, s.network, s.device,"
    " s.card_fingerprint, s.card_funded, s.trial_hold, s.trial_check, s.trial_revoked_at,"
    " s.trial_revoked_by"
    " FROM signups s LEFT JOIN accounts a ON a.id = s.account_id"
)


class Signups:
    """Implements `stores.ports.SignupsPort`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def claim(self, address: str, email: str, via: str) -> bool:
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                "INSERT INTO signups (address, email, via) VALUES ($1, $2, $3)"
                " ON CONFLICT (address) DO NOTHING RETURNING address",
                address,
                email,
                via,
            )
        return row is not None

    async def get(self, address: str) -> Row | None:
        with map_postgres_errors():
            row = await self.pool.fetchrow(_SELECT + " WHERE s.address = $1", address)
        return None if row is None else dict(row)

    async def bind(self, address: str, account_id: str, status: str) -> None:
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "UPDATE accounts SET signup_status = $2 WHERE id = $1", account_id, status
                )
                await conn.execute(
                    "UPDATE signups SET account_id = $2 WHERE address = $1", address, account_id
                )

    async def of_account(self, account_id: str) -> Row | None:
        with map_postgres_errors():
            row = await self.pool.fetchrow(_SELECT + " WHERE s.account_id = $1", account_id)
        return None if row is None else dict(row)

    async def listed(self, status: str | None, limit: int) -> list[Row]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                _SELECT + " WHERE s.account_id IS NOT NULL"
                " AND ($1::text IS NULL OR a.signup_status = $1)"
                " ORDER BY s.created_at DESC LIMIT $2",
                status,
                limit,
            )
        return [dict(r) for r in rows]

    async def decide(self, account_id: str, status: str, by: str) -> Row | None:
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                done = await conn.fetchval(
                    "UPDATE accounts SET signup_status = $2 WHERE id = $1"
                    " AND signup_status = 'pending' RETURNING id",
                    account_id,
                    status,
                )
                if done is None:
                    return None
                await conn.execute(
                    "UPDATE signups SET decided_at = now(), decided_by = $2 WHERE account_id = $1",
                    account_id,
                    by,
                )
                row = await conn.fetchrow(_SELECT + " WHERE s.account_id = $1", account_id)
        return None if row is None else dict(row)

    async def take_trial(self, account_id: str) -> bool:
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                "UPDATE signups SET trial_at = now() WHERE account_id = $1 AND trial_at IS NULL"
                " RETURNING address",
                account_id,
            )
        return row is not None

    async def note(
        self, account_id: str, network: str, device: str, hold: str, check: str | None
    ) -> None:
        with map_postgres_errors():
            await self.pool.execute(
                "UPDATE signups SET network = $2, device = $3, trial_hold = $4, trial_check = $5"
                " WHERE account_id = $1",
                account_id,
                network,
                device,
                hold,
                check,
            )

    async def card(self, account_id: str, fingerprint: str, claim: bool) -> bool:
        with map_postgres_errors():
            if claim:
                try:  # a trial already funded by one of its cards stays funded by it
                    done = await self.pool.fetchval(
                        "UPDATE signups SET card_funded = true, card_fingerprint ="
                        " CASE WHEN card_funded THEN card_fingerprint ELSE $2 END"
                        " WHERE account_id = $1 RETURNING true",
                        account_id,
                        fingerprint,
                    )
                    return bool(done)
                except asyncpg.UniqueViolationError:
                    pass  # another sign-up's trial was funded by this card
            await self.pool.execute(
                "UPDATE signups SET card_fingerprint = $2"
                " WHERE account_id = $1 AND NOT card_funded",
                account_id,
                fingerprint,
            )
        return False

    async def hold(self, account_id: str, hold: str, check: str | None) -> None:
        with map_postgres_errors():
            await self.pool.execute(
                "UPDATE signups SET trial_hold = $2, trial_check = $3 WHERE account_id = $1",
                account_id,
                hold,
                check,
            )

    async def recent(self, days: int, limit: int) -> list[Row]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                _SELECT + " WHERE s.account_id IS NOT NULL"
                " AND s.created_at > now() - make_interval(days => $1)"
                " ORDER BY s.created_at DESC LIMIT $2",
                days,
                limit,
            )
        return [dict(r) for r in rows]

    async def revoke_trial(self, account_id: str, by: str) -> bool:
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                revoked = await conn.fetchval(
                    "UPDATE signups SET trial_revoked_at = now(), trial_revoked_by = $2"
                    " WHERE account_id = $1 AND trial_at IS NOT NULL"
                    " AND trial_revoked_at IS NULL RETURNING true",
                    account_id,
                    by,
                )
                await conn.execute(
                    "UPDATE signups SET trial_hold = 'refused', trial_check = 'operator'"
                    " WHERE account_id = $1",
                    account_id,
                )
        return bool(revoked)
