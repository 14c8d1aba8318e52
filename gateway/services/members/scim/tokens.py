"""An organization's SCIM token: minted through the one mint (`mint.scim_token`: the
operator or an owner), shown once, kept as its SHA-256; minting another replaces it, so the
old one stops working on its next request (each request reads the token's row)."""

from __future__ import annotations

import secrets

from gateway.services.auth import hash_key, new_id
from gateway.services.keys import Creator, scim_token
from gateway.stores.ports.scim import ScimPort
from gateway.stores.records import Row

TOKEN_PREFIX = "mwscim-"  # neither an API key's `mw-` nor a service key's `mws-`


async def issue(scim: ScimPort, creator: Creator) -> tuple[Row, str]:
    """The organization's new token (its row and, this once, its secret)."""
    scim_token(creator)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = await scim.put_token(
        creator.account_id, new_id("scim"), hash_key(secret), secret[: len(TOKEN_PREFIX) + 6]
    )
    return row, secret


async def account_of(scim: ScimPort, presented: str) -> str | None:
    """The organization a presented token is the SCIM token of, if any."""
    if not presented.startswith(TOKEN_PREFIX) or not presented.isascii():
        return None
    return await scim.token_account(hash_key(presented))
