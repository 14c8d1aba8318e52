"""Domain claims (DOMAIN_*): where their DNS TXT proofs are looked up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.config import values as v


@dataclass(frozen=True)
class DomainSettings:
    # The DNS resolver asked for a claim's TXT record (host, port); None: the system's
    # (/etc/resolv.conf).
    resolver: tuple[str, int] | None = None


def domain_settings(get: Callable[..., object]) -> DomainSettings:
    raw = str(get("DOMAIN_DNS_RESOLVER", "") or "")
    return DomainSettings(resolver=v.listen(raw, "DOMAIN_DNS_RESOLVER") if raw else None)
