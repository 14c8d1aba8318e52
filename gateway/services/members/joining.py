"""One way into an organization and one way out.

Every path that makes a person a member, or makes them one again, asks `admit` first: a
sign-in joining by its domain's `join_role`, an identity provider's token naming a role,
accepting an invitation, opening one's own organization, and the organization's directory
(SCIM) creating, changing or reactivating a person. It holds the one rule:
- removed means removed: a person an owner, the operator or the directory removed is not
  joined back by a sign-in or a token; only an invitation or the directory restores them;
- a proven domain's people join its organization only, and an organization that proved
  domains takes from its directory only their people;
- one member per person: an address is one member of an organization however the
  identity provider spells its NameID (its capitals, a persistent id beside the address),
  when the same provider asserts it and the organization proved its domain; otherwise the
  second identity is refused, clearly (`MemberConflict`); the database's unique keys
  decide two sign-ins at once.
Every path that ends or narrows a membership goes through `leave` or `narrow`: the
organization's only owner is neither removed nor demoted (`LastOwner`), a removal revokes
every key minted under the member (their `meterway login` tokens are such keys) and is
remembered, and their dashboard sessions and tokens end on their next request.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from billing.grants import MCP_SCOPE, PROXY_SCOPES
from billing.roles import may_spend
from gateway.errors import DomainClaimed, DomainOutside, LastOwner, MemberConflict, MemberRemoved
from gateway.services.keys import grant_of_key, revoke_key, set_key_grant
from gateway.services.members.domain_claims import holder_of, taken
from gateway.stores.errors import DuplicateMember, OnlyOwner
from gateway.stores.ports import DomainClaimsPort, HotStorePort, LedgerPort, MembersPort
from gateway.stores.records import Row

ONLY_OWNER = "This is the organization's only owner: make another member an owner first."


class Way(StrEnum):
    """How a person comes in; the removal record stops the ways a person takes alone."""

    SIGN_IN = "sign-in"  # SAML or OIDC by the domain's join role, a token's role claim
    INVITATION = "invitation"  # accepting an invitation an owner or the operator sent
    SIGNUP = "sign-up"  # opening one's own organization
    DIRECTORY = "directory"  # the organization's SCIM directory: creates and restores


@dataclass(frozen=True, slots=True)
class Joining:
    """A person about to be a member of `account_id` with `role`, and how."""

    account_id: str
    email: str
    way: Way
    role: str = "member"
    issuer: str = ""
    subject: str = ""


@dataclass(frozen=True, slots=True)
class Joined:
    """The member a joining made (`new`) or found the person to be already."""

    member: Row
    new: bool


async def admit(members: MembersPort, claims: DomainClaimsPort, j: Joining) -> Row | None:
    """Check the one rule for `j`: the member the person is already (same organization,
    same person), or None when one may be made. Raises the refusal otherwise."""
    if j.way == Way.SIGN_IN and await members.was_removed(
        j.account_id, j.issuer, j.subject, j.email
    ):
        raise MemberRemoved(
            "You were removed from this organization: a sign-in does not bring you back;"
            " ask an owner to invite you again, or your directory to restore you."
        )
    await _domain_allows(claims, j)
    if j.way in (Way.DIRECTORY, Way.INVITATION):  # their row is the invitation's, the upsert's
        return None
    return await _same_person(members, claims, j)


async def may_accept(members: MembersPort, claims: DomainClaimsPort, invitation: Row) -> None:
    """An invitation is accepted only where the one rule admits its person (a domain
    proven since it was sent sends them to its organization only)."""
    j = Joining(str(invitation["account_id"]), str(invitation["email"]), Way.INVITATION)
    await admit(members, claims, j)


async def _domain_allows(claims: DomainClaimsPort, j: Joining) -> None:
    holder = await holder_of(claims, j.email) if j.email else None
    if holder is not None and holder["account_id"] != j.account_id:
        raise DomainClaimed(taken(str(holder["domain"])), param="email")
    if j.way == Way.DIRECTORY and holder is None:
        proven = [c for c in await claims.of_account(j.account_id) if c["verified_at"]]
        if proven:
            names = ", ".join(str(c["domain"]) for c in proven)
            raise DomainOutside(
                f"{j.email or 'This user'} is in none of this organization's proven domains"
                f" ({names}): its directory provisions only their people.",
                param="email",
            )


async def _same_person(members: MembersPort, claims: DomainClaimsPort, j: Joining) -> Row | None:
    bound = await members.by_subject(j.issuer, j.subject) if j.subject else None
    if bound is not None and bound["account_id"] == j.account_id:
        return bound
    here = [r for r in await members.by_email(j.email) if r["account_id"] == j.account_id]
    if not here and bound is not None:  # (issuer, subject) is one member, in one organization
        raise MemberConflict(
            "This identity is a member of another organization already; sign in there,"
            " or ask its owner to remove you first."
        )
    if not here:
        return None
    row = here[0]
    holder = await holder_of(claims, j.email)
    vouched = holder is not None and holder["account_id"] == j.account_id
    if j.way == Way.SIGN_IN and row["issuer"] == (j.issuer or None) and vouched:
        return row  # the same provider asserts the organization's own address again
    raise MemberConflict(
        f"{j.email} is a member of this organization under another sign-in; sign in the way"
        " you did before, or ask an owner to remove that member first.",
        param="email",
    )


async def join(members: MembersPort, claims: DomainClaimsPort, j: Joining) -> Joined:
    """Admit `j` and make the member (bound to (issuer, subject) when given). Of two
    sign-ins at once, the second finds the first's member (the unique keys decide)."""
    found = await admit(members, claims, j)
    if found is not None:
        return Joined(found, False)
    try:
        row = await members.add(j.account_id, j.email, j.issuer, j.subject, j.role)
    except DuplicateMember as exc:
        again = await _same_person(members, claims, j)
        if again is None:
            raise MemberConflict(f"{j.email} joined meanwhile; sign in again.") from exc
        return Joined(again, False)
    return Joined(row, True)


