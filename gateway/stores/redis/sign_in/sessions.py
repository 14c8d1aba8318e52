"""Dashboard sessions in Redis, so a sign-in holds on every gateway process and a sign-out
ends it everywhere at once. Stored under the SHA-256 of the cookie: a copy of Redis holds
no cookie that could be replayed."""

from __future__ import annotations

from typing import Any, cast

import orjson
import redis.asyncio as aioredis

from gateway.stores.redis.errors import map_redis_errors
from gateway.stores.redis.keys import Keys


class Sessions:
    """Implements `stores.ports.SessionsPort`."""

    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._redis = client
        self._keys = keys

    async def create(self, digest: str, data: dict[str, object], ttl_s: int) -> None:
        with map_redis_errors():
            await self._redis.set(
                self._keys.dashboard_session(digest), orjson.dumps(data), ex=max(1, ttl_s)
            )

    async def get(self, digest: str) -> dict[str, object] | None:
        with map_redis_errors():
            raw = await self._redis.get(self._keys.dashboard_session(digest))
        return None if raw is None else cast(dict[str, Any], orjson.loads(raw))

    async def delete(self, digest: str) -> None:
        with map_redis_errors():
            await self._redis.delete(self._keys.dashboard_session(digest))


class SigninTickets:
    """Implements `stores.ports.SigninTicketsPort`: one-use secrets of a sign-in under way,
    taken with GETDEL so two requests presenting the same one cannot both succeed."""

    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._redis = client
        self._keys = keys

    async def put(self, digest: str, data: dict[str, object], ttl_s: int) -> None:
        with map_redis_errors():
            await self._redis.set(self._keys.signin_ticket(digest), orjson.dumps(data), ex=ttl_s)

    async def take(self, digest: str) -> dict[str, object] | None:
        with map_redis_errors():
            raw = await self._redis.getdel(self._keys.signin_ticket(digest))
        return None if raw is None else cast(dict[str, Any], orjson.loads(raw))

    async def get(self, digest: str) -> dict[str, object] | None:
        with map_redis_errors():
            raw = await self._redis.get(self._keys.signin_ticket(digest))
        return None if raw is None else cast(dict[str, Any], orjson.loads(raw))

    async def first_use(self, digest: str, ttl_s: int) -> bool:
        with map_redis_errors():
            key = self._keys.signin_used(digest)
            return bool(await self._redis.set(key, b"1", ex=ttl_s, nx=True))

    async def count(self, name: str, window_s: int) -> tuple[int, int]:
        """One more attempt under `name` in a fixed window that starts with the first;
        (attempts so far, seconds until the window ends). A window whose expiry was lost
        (a failure between INCR and EXPIRE) is given one, so no counter lives forever."""
        key = self._keys.signin_limit(name)
        with map_redis_errors():
            n = int(await self._redis.incr(key))
            if n == 1:
                await self._redis.expire(key, window_s)
            left = int(await self._redis.ttl(key))
            if left < 0:
                await self._redis.expire(key, window_s)
                left = window_s
        return n, left
