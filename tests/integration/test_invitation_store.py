"""The stores behind invitations and the e-mailed-link form: migration 048's reading of the
members that existed before it, and the link form's counters in Redis."""

from __future__ import annotations

import asyncpg
import redis.asyncio as aioredis

from gateway.http.appkeys import SIGNIN_TICKETS, STORES
from gateway.stores.postgres.migrate import migrate
from tests.support.harness import REDIS_URL, Gateway, temp_database


async def test_migration_048_accepts_the_members_who_signed_in_or_are_bound() -> None:
    """Existing members who signed in or are bound keep their access; an invitation nobody
    used becomes a pending one, to accept at its person's next sign-in."""
    async with temp_database() as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            await migrate(conn, upto=45)
            await conn.execute(
                "INSERT INTO accounts (id, name, plan, mode, balance_micros)"
                " VALUES ('a1', 'a', 'pro', 'prepaid', 0)"
            )
            await conn.execute(
                "INSERT INTO account_members (id, account_id, email, issuer, subject,"
                " signed_in_at) VALUES"
                " ('bound', 'a1', 'b@x.example', 'https://idp', 'sub-b', now()),"
                " ('linked', 'a1', 'l@x.example', NULL, NULL, now()),"
                " ('never', 'a1', 'n@x.example', NULL, NULL, NULL)"
            )
            await migrate(conn)
            rows = await conn.fetch("SELECT id, accepted_at FROM account_members ORDER BY id")
        finally:
            await conn.close()
    accepted = {r["id"]: r["accepted_at"] is not None for r in rows}
    assert accepted == {"bound": True, "linked": True, "never": False}


async def test_a_counter_window_starts_with_its_first_attempt_and_always_ends(
    gw: Gateway,
) -> None:
    tickets = gw.app[SIGNIN_TICKETS]
    assert await tickets.count("client:203.0.113.9", 60) == (1, 60)
    count, left = await tickets.count("client:203.0.113.9", 60)
    assert count == 2 and 0 < left <= 60
    key = gw.app[STORES].store.keys.signin_limit("client:203.0.113.9")
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.persist(key)  # as if the EXPIRE after the first INCR had been lost
        count, left = await tickets.count("client:203.0.113.9", 60)
        assert count == 3 and left == 60
        assert 0 < await client.ttl(key) <= 60
    finally:
        await client.aclose()
