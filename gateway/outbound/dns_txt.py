"""TXT records, for domain claims' proofs (billing/members/domains.py), by dnspython's resolver:
the system's, or DOMAIN_DNS_RESOLVER's. dnspython is imported by the first lookup (a tenth
of a second), not by every gateway's and every `meterway` command's start."""

from __future__ import annotations

from gateway.errors import DomainLookupFailed

TIMEOUT_S = 5.0


async def txt_values(name: str, resolver_at: tuple[str, int] | None) -> list[str]:
    """Every string of every TXT record at `name`; empty when it has none (or no such
    name). DomainLookupFailed when the resolver does not answer."""
    import dns.asyncresolver
    import dns.exception
    import dns.resolver

    resolver = dns.asyncresolver.Resolver(configure=resolver_at is None)
    if resolver_at is not None:
        resolver.nameservers = [resolver_at[0]]
        resolver.port = resolver_at[1]
    resolver.lifetime = TIMEOUT_S
    try:
        answer = await resolver.resolve(name, "TXT", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.DNSException as exc:
        raise DomainLookupFailed(f"DNS did not answer for {name}: {exc}") from exc
    return [b"".join(record.strings).decode("utf-8", "replace") for record in answer]
