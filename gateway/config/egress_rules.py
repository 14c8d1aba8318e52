"""Which addresses the gateway may send a customer's or an operator's URL to: pure rules.

A webhook, an alert's target or an export endpoint is a URL someone else typed; the gateway
must never be the one who reaches its own network with it (a Redis on 127.0.0.1, a cloud's
metadata service on 169.254.169.254, a database on 10.0.0.5). So every such URL must be
https (unless EGRESS_ALLOW_HTTP), and every address its host stands for must be on the
public internet (gateway/addresses.py, the one classifier, decides), unless the operator
admits the host or network on purpose (EGRESS_ALLOW_HOSTS). `egress.py` applies these rules
at registration and again to the very addresses a connection is made to.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.addresses import IP, Net, parse, refusal

# Names that stand for the machine itself or a cloud's metadata service, whatever DNS says.
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata", "instance-data"})


class EgressRefused(ValueError):
    """A URL or address the gateway will not send to; the message says why, for people."""


@dataclass(frozen=True)
class EgressPolicy:
    """EGRESS_ALLOW_HOSTS (host names and CIDR networks admitted on purpose) and
    EGRESS_ALLOW_HTTP (plain http besides https)."""

    allow_hosts: frozenset[str] = frozenset()
    allow_nets: tuple[Net, ...] = ()
    allow_http: bool = False

    def host_admitted(self, host: str) -> bool:
        return _norm(host) in self.allow_hosts

    def address_admitted(self, ip: IP) -> bool:
        return any(ip in net for net in self.allow_nets if ip.version == net.version)


def parse_allow(raw: str) -> tuple[frozenset[str], tuple[Net, ...]]:
    """`host, 10.0.0.0/8, 127.0.0.1`: names, and networks (an address is a /32 or /128).
    Raises ValueError naming an entry that is neither."""
    hosts: set[str] = set()
    nets: list[Net] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            nets.append(ipaddress.ip_network(item.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        if "/" in item or ":" in item or " " in item:
            raise ValueError(f"{item!r} is neither a host name nor an address or CIDR network")
        hosts.add(_norm(item))
    return frozenset(hosts), tuple(nets)


def _norm(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def check_address(host: str, ip: IP, policy: EgressPolicy) -> None:
    """Raise EgressRefused unless `ip` (one address `host` stands for) may be reached. The
    message names the address only when it is the host itself: a customer learns nothing
    of what the gateway's own DNS answers for an internal name."""
    if policy.host_admitted(host) or policy.address_admitted(ip):
        return
    why = refusal(ip)
    if why is not None:
        said = f"is {why}" if literal(host) is not None else f"resolves to {why}"
        raise EgressRefused(f"{host} {said}")


def check_addresses(host: str, addresses: Iterable[str], policy: EgressPolicy) -> None:
    """Every address a name resolved to must be allowed: one internal answer among public
    ones is refused, not skipped (a rebinding resolver answers both)."""
    found = False
    for raw in addresses:
        found = True
        ip = parse(raw)
        if ip is None:
            raise EgressRefused(f"{host} resolves to something that is not an address")
        check_address(host, ip, policy)
    if not found:
        raise EgressRefused(f"{host} does not resolve")


def literal(host: str) -> IP | None:
    return parse(_norm(host))


def check_url(url: str, policy: EgressPolicy) -> str:
    """The host of `url`, once its scheme, form and (for an address) the address itself
    pass; a name's addresses are checked when it is resolved. Raises EgressRefused."""
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port
    except ValueError as exc:
        raise EgressRefused("not a URL the gateway can send to") from exc
    allowed = ("https", "http") if policy.allow_http else ("https",)
    if parts.scheme not in allowed:
        plain = " (plain http needs EGRESS_ALLOW_HTTP=1)" if parts.scheme == "http" else ""
        raise EgressRefused(f"must be an https URL{plain}")
    if not host:
        raise EgressRefused("has no host")
    if parts.username is not None or parts.password is not None:
        raise EgressRefused("must not carry a user name or password")
    name = _norm(host)
    ip = literal(name)
    if ip is not None:
        check_address(name, ip, policy)
    elif not policy.host_admitted(name) and (
        name == "localhost" or name.endswith(".localhost") or name in METADATA_NAMES
    ):
        raise EgressRefused(f"{name} is this machine or a metadata service")
    return name
