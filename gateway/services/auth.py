# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""API keys: minting, hashing, and resolving a presented key to its record.

Only the SHA-256 of a key is stored anywhere. A key's record is cached per process for at
most KEY_CACHE_TTL_S, so a narrowed scope reaches every gateway process within that time
(at once in the process that narrowed it, which forgets its copy); whether the key is revoked
or expired is checked inside the reserve script on every request, so revocation reaches every
gateway process immediately.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import NoReturn

from aiohttp import web

from gateway.errors import InvalidApiKey, ServiceUnavailable
from gateway.stores.ports import KeyDirectory
from gateway.stores.records import KeyRecord

KEY_PREFIX = "mw-"
CACHE_SIZE = 100_000
KEY_CACHE_TTL_S = 60.0  # one directory read per key a minute, not per request


def mint_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_id(kind: str) -> str:
    return f"{kind}_{secrets.token_hex(10)}"


def presented_key(request: web.Request) -> str:
    """Bearer token, or Anthropic's x-api-key header, or Azure's api-key (what
    `openai.AzureOpenAI` sends its key as), or Google's x-goog-api-key (google-genai's)."""
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    headers = request.headers
    presented = headers.get("x-api-key") or headers.get("api-key") or headers.get("x-goog-api-key")
    return (presented or "").strip()


class KeyResolver:
    def __init__(
        self,
        store: KeyDirectory,
        size: int = CACHE_SIZE,
        ttl_s: float = KEY_CACHE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._cache: OrderedDict[str, tuple[KeyRecord, float]] = OrderedDict()
        self._size = size
        self._ttl_s = ttl_s
        self._clock = clock

    async def resolve(self, request: web.Request) -> KeyRecord:
        return await self.resolve_secret(presented_key(request))

    async def resolve_secret(self, key: str) -> KeyRecord:
        """The record of a key given as text (a header, or the dashboard's sign-in form)."""
        if not key.startswith(KEY_PREFIX) or not key.isascii():
            raise InvalidApiKey("Missing or malformed API key; expected 'Bearer mw-...'.")
        return await self.resolve_digest(hash_key(key))

    async def resolve_digest(self, digest: str) -> KeyRecord:
        """The record of a key known by its digest (a Realtime client secret carries it),
        read again from the directory once its cached copy is KEY_CACHE_TTL_S old."""
        now = self._clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        record = await self._store.lookup_key(digest)
        if record is None:
            self._cache.pop(digest, None)
            await self._refuse_unknown()
        self._cache[digest] = (record, now + self._ttl_s)
        self._cache.move_to_end(digest)
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return record

    def forget(self, digests: Iterable[str]) -> None:
        """Drop cached records whose key changed (its scopes narrowed): read again on next use."""
        for digest in digests:
            self._cache.pop(digest, None)

    async def _refuse_unknown(self) -> NoReturn:
        """401 only when the directory is whole: a Redis being restored from the ledger
        would call every key invalid, and a client may drop a key it is told is invalid."""
        if not await self._store.consistent():
            raise ServiceUnavailable(
                "Metering state is being restored from the ledger; retry shortly.",
                retry_after_s=2,
            )
        raise InvalidApiKey("Incorrect API key provided.")
