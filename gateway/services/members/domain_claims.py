"""An organization's domains: claimed by an owner, proven by DNS, and then the one place the
domain's people may join (billing/members/domains.py has the pure rules).

Once proven, a domain's people:
- are invited by no other organization (`may_invite`: 409 `domain_claimed`), and invitations
  other organizations sent before are no longer offered to them at sign-in (`offered`);
- sign up to no organization of their own;
- join the claiming organization on their first SAML or OIDC sign-in when the claim names a
  `join_role` (just-in-time membership), else they still need its invitation.
People who are members elsewhere already stay there: a claim moves nobody.
"""

from __future__ import annotations

import secrets

from billing import roles
from billing.members import domains
from billing.members.domains import InvalidDomain
from gateway.errors import DomainClaimed, DomainNotProven, InvalidRequest, NotFound
from gateway.stores.errors import DomainTaken
from gateway.stores.ports import DomainClaimsPort
from gateway.stores.records import Row

JOIN_ROLES = tuple(r for r in roles.ROLES if r != "owner")  # nobody joins as an owner


def domain_field(raw: object) -> str:
    if not isinstance(raw, str):
        raise InvalidRequest("`domain` must be a domain name, like example.com.", param="domain")
    try:
        return domains.normalized(raw)
    except InvalidDomain as exc:
        raise InvalidRequest(str(exc), param="domain") from exc


def join_role_field(raw: object) -> str | None:
    if raw is None:
        return None
    if raw not in JOIN_ROLES:
        allowed = ", ".join(JOIN_ROLES)
        raise InvalidRequest(f"`join_role` is one of {allowed}, or null.", param="join_role")
    return str(raw)


async def claim(
    claims: DomainClaimsPort, account_id: str, domain: str, join_role: str | None
) -> Row:
    """Claim `domain` (normalized) for the account; the answer says which TXT record proves
    it. A domain another organization has proven is refused."""
    holder = await claims.holder(domain)
    if holder is not None and holder["account_id"] != account_id:
        raise DomainClaimed(taken(domain), param="domain")
    return await claims.claim(account_id, domain, secrets.token_urlsafe(24), join_role)


async def prove(claims: DomainClaimsPort, row: Row, txt_values: list[str]) -> Row:
    """Mark the claim proven if `txt_values` (its record's, just looked up) hold its value."""
    domain = str(row["domain"])
    if not domains.proven(txt_values, str(row["token"])):
        raise DomainNotProven(
            f"No TXT record at {domains.record_name(domain)} holds"
            f" {domains.record_value(str(row['token']))} yet (DNS may take a while)."
        )
    try:
        return await claims.proven(str(row["account_id"]), domain)
    except DomainTaken as exc:
        raise DomainClaimed(taken(domain), param="domain") from exc


async def owned(claims: DomainClaimsPort, account_id: str, domain: str) -> Row:
    row = await claims.get(account_id, domain)
    if row is None:
        raise NotFound("Your organization has not claimed this domain.")
    return row


async def holder_of(claims: DomainClaimsPort, email: str) -> Row | None:
    """The proven claim of `email`'s domain, if any."""
    domain = domains.domain_of(email)
    return await claims.holder(domain) if domain else None


async def may_invite(claims: DomainClaimsPort, account_id: str, email: str) -> None:
    holder = await holder_of(claims, email)
    if holder is not None and holder["account_id"] != account_id:
        raise DomainClaimed(taken(str(holder["domain"])), param="email")


async def offered(claims: DomainClaimsPort, email: str, invitations: list[Row]) -> list[Row]:
    """The invitations a person may accept: only the claiming organization's when their
    domain is proven."""
    holder = await holder_of(claims, email) if email else None
    if holder is None:
        return invitations
    return [r for r in invitations if r["account_id"] == holder["account_id"]]


def claim_json(row: Row) -> dict[str, object]:
    domain = str(row["domain"])
    verified = row["verified_at"]
    return {
        "object": "domain",
        "domain": domain,
        "join_role": row["join_role"],
        "verified": verified is not None,
        "verified_at": verified.isoformat() if verified is not None else None,
        "created_at": row["created_at"].isoformat(),
        "record": {
            "type": "TXT",
            "name": domains.record_name(domain),
            "value": domains.record_value(str(row["token"])),
        },
    }


def taken(domain: str) -> str:
    return f"{domain} is proven by another organization: its people join that one only."
