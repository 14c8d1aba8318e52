"""The one address classifier: is an IP address on the public internet, and if not, why.

Everything that decides whether the gateway may reach an address (egress_rules.py, for every
URL a customer or an operator typed) or whether an address names the gateway's own network
(llm/scrub.py, before a provider's text reaches a client) asks `refusal` here.

An IPv6 address that carries an IPv4 one is judged by the IPv4 address it carries, whatever
form carries it: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-translated (`::ffff:0:a.b.c.d`),
IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`; the local-use `64:ff9b:1::/48` is never
public), 6to4 (`2002::/16`) and Teredo (`2001::/32`, never public either). The rest is judged
by IANA's special-purpose registries, written out below rather than read from the standard
library's `is_global` (Python 3.11 calls `::7f00:1` and `fec0::1` global, and multicast
IPv4 global): an IPv6 address must be global unicast (`2000::/3`) besides.
"""

from __future__ import annotations

import ipaddress
from typing import Final

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Net = ipaddress.IPv4Network | ipaddress.IPv6Network
Table = tuple[tuple[str, tuple[Net, ...]], ...]

LOOPBACK: Final = "a loopback address"
PRIVATE: Final = "a private address"
LINK_LOCAL: Final = "a link-local address"
METADATA: Final = "a cloud metadata address"
UNSPECIFIED: Final = "an unspecified address"
CGNAT: Final = "a carrier-grade NAT address"
MULTICAST: Final = "a multicast address"
RESERVED: Final = "a reserved address"

# Cloud metadata services, whatever range they sit in.
METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
# IANA's IPv4 special-purpose registry, every block not globally reachable (the two anycast
# addresses of 192.0.0.0/24 that are reachable are refused with the block: no webhook lives
# there). Checked in order; the first that holds names the refusal.
_V4: tuple[tuple[str, tuple[str, ...]], ...] = (
    (UNSPECIFIED, ("0.0.0.0/8",)),
    (LOOPBACK, ("127.0.0.0/8",)),
    (PRIVATE, ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")),
    (LINK_LOCAL, ("169.254.0.0/16",)),
    (CGNAT, ("100.64.0.0/10",)),
    (MULTICAST, ("224.0.0.0/4",)),
    (
        RESERVED,
        (
            "192.0.0.0/24",  # IETF protocol assignments
            "192.0.2.0/24",  # documentation
            "192.88.99.0/24",  # 6to4 relay anycast, deprecated
            "198.18.0.0/15",  # benchmarking
            "198.51.100.0/24",  # documentation
            "203.0.113.0/24",  # documentation
            "240.0.0.0/4",  # future use, the broadcast address among them
        ),
    ),
)
# IPv6 blocks judged as themselves (the carriers of IPv4 are unwrapped first).
_V6: tuple[tuple[str, tuple[str, ...]], ...] = (
    (UNSPECIFIED, ("::/128",)),
    (LOOPBACK, ("::1/128",)),
    (PRIVATE, ("fc00::/7", "fec0::/10")),  # unique local; site-local, deprecated
    (LINK_LOCAL, ("fe80::/10",)),
    (MULTICAST, ("ff00::/8",)),
    (
        RESERVED,
        (
            "64:ff9b:1::/48",  # local-use NAT64
            "100::/64",  # discard-only
            "2001::/23",  # IETF protocol assignments, Teredo's 2001::/32 among them
            "2001:db8::/32",  # documentation
            "3fff::/20",  # documentation
        ),
    ),
)


def _nets(table: tuple[tuple[str, tuple[str, ...]], ...]) -> Table:
    return tuple((why, tuple(ipaddress.ip_network(n) for n in nets)) for why, nets in table)


V4_RANGES: Final = _nets(_V4)
V6_RANGES: Final = _nets(_V6)
GLOBAL_UNICAST: Final = ipaddress.IPv6Network("2000::/3")
_COMPATIBLE: Final = ipaddress.IPv6Network("::/96")
_TRANSLATED: Final = ipaddress.IPv6Network("::ffff:0:0:0/96")
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL: Final = ipaddress.IPv6Network("64:ff9b:1::/48")


def _low32(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)


def carried(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address carries (none for a plain one): one for the
    mapped, translated, compatible, NAT64 and 6to4 forms, Teredo's server and client."""
    if ip.ipv4_mapped is not None:
        return (ip.ipv4_mapped,)
    if ip in _TRANSLATED or ip in _NAT64 or ip in _NAT64_LOCAL:
        return (_low32(ip),)  # a local-use NAT64 prefix of /96, the usual one
    if ip in _COMPATIBLE and int(ip) > 1:  # `::` and `::1` are themselves
        return (_low32(ip),)
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    if ip.teredo is not None:
        return ip.teredo
    return ()


def _listed(ip: IP, table: Table) -> str | None:
    for why, nets in table:
        if any(ip in net for net in nets):
            return why
    return None


def _v4_refusal(ip: ipaddress.IPv4Address) -> str | None:
    if ip in METADATA_ADDRESSES:
        return METADATA
    return _listed(ip, V4_RANGES)


def refusal(ip: IP) -> str | None:
    """Why `ip` is not an address on the public internet (None: it is). An address that
    carries an internal IPv4 address is refused for that address."""
    if isinstance(ip, ipaddress.IPv4Address):
        return _v4_refusal(ip)
    if ip in METADATA_ADDRESSES:
        return METADATA
    for inner in carried(ip):
        why = _v4_refusal(inner)
        if why is not None:
            return why
    why = _listed(ip, V6_RANGES)
    if why is None and ip not in GLOBAL_UNICAST and not _public_carrier(ip):
        why = RESERVED  # outside global unicast: the compatible and translated forms too
    return why


def _public_carrier(ip: ipaddress.IPv6Address) -> bool:
    """The forms outside 2000::/3 that reach a public IPv4 address: mapped, and NAT64's
    well-known prefix."""
    return ip.ipv4_mapped is not None or ip in _NAT64


def parse(text: str) -> IP | None:
    """An address literal (brackets and an IPv6 zone allowed), or None for anything else."""
    try:
        return ipaddress.ip_address(text.strip().strip("[]").split("%")[0])
    except ValueError:
        return None


def is_internal(text: str) -> bool:
    """Whether `text` is an address literal off the public internet (a name is not)."""
    ip = parse(text)
    return ip is not None and refusal(ip) is not None
