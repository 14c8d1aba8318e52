"""What the account and admin surfaces share about an account's people: inviting one by
e-mail with a role (`add_member`, through the one mint), reading a role from a body, and a
member as the API shows it."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from billing.roles import RoleError, parse_role
from gateway.errors import Conflict, InvalidRequest
from gateway.http import audited, bodies
from gateway.http.appkeys import DOMAIN_CLAIMS, MEMBERS
from gateway.http.people import invite_links
from gateway.services.keys import mint
from gateway.services.keys.mint import Creator
from gateway.services.members import domain_claims
from gateway.stores.errors import DuplicateMember
from gateway.stores.records import Row


def member_json(row: Row) -> dict[str, Any]:
    signed_in, accepted = row["signed_in_at"], row.get("accepted_at")
    return {
        "id": row["id"],
        "object": "account_member",
        "account_id": row["account_id"],
        "email": row["email"],
        "issuer": row["issuer"],
        "subject": row["subject"],
        "role": row["role"],
        "team_id": row["team_id"],
        "created_at": row["created_at"].isoformat(),
        "signed_in_at": signed_in.isoformat() if signed_in else None,
        "accepted_at": accepted.isoformat() if accepted else None,
        **({"accept_url": row["accept_url"]} if "accept_url" in row else {}),
    }


def role_field(body: dict[str, Any], default: str) -> str:
    try:
        return parse_role(body.get("role", default))
    except RoleError as exc:
        raise InvalidRequest(str(exc), param="role") from exc


async def add_member(
    request: web.Request,
    account_id: str,
    body: dict[str, Any],
    default_role: str,
    by: tuple[Creator, str] | None = None,
) -> Row:
    """Invite a person by e-mail with a role. The invitation is theirs to accept (by its
    link, shown once in the answer as `accept_url` and e-mailed when SMTP is configured,
    or on the page their next sign-in shows); until then it is pending. Its link is made
    by the one mint, for `by` (its creator and the role it grants as; the operator when
    None)."""
    email = bodies.email_field(body)
    role = role_field(body, default_role)
    creator, granter = by or (mint.operator(account_id), "owner")
    mint.invitation(creator, granter, role)
    await domain_claims.may_invite(request.config_dict[DOMAIN_CLAIMS], account_id, email)
    secret, kept = invite_links.new_secret()
    try:
        row = await request.config_dict[MEMBERS].add(
            account_id, email, role=role, accept_digest=kept
        )
    except DuplicateMember as exc:
        raise Conflict(
            "This account already has a member with this e-mail.", param="email"
        ) from exc
    url = invite_links.accept_url(request, secret)
    invite_links.mail_invitation(request, row, url)
    await audited.record(
        request, "member.invite", "member", row["id"], account_id, None, member_json(row)
    )
    return {**row, "accept_url": url}
