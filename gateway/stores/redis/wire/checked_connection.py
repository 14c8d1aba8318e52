"""redis-py's pooled connection, checked at checkout for a reset it has not read yet.

redis-py 8 judges a connection taken from its pool by `can_read()`: buffered bytes or an
EOF mean it is dirty, and it reconnects. A peer that *resets* the connection while it sits
idle (a Redis restart, a proxy or firewall cutting it: RST, not FIN) leaves the stream
holding the error and no EOF, so the connection looked healthy and the next command on it
failed: one 503 per pooled connection after every such cut. Here that connection counts as
dirty too, so the pool reconnects it before the command is written. No round trip: the
check reads state the event loop already has.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError


class CheckedConnection(aioredis.Connection):
    async def can_read(self) -> bool:
        reader, writer = self._reader, self._writer
        if reader is not None and reader.exception() is not None:
            raise RedisConnectionError("the connection was reset while idle in the pool")
        if writer is not None and writer.transport.is_closing():
            raise RedisConnectionError("the connection was closed while idle in the pool")
        return await super().can_read()
