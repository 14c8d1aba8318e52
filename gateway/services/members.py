"""Members: removing one (and the keys minted under them), and who a person signed in by
their identity provider is: the account member bound to their
(issuer, subject), else an invitation to their verified e-mail (claimed, and bound from then
on), else the account whose `external_id` is their subject (the user-token convention)."""

from __future__ import annotations

from gateway.errors import SigninFailed
from gateway.outbound.oidc_client import Identity
from gateway.services.keys import revoke_key
from gateway.stores.ports import DirectoryPort, HotStorePort, LedgerPort, MembersPort
from gateway.stores.records import Row


async def member_for(identity: Identity, members: MembersPort, directory: DirectoryPort) -> Row:
    bound = await members.by_subject(identity.issuer, identity.subject)
    if bound is not None:
        return bound
    if identity.email and identity.email_verified:
        for invitation in await members.unbound_by_email(identity.email):
            if await members.bind(invitation["id"], identity.issuer, identity.subject):
                return {**invitation, "issuer": identity.issuer, "subject": identity.subject}
    account = await directory.account_by_external_id(identity.subject)
    if account is not None:
        return await members.add(account["id"], identity.email, identity.issuer, identity.subject)
    who = identity.email if identity.email_verified else "this user"
    raise SigninFailed(f"No account has invited {who or 'this user'}; ask its operator to add you.")


async def remove_member(
    members: MembersPort, ledger: LedgerPort, store: HotStorePort, account_id: str, member: str
) -> bool:
    """Remove a member and revoke every key minted under them (by them, or by one of their
    keys): keys act with a person's authority and do not outlive it. Their sessions end on
    their next request, however they signed in (the session re-reads the member). False
    when the account has no such member."""
    found = await members.get(member)
    if found is None or found["account_id"] != account_id:
        return False
    for key_id in await members.keys_of_member(member):
        row = await ledger.get_key(key_id)
        if row is not None and row["revoked_at"] is None:
            await revoke_key(ledger, store, row)
    return await members.remove(account_id, member)
