"""The client's address: the one place that reads who is calling, behind proxies or not.

Everything that acts on a client's address (the new-network anomaly rule, the sign-up and
sign-in limits per client and network, device logins, audit records) asks `client_address`;
a test holds that nothing else reads `request.remote` or a forwarding header.

The peer is the client unless it is one of TRUSTED_PROXIES. Then the forwarding header the
operator named (X-Forwarded-For, or RFC 7239's `Forwarded: for=`) is read right to left,
each trusted hop skipped, and the first address not trusted is the client, as nginx's
`real_ip_recursive`, uvicorn's ProxyHeadersMiddleware and Werkzeug's ProxyFix read it: every
entry right of it was written by a proxy the operator runs, anything left of it by whoever
called, who may write anything. An entry that is not an address (`unknown`, an obfuscated
name, garbage) ends the walk: the client is the last hop that could be vouched for. A chain
of trusted hops only names its leftmost.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aiohttp import web

from gateway.addresses import IP, Net, parse
from gateway.config.proxies import ProxySettings
from gateway.http.appkeys import SETTINGS


def client_address(request: web.Request) -> str:
    """The calling client's address as text ('' when the transport has none: a Unix
    socket)."""
    proxies = request.config_dict[SETTINGS].proxies
    peer = request.remote or ""
    if not proxies.networks:
        return peer
    return client_of(peer, request.headers.getall(proxies.header, []), proxies)


def client_of(peer: str, headers: Sequence[str], proxies: ProxySettings) -> str:
    """The client behind `peer`, from the forwarding header's values in the order received
    (pure: the rules of the module's docstring)."""
    ip = _unmapped(parse(peer))
    if ip is None or not _trusted(ip, proxies.networks):
        return peer
    read = _forwarded_for if proxies.header == "forwarded" else _x_forwarded_for
    vouched = ip
    for entry in reversed(list(read(headers))):
        hop = _unmapped(parse(_without_port(entry)))
        if hop is None:
            break
        vouched = hop
        if not _trusted(hop, proxies.networks):
            break
    return str(vouched)


def _trusted(ip: IP, networks: Iterable[Net]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def _unmapped(ip: IP | None) -> IP | None:
    """An IPv4 client on a dual-stack socket (`::ffff:a.b.c.d`) is the IPv4 address."""
    mapped = getattr(ip, "ipv4_mapped", None)
    return mapped if mapped is not None else ip


def _x_forwarded_for(headers: Sequence[str]) -> list[str]:
    """Every entry of every X-Forwarded-For header, as one list (RFC 7230 joins repeats)."""
    return [part.strip() for h in headers for part in h.split(",")]


def _forwarded_for(headers: Sequence[str]) -> list[str]:
    """The `for=` of every element of every Forwarded header (RFC 7239 section 4); an element
    without one is an entry that names no address."""
    found = []
    for element in (e for h in headers for e in h.split(",")):
        pairs = (p.strip().partition("=") for p in element.split(";"))
        values = [value.strip().strip('"') for name, _, value in pairs if name.lower() == "for"]
        found.append(values[0] if values else "")
    return found


def _without_port(entry: str) -> str:
    """`[2001:db8::1]:443` -> `2001:db8::1`, `192.0.2.1:80` -> `192.0.2.1`; a bare IPv6
    address (more than one colon) is left as it is."""
    if entry.startswith("["):
        return entry[1 : entry.find("]")] if "]" in entry else ""
    if entry.count(":") == 1:
        return entry.partition(":")[0]
    return entry
