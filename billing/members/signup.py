"""Sign-up's rules, pure: the policy, what one e-mail address is (so one person gets one
trial however they spell it), whose domains are refused, and a plan's trial grant.

An address is normalized to lower case with any `+tag` dropped from its local part
(`Ada+test@Example.com` is `ada@example.com`). Dots are kept, except at gmail.com and
googlemail.com (one mailbox: Gmail ignores dots there, and googlemail.com is gmail.com), so
`a.da@gmail.com` is `ada@gmail.com`. Other providers may treat dots as significant, and
merging two real people would refuse one of them their sign-up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Policy = Literal["closed", "approval", "open"]
POLICIES: tuple[Policy, ...] = ("closed", "approval", "open")
GMAIL = frozenset({"gmail.com", "googlemail.com"})
MAX_ADDRESS = 254


class AddressError(ValueError):
    """Not an e-mail address a sign-up takes."""


@dataclass(frozen=True, slots=True)
class Address:
    """An address as typed (lower-cased, kept for mail) and the one it counts as."""

    email: str
    normalized: str

    @property
    def domain(self) -> str:
        return self.normalized.rsplit("@", 1)[1]


def address(raw: str) -> Address:
    """The address a person typed, checked and normalized; AddressError otherwise."""
    email = raw.strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain or len(email) > MAX_ADDRESS:
        raise AddressError("Enter an e-mail address such as ada@example.com.")
    if not email.isascii() or any(c.isspace() or c in '<>(),;:"[]\\' for c in email):
        raise AddressError("This e-mail address has characters a mailbox cannot.")
    if domain.startswith(".") or domain.endswith(".") or ".." in domain:
        raise AddressError("Enter an e-mail address such as ada@example.com.")
    base = local.split("+", 1)[0] or local
    if domain in GMAIL:
        base, domain = base.replace(".", ""), "gmail.com"
    return Address(email, f"{base}@{domain}")


def blocked(domain: str, blocked_domains: Iterable[str]) -> bool:
    """A domain on the list, or under one (`example.com` blocks `mail.example.com`)."""
    return any(domain == d or domain.endswith("." + d) for d in blocked_domains)