async def leave(
    members: MembersPort,
    ledger: LedgerPort,
    store: HotStorePort,
    account_id: str,
    member: str,
    *,
    operator: bool = False,
) -> bool:
    """End a membership: every key minted under the member (by them, or by one of their
    keys, `meterway login`'s included) is revoked, the removal is remembered, and their
    sessions end on their next request (a session re-reads its member). LastOwner for the
    only owner, before anything is revoked, unless the `operator` removes them (the
    gateway's operator stands above every organization and makes its owners); False when
    the account has no such member."""
    found = await members.get(member)
    if found is None or found["account_id"] != account_id:
        return False
    if found["role"] == "owner" and not operator:
        await _not_only_owner(members, found)
    for key_id in await members.keys_of_member(member):
        row = await ledger.get_key(key_id)
        if row is not None and row["revoked_at"] is None:
            await revoke_key(ledger, store, row)
    try:
        return await members.remove(account_id, member, keep_an_owner=not operator)
    except OnlyOwner as exc:  # another owner left meanwhile
        raise LastOwner(ONLY_OWNER) from exc


async def narrow(
    members: MembersPort,
    ledger: LedgerPort,
    store: HotStorePort,
    member: str,
    role: str,
    *,
    operator: bool = False,
) -> tuple[Row | None, list[Row]]:
    """Give a member another role: (the member as it is now, or None when there is none;
    the key rows a role that may not spend rewrote). LastOwner for the only owner, unless
    the `operator` changes it."""
    try:
        row = await members.set_role(member, role, keep_an_owner=not operator)
    except OnlyOwner as exc:
        raise LastOwner(ONLY_OWNER) from exc
    if row is None:
        return None, []
    return row, await keys_within_role(members, ledger, store, member, role)


async def _not_only_owner(members: MembersPort, row: Row) -> None:
    owners = [
        r
        for r in await members.of_account(row["account_id"])
        if r["role"] == "owner" and (r["accepted_at"] is not None or r["subject"] is not None)
    ]
    if [r["id"] for r in owners] == [row["id"]]:
        raise LastOwner(ONLY_OWNER)


async def keys_within_role(
    members: MembersPort, ledger: LedgerPort, store: HotStorePort, member: str, role: str
) -> list[Row]:
    """A member given a role that may not spend (viewer, billing) keeps no key that spends:
    each of their live keys, and every key under it, loses the proxy's and MCP's scopes at
    once (the proxy reads scopes from Redis, not the role); a key left with none is revoked.
    The rows written, for the caller's cache and audit."""
    if may_spend(role):
        return []
    written: list[Row] = []
    for key_id in await members.keys_of_member(member):
        row = await ledger.get_key(key_id)
        if row is None or row["revoked_at"] is not None:
            continue
        grant = grant_of_key(row)
        kept = frozenset(s for s in grant.scopes if not _spends(s))
        if not kept:
            await revoke_key(ledger, store, row)
        elif kept != grant.scopes:
            written += await set_key_grant(ledger, store, row, replace(grant, scopes=kept))
    return written


def _spends(scope: str) -> bool:
    return scope in PROXY_SCOPES or scope == MCP_SCOPE or scope.startswith(MCP_SCOPE + ":")
