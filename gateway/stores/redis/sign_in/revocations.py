"""Revoked user tokens, in Redis so a revocation holds on every gateway process at once.

A revoked jti is kept exactly as long as the token would have lived; a user's "revoke all"
marker is kept as long as the longest token the gateway accepts (JWT_MAX_LIFETIME_S), after
which every token it covers has expired anyway. Both are read on every verification.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from gateway.stores.redis.errors import map_redis_errors
from gateway.stores.redis.keys import Keys


class Revocations:
    def __init__(self, client: aioredis.Redis, keys: Keys, max_lifetime_s: int) -> None:
        self._redis = client
        self._keys = keys
        self._max_lifetime_s = max_lifetime_s

    async def revoke_token(self, jti: str, remaining_s: int) -> None:
        with map_redis_errors():
            await self._redis.set(self._keys.revoked_token(jti), "1", ex=max(1, remaining_s))

    async def revoke_subject(self, subject: str) -> int:
        """Revoke every token of `subject` issued up to now; returns the cut-off in ms."""
        with map_redis_errors():
            sec, usec = await self._redis.time()
            cutoff = int(sec) * 1000 + int(usec) // 1000
            await self._redis.set(
                self._keys.revoked_before(subject), cutoff, ex=self._max_lifetime_s
            )
        return cutoff

    async def is_revoked(self, subject: str, jti: str | None, issued_at: int) -> bool:
        names = [self._keys.revoked_before(subject)]
        if jti is not None:
            names.append(self._keys.revoked_token(jti))
        with map_redis_errors():
            before, *token = await self._redis.mget(names)
        if token and token[0] is not None:
            return True
        # `iat` has whole seconds: a token issued in the cut-off's own second is revoked too.
        return before is not None and issued_at * 1000 <= int(before)
