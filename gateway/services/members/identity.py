"""Who a person signing in is, and what they may choose among.

An invitation belongs to the person it invites and binds only when they accept it: from its
accept link, or on the page that lists their invitations after they sign in. First come
never wins: a person invited by two organizations lands in neither until they choose, and
accepting one leaves the other pending. A person proven by an identity provider (its
(issuer, subject), with the e-mail only when verified) is bound to one member at most (the
`(issuer, subject)` key is unique); a person proven by an e-mailed link (the mailbox) may be
a member of every organization that invited that address and that they accepted.
Joining and leaving go through services/members/joining.py."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import Conflict, NotFound, SigninFailed
from gateway.services.members.joining import Joining, Way, join
from gateway.stores.errors import DuplicateMember
from gateway.stores.ports import DirectoryPort, DomainClaimsPort, MembersPort
from gateway.stores.records import Row

ACCEPT_LINK_DAYS = 7  # how long an invitation's accept link works; the invitation stays


@dataclass(frozen=True, slots=True)
class Person:
    """Someone a sign-in proved: an identity provider's user (`subject` set, `email` only
    when verified) or whoever holds the mailbox an e-mailed link went to."""

    email: str
    issuer: str = ""
    subject: str = ""
    protocol: str = ""  # "saml" for a SAML identity provider's user; OIDC's otherwise

    def ticket(self) -> dict[str, object]:
        return {
            "email": self.email,
            "issuer": self.issuer,
            "subject": self.subject,
            "protocol": self.protocol,
        }

    @property
    def identity(self) -> tuple[str, str]:
        """(issuer, subject): who the identity provider says this is."""
        return self.issuer, self.subject

    @property
    def via(self) -> str:
        """How the sign-in proved this person, as the audit log names it."""
        if self.protocol:
            return self.protocol
        return "oidc" if self.subject else "e-mailed link"

    @classmethod
    def from_ticket(cls, data: dict[str, object]) -> Person:
        return cls(
            str(data["email"]),
            str(data["issuer"]),
            str(data["subject"]),
            str(data.get("protocol", "")),
        )


@dataclass(frozen=True, slots=True)
class Choices:
    """The organizations a person may enter now and the invitations waiting for them."""

    person: Person
    members: list[Row]
    pending: list[Row]

    @property
    def must_choose(self) -> bool:
        """The page of choices comes first unless there is one obvious way in."""
        many = len(self.pending) > 1 or len(self.members) > 1
        return many or (bool(self.pending) and not self.members)

    @property
    def may_accept(self) -> bool:
        """An identity provider's user already bound to a member can accept no other."""
        return not (self.person.subject and self.members)


async def choices_of(
    person: Person, members: MembersPort, directory: DirectoryPort, claims: DomainClaimsPort
) -> Choices:
    if not person.subject:
        rows = await members.by_email(person.email)
        accepted = [r for r in rows if r["accepted_at"] is not None]
        return Choices(person, accepted, [r for r in rows if r["accepted_at"] is None])
    bound = await members.by_subject(person.issuer, person.subject)
    pending = await members.unbound_by_email(person.email) if person.email else []
    if bound is None and not pending:
        account = await directory.account_by_external_id(person.subject)
        if account is not None:  # the user-token convention: the account is this user's
            j = Joining(account["id"], person.email, Way.SIGN_IN, "member", *person.identity)
            bound = (await join(members, claims, j)).member
    return Choices(person, [bound] if bound is not None else [], pending)


def nobody(person: Person) -> SigninFailed:
    who = person.email or "this user"
    return SigninFailed(f"No account has invited {who}; ask its operator to add you.")


async def accept(person: Person, member_id: str, members: MembersPort) -> Row:
    """The person accepts one of their invitations; an identity provider's user is bound
    to it from now on."""
    if not person.email:
        raise NotFound("Your identity provider did not give a verified e-mail to match.")
    try:
        row = await members.accept(member_id, person.email, person.issuer, person.subject)
    except DuplicateMember as exc:
        raise Conflict(
            "You are a member of another organization already; ask its owner to remove you"
            " first, or decline this invitation."
        ) from exc
    if row is None:
        raise NotFound("No such invitation for you; it may have been withdrawn.")
    return row


async def decline(person: Person, member_id: str, members: MembersPort) -> Row:
    row = await members.decline(member_id, person.email) if person.email else None
    if row is None:
        raise NotFound("No such invitation for you; it may have been withdrawn.")
    return row
