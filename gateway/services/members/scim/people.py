"""A directory's users: creating one makes (or finds) the organization's member; `active:
false` or deleting one removes the member the way removing a member does
(`services/joining.leave`: every key minted under them is revoked, their sessions end on
their next request, the only owner stays); `active: true` again makes them a member once
more, placed by their groups, without the revoked keys. Creating, changing the address of
and reactivating a user pass the one rule for joining (`services/joining.admit`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from billing.members.scim_filter import ScimSyntax
from billing.members.scim_patch import apply
from gateway.errors import ScimInvalid, ScimUniqueness
from gateway.services.members.joining import Joining, Way, admit, leave
from gateway.services.members.scim.discovery import MULTI
from gateway.services.members.scim.placement import Directory, Placed, place
from gateway.services.members.scim.resources import user_fields
from gateway.stores.errors import DuplicateScim
from gateway.stores.records import Row


@dataclass(frozen=True, slots=True)
class Changed:
    """A user as a change left it, and what it did: `turned` is "deactivate" or
    "reactivate" when `active` changed, else ""."""

    row: Row
    turned: str = ""
    placed: Placed | None = None


def taken(exc: DuplicateScim) -> ScimUniqueness:
    return ScimUniqueness("This organization's directory already has it (userName, or the person).")


async def create(d: Directory, account_id: str, body: Mapping[str, Any]) -> Changed:
    """A directory's new person, a member now, if the one rule admits them: none of a
    domain another organization proved, and only its own proven domains' people once it
    proved any."""
    fields = user_fields(body)
    await _admitted(d, account_id, str(fields["email"] or ""))
    try:
        row = await d.scim.create_user(account_id, fields, "member")
    except DuplicateScim as exc:
        raise taken(exc) from exc
    return Changed(row, placed=await place(d, row))


async def _admitted(d: Directory, account_id: str, email: str) -> None:
    await admit(d.members, d.domains, Joining(account_id, email, Way.DIRECTORY))


async def _end_membership(d: Directory, row: Row) -> None:
    if row["member_id"]:
        await leave(d.members, d.ledger, d.store, row["account_id"], row["member_id"])


async def _removal_follows(d: Directory, row: Row, email: str) -> None:
    """A deprovisioned person's new address is removed too: no sign-in joins them by it."""
    account_id = str(row["account_id"])
    if await d.members.was_removed(account_id, "", "", str(row["email"])):
        await d.members.remember_removed(account_id, email)


async def update(d: Directory, row: Row, body: Mapping[str, Any]) -> Changed:
    """Replace the user with `body` (PUT, or what a PATCH left)."""
    fields = user_fields(body)
    moved = str(fields["email"] or "").lower() != str(row["email"]).lower()
    if moved or (fields["active"] and not row["active"]):
        await _admitted(d, row["account_id"], str(fields["email"] or ""))
    try:
        updated = await d.scim.update_user(row["id"], fields)
    except DuplicateScim as exc:
        raise taken(exc) from exc
    if row["active"] and not fields["active"]:
        await _end_membership(d, row)
        return Changed(await d.scim.deactivate(row["id"]), "deactivate")
    if moved and not fields["active"]:
        await _removal_follows(d, row, str(fields["email"] or ""))
    if not row["active"] and fields["active"]:
        try:
            updated = await d.scim.activate(row["id"], "member")
        except DuplicateScim as exc:
            raise taken(exc) from exc
        return Changed(updated, "reactivate", await place(d, updated))
    return Changed(updated)


def as_resource(row: Row) -> dict[str, Any]:
    """The user as a PATCH reads it: its columns among its attributes."""
    out = {"userName": row["user_name"], **row["attributes"]}
    out |= {"active": row["active"]} if "active" in row["attributes"] else {}
    return out | ({"externalId": row["external_id"]} if row["external_id"] is not None else {})


def patched(resource: Mapping[str, Any], operations: Sequence[object]) -> dict[str, Any]:
    try:
        return apply(resource, operations, MULTI)
    except ScimSyntax as exc:
        raise ScimInvalid(str(exc), exc.scim_type) from exc


async def patch(d: Directory, row: Row, operations: Sequence[object]) -> Changed:
    return await update(d, row, patched(as_resource(row), operations))


async def delete(d: Directory, row: Row) -> None:
    await _end_membership(d, row)
    await d.scim.delete_user(row["id"])
