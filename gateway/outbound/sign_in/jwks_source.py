"""Fetching the identity provider's JWKS document over HTTP, held to the egress rules
(outbound/egress.py: https, public addresses, pinned, no redirects)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson

from gateway.config.egress_rules import EgressPolicy
from gateway.outbound.egress import egress_session

FETCH_TIMEOUT_S = 5.0
MAX_DOCUMENT_BYTES = 256 * 1024


class JwksSource:
    """GET the JWKS URL with a short timeout; any failure raises, the cache keeps its keys."""

    def __init__(self, url: str, egress: EgressPolicy) -> None:
        self.url = url
        self.egress = egress
        self._session: aiohttp.ClientSession | None = None

    async def __call__(self) -> Mapping[str, Any]:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S)
            self._session = egress_session(self.egress, timeout=timeout)
        headers = {"accept": "application/json"}
        async with self._session.get(self.url, headers=headers, allow_redirects=False) as resp:
            resp.raise_for_status()
            if resp.status != 200:
                raise ValueError(f"JWKS answered {resp.status}")
            body = await resp.read()
        if len(body) > MAX_DOCUMENT_BYTES:
            raise ValueError("JWKS document is too large")
        document = orjson.loads(body)
        if not isinstance(document, dict):
            raise ValueError("JWKS document is not an object")
        return document

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
