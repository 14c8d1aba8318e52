"""The one HTTP client for URLs a customer or operator gave: webhooks, alerts, exports, and
the identity provider's discovery document, keys, token and userinfo endpoints.

Three layers hold egress_rules.py's rules, so no URL reaches the gateway's own network:
- a client middleware checks each request's URL before it is sent (scheme, no user info, an
  address literal, the names of this machine and of metadata services);
- the connector's resolver checks every address a name resolves to and hands the connector
  only those, so the connection is made to the very addresses checked (a name that
  rebinds between a check and the connection cannot switch it: there is no second lookup);
- callers send with allow_redirects=False, so a 3xx is a failed delivery, never followed.
`checked_url` runs the same rules when a URL is registered (the API answers 400).
"""

from __future__ import annotations

import errno
import socket

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from gateway.config.egress_rules import (
    EgressPolicy,
    EgressRefused,
    check_addresses,
    check_url,
    literal,
)


class EgressBlocked(aiohttp.ClientError):
    """A request to a URL the egress rules refuse: nothing was sent."""


class EgressResolver(AbstractResolver):
    """Resolves with `inner` and answers only addresses the rules allow (else OSError,
    which aiohttp reports as a failed connection: nothing is sent)."""

    def __init__(self, policy: EgressPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self.inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        try:
            check_addresses(host.rstrip("."), [r["host"] for r in found], self.policy)
        except EgressRefused as exc:
            raise OSError(errno.EACCES, f"egress refused: {exc}") from exc
        return found

    async def close(self) -> None:
        await self.inner.close()


def _middleware(policy: EgressPolicy) -> aiohttp.ClientMiddlewareType:
    async def check(
        req: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        try:
            check_url(str(req.url), policy)
        except EgressRefused as exc:
            raise EgressBlocked(f"egress refused: {exc}") from exc
        return await handler(req)

    return check


def egress_session(
    policy: EgressPolicy,
    inner: AbstractResolver | None = None,
    timeout: aiohttp.ClientTimeout | None = None,
) -> aiohttp.ClientSession:
    """A session whose every request obeys the egress rules (see the module's docstring);
    its callers send with allow_redirects=False."""
    connector = aiohttp.TCPConnector(resolver=EgressResolver(policy, inner))
    return aiohttp.ClientSession(
        connector=connector,
        middlewares=(_middleware(policy),),
        timeout=timeout or aiohttp.client.DEFAULT_TIMEOUT,
    )


async def checked_url(
    url: str, policy: EgressPolicy, inner: AbstractResolver | None = None
) -> None:
    """Raise EgressRefused unless `url` may be sent to now: the rules, then every address
    its host resolves to (a name that does not resolve is refused too)."""
    host = check_url(url, policy)
    if policy.host_admitted(host) or literal(host) is not None:
        return
    resolver = inner or DefaultResolver()
    try:
        found = await resolver.resolve(host, 443, socket.AF_UNSPEC)
    except OSError as exc:
        raise EgressRefused(f"{host} does not resolve") from exc
    finally:
        if inner is None:
            await resolver.close()
    check_addresses(host, [r["host"] for r in found], policy)
