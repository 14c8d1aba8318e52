"""redis-py whose read-only commands go once more, on a fresh connection, when theirs was lost.

The Redis twin of stores/postgres/errors.py's `read_once_more`. After an outage, a pooled
connection can pass the pool's checkout check (checked_connection.py) and still be found
closed by the command that uses it: one 503 on an operator's or a customer's read (CI saw an
account read fail so right after Redis came back). A read that reached Redis or not changes
nothing, so it is sent again after the pool's idle connections are dropped (the retry cannot
draw another of the same batch). Everything else (writes, scripts, pipelines, XREADGROUP,
which moves a pending entry) is never repeated: sent once, it may have run.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.commands import READ_COMMANDS
from redis.exceptions import ConnectionError as RedisConnectionError

ONCE_MORE = READ_COMMANDS | {"PING", "TIME"}


class ReadOnceMoreRedis(aioredis.Redis):
    async def execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        except RedisConnectionError:
            if _name(args[0]) not in ONCE_MORE:
                raise
        await self.connection_pool.disconnect(inuse_connections=False)
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


def _name(command: object) -> str:
    return (command.decode() if isinstance(command, bytes) else str(command)).upper()
