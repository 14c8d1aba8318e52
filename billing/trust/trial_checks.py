"""Who gets a sign-up's trial credit, pure: the network a client address counts as, what a
device fingerprint is stored as, the one verdict a sign-up's checks reach, and the
suspected farms (sign-ups sharing a card, a network or a mailbox) an operator reviews.

The checks themselves need counts and look-ups (gateway/services/trust/trial_gate.py takes them);
what they decide, and how sign-ups group, is here. The mailbox is `billing/members/signup.py`'s
normalized address (a +tag and Gmail's dots folded): it groups sign-ups and limits trials,
and never decides who a person is.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

# A sign-up's trial: given, waiting for a card verification, or refused by a check.
Hold = Literal["none", "card", "refused"]
Check = Literal["disposable", "network", "device", "card"]
V4_PREFIX, V6_PREFIX = 24, 48
SHARED = ("card", "network", "mailbox")  # what a farm's sign-ups may share, strongest first


def network_of(remote: str) -> str:
    """The network a client address counts as: its /24 (IPv4, an IPv4-mapped IPv6 address
    included) or its /48 (IPv6); "" for what is no IP address (a Unix socket's peer)."""
    try:
        ip = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = V4_PREFIX if ip.version == 4 else V6_PREFIX
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def device_of(raw: str) -> str:
    """A device fingerprint as stored and counted: the SHA-256 of what the client sent (the
    sign-up form's cookie or the Meterway-Device header), so no cookie is kept; "" for none."""
    raw = raw.strip()
    return hashlib.sha256(raw.encode()).hexdigest()[:32] if raw else ""


@dataclass(frozen=True, slots=True)
class Findings:
    """What the checks that are on found for one sign-up: a disposable address, the sign-ups
    its network and its device opened today (this one included), and whether a card check
    is asked for. A limit of 0 is off."""

    disposable: bool = False
    network_count: int = 0
    device_count: int = 0
    network_limit: int = 0
    device_limit: int = 0
    card_required: bool = False


def verdict(found: Findings) -> tuple[Hold, Check | None]:
    """The trial's hold and the check that refused it (for operators only; the person is
    told the same thing whichever check it was). A refusal by any check beats waiting for
    a card: a card never buys back what another check refused."""
    if found.disposable:
        return "refused", "disposable"
    if found.network_limit and found.network_count > found.network_limit:
        return "refused", "network"
    if found.device_limit and found.device_count > found.device_limit:
        return "refused", "device"
    return ("card", None) if found.card_required else ("none", None)


@dataclass(frozen=True, slots=True)
class Farm:
    """Sign-ups linked by what they share (directly or through one another): the accounts,
    and each shared value by kind (`card`, `network`, `mailbox`)."""

    accounts: tuple[str, ...]
    shared: Mapping[str, tuple[str, ...]]


def farms(rows: Iterable[Mapping[str, object]], minimum: int = 2) -> list[Farm]:
    """Group sign-ups (`account_id` and any of `card`, `network`, `mailbox`) into suspected
    farms: the connected groups of at least `minimum` accounts, where two accounts are linked
    when they share a non-empty value of one kind. Largest first, then by first account."""
    parent: dict[str, str] = {}

    def root(a: str) -> str:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    owner: dict[tuple[str, str], str] = {}
    values: dict[str, set[tuple[str, str]]] = {}
    for row in rows:
        account = str(row["account_id"])
        parent.setdefault(account, account)
        for kind in SHARED:
            value = str(row.get(kind) or "")
            if not value:
                continue
            values.setdefault(account, set()).add((kind, value))
            first = owner.setdefault((kind, value), account)
            parent[root(account)] = root(first)
    groups: dict[str, list[str]] = {}
    for account in parent:
        groups.setdefault(root(account), []).append(account)
    found = [_farm(sorted(g), values) for g in groups.values() if len(g) >= minimum]
    return sorted(found, key=lambda f: (-len(f.accounts), f.accounts[0]))


def _farm(accounts: list[str], values: Mapping[str, set[tuple[str, str]]]) -> Farm:
    """A group's accounts and the values at least two of them share."""
    seen: dict[tuple[str, str], int] = {}
    for account in accounts:
        for pair in values.get(account, ()):
            seen[pair] = seen.get(pair, 0) + 1
    shared = {
        kind: tuple(sorted(v for (k, v), n in seen.items() if k == kind and n > 1))
        for kind in SHARED
    }
    return Farm(tuple(accounts), {k: v for k, v in shared.items() if v})
