"""The fault proxy's blackhole is a network that drops packets, not one that forgets a close:
a client killed while nothing passed has its close reach the server once bytes pass again (a
real network delivers the FIN its kernel retransmits). Without that, a PostgreSQL session left
waiting for the rest of a COPY (which no `idle_in_transaction_session_timeout` ends) held its
row locks for good, and the kill campaign's checker waited on them (CI, stop 90)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg

from tests.fault.tcp_proxy import CuttableProxy


async def test_a_client_killed_mid_copy_while_blackholed_frees_its_locks_once_healed(
    dsn: str, pg_proxy: CuttableProxy
) -> None:
    direct = await asyncpg.connect(dsn)
    never = asyncio.Event()

    async def rows() -> AsyncIterator[tuple[int]]:
        await never.wait()
        yield (2,)

    copying: asyncio.Future[object] | None = None
    try:
        await direct.execute("CREATE TABLE held (id int PRIMARY KEY); INSERT INTO held VALUES (1)")
        client = await asyncpg.connect(pg_proxy.dsn(dsn))
        await client.execute("BEGIN; SELECT 1 FROM held WHERE id = 1 FOR UPDATE")
        copying = asyncio.ensure_future(client.copy_records_to_table("held", records=rows()))
        copy_sent = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%held%'"
        for _ in range(200):
            if await direct.fetchval(copy_sent):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # what the client sent before waiting has passed
        pg_proxy.blackhole()
        # Killed: its kernel closes the socket, and nothing more is sent (asyncpg's own
        # terminate() would send a Terminate message first).
        client._transport.abort()
        await asyncio.sleep(0.2)
        pg_proxy.restore()
        await direct.execute("SET lock_timeout = '5s'")
        async with direct.transaction():
            assert await direct.fetchval("SELECT 1 FROM held WHERE id = 1 FOR UPDATE") == 1
    finally:
        if copying is not None:  # after the check: a cancelled copy sends a CancelRequest
            copying.cancel()
            await asyncio.gather(copying, return_exceptions=True)
        await direct.close()
