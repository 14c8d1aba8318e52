"""Domains an organization proves it holds (DNS TXT), so the people of that domain, however
they arrive (SAML, OIDC, SCIM, an invitation, a sign-up), join that organization and no other.

The proof is a TXT record at `_meterway-challenge.<domain>` holding
`meterway-domain-verification=<token>`, the token given when the claim was made. A claim
covers its domain exactly (not its subdomains: `eu.example.com` is claimed on its own).
"""

from __future__ import annotations

import re

CHALLENGE_LABEL = "_meterway-challenge"
TXT_PREFIX = "meterway-domain-verification="
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class InvalidDomain(ValueError):
    """Not a domain name a claim can be made for."""


def normalized(domain: str) -> str:
    """`domain` as claims are kept: lower case, IDNA (punycode), no trailing dot; raises
    InvalidDomain for anything else (an address, a wildcard, a single label, an IP)."""
    name = domain.strip().rstrip(".").lower()
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidDomain(f"{domain!r} is not a domain name.") from exc
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.match(x) for x in labels):
        raise InvalidDomain(f"{domain!r} is not a domain name (like example.com).")
    if labels[-1].isdigit():
        raise InvalidDomain(f"{domain!r} is an address, not a domain name.")
    return name


def domain_of(email: str) -> str:
    """The domain of an e-mail address as claims name it; empty when it has none."""
    _, at, domain = email.strip().lower().rpartition("@")
    if not at:
        return ""
    try:
        return normalized(domain)
    except InvalidDomain:
        return ""


def record_name(domain: str) -> str:
    return f"{CHALLENGE_LABEL}.{domain}"


def record_value(token: str) -> str:
    return TXT_PREFIX + token


def proven(txt_values: list[str], token: str) -> bool:
    """Whether one of the TXT record's values is this claim's (exactly)."""
    return record_value(token) in (value.strip() for value in txt_values)
