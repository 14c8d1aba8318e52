"""The JWKS key cache: signing keys by `kid`, refreshed rarely and never in a stampede.

An unknown `kid` may mean the identity provider rotated its keys, so it triggers a refresh,
but at most one every `min_interval_s` and only one in flight: a flood of forged kids costs
the identity provider one fetch per interval, not one per request. A failed refresh keeps the
last good key set, so an identity provider outage does not sign every user out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import jwt

log = logging.getLogger("meterway.jwks")
Fetch = Callable[[], Awaitable[Mapping[str, Any]]]
SIGNING_KTYS = frozenset({"RSA", "EC"})


class UnknownSigningKey(LookupError):
    """No key of the current set (even after a permitted refresh) has this kid."""


def signing_keys(document: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    """The usable public signing keys of a JWKS document, by kid.

    Symmetric (`oct`) keys and encryption keys are dropped: a JWKS never supplies an HMAC
    secret, which is what keeps HS256 tokens from being checked against a public key.
    """
    keys: dict[str, jwt.PyJWK] = {}
    for raw in document.get("keys", []):
        if not isinstance(raw, dict) or raw.get("kty") not in SIGNING_KTYS:
            continue
        if raw.get("use", "sig") != "sig" or not isinstance(raw.get("kid"), str):
            continue
        try:
            keys[raw["kid"]] = jwt.PyJWK.from_dict(raw)
        except jwt.PyJWTError as exc:
            log.warning("jwks: skipping key %s: %s", raw.get("kid"), exc)
    return keys


class JwksCache:
    def __init__(
        self,
        fetch: Fetch,
        *,
        min_interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self.min_interval_s = min_interval_s
        self.clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._last_attempt: float | None = None
        self._inflight: asyncio.Task[None] | None = None
        self.fetches = 0

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    async def key(self, kid: str) -> jwt.PyJWK:
        found = self._keys.get(kid)
        if found is None:
            await self.refresh()
            found = self._keys.get(kid)
        if found is None:
            raise UnknownSigningKey(kid)
        return found

    async def refresh(self) -> None:
        """Fetch the key set unless one fetch is running (then wait for it) or ran recently."""
        if self._inflight is None:
            now = self.clock()
            if self._last_attempt is not None and now - self._last_attempt < self.min_interval_s:
                return
            self._last_attempt = now
            self._inflight = asyncio.ensure_future(self._load())
        task = self._inflight
        try:
            await asyncio.shield(task)
        finally:
            if task.done() and self._inflight is task:
                self._inflight = None

    async def _load(self) -> None:
        self.fetches += 1
        try:
            keys = signing_keys(await self._fetch())
        except Exception as exc:  # any failure of the source: keep serving the last good set
            log.warning("jwks: refresh failed, keeping %d known key(s): %s", len(self._keys), exc)
            return
        if keys:
            self._keys = keys
        else:
            log.warning("jwks: the document had no usable signing key; keeping the last set")
