"""The reverse proxies in front of the gateway (TRUSTED_PROXIES), whose forwarding header
names the client (gateway/http/client_address.py).

Empty by default: a peer is the client, and a forwarding header, which anyone can send, is
ignored. Listed networks are the load balancers, ingresses and nginx hops the operator runs;
only their word about the client is taken.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from gateway.addresses import Net
from gateway.config.values import ConfigError, Get

HEADERS = ("x-forwarded-for", "forwarded")  # TRUSTED_PROXY_HEADER: the one read


@dataclass(frozen=True)
class ProxySettings:
    networks: tuple[Net, ...] = ()
    header: str = "x-forwarded-for"


def proxy_settings(get: Get) -> ProxySettings:
    """TRUSTED_PROXIES (comma-separated addresses and CIDR networks) and
    TRUSTED_PROXY_HEADER (`X-Forwarded-For`, or RFC 7239's `Forwarded`; the other is
    ignored, as a header a trusted proxy passes through unread could be the client's)."""
    nets = []
    for part in filter(None, (p.strip() for p in str(get("TRUSTED_PROXIES", "") or "").split(","))):
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise ConfigError(f"TRUSTED_PROXIES: {part!r} is not an address or network") from exc
    header = str(get("TRUSTED_PROXY_HEADER", "X-Forwarded-For") or "").strip().lower()
    if header not in HEADERS:
        raise ConfigError(
            f"TRUSTED_PROXY_HEADER must be X-Forwarded-For or Forwarded, got {header!r}"
        )
    return ProxySettings(tuple(nets), header)
