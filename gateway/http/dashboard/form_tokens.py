"""Single-use tokens of the dashboard's money forms: a form that moves money or creates a
grant can be submitted once.

Each such form carries a `form_token`, minted (and stored, stores/postgres/form_tokens.py)
when its page is drawn, bound to the session that drew it and to the path it posts to, and
expiring with the session. The first submit spends it in one statement; any other submit
of it (Back and Confirm again, a double click, an old copy of the page) is
`FormAlreadySubmitted`, a page linking to where the first led. The token is also the
operation's idempotency key, so the ledger would answer a repeat with the first entry even
without it. A page drawn again by Back keeps the tokens it was first drawn with:
dashboard.js pins them to the history entry (the pages are no-store, so Back re-fetches).

PostgreSQL rather than Redis: a token changes state (unspent, spent, its result) and its
spend must hold through a Redis restore, which rebuilds only what the ledger holds; these
pages already wait on PostgreSQL, and no script or wire format is added.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from gateway.errors import FormAlreadySubmitted, PermissionDenied
from gateway.http.appkeys import FORM_TOKENS
from gateway.http.dashboard.people.session import COOKIE, TTL_S, digest

FIELD = "form_token"
SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")
EXPIRED = (
    "This form expired or was drawn for another sign-in; reload the page and fill it in again."
)


def holder_of(cookie: str) -> str:
    """Who may spend a token: the session, by a hash of its id's hash (never the id)."""
    return digest("form:" + digest(cookie))


def holder(request: web.Request) -> str:
    return holder_of(request.cookies.get(COOKIE, ""))


async def mint(request: web.Request, actions: Sequence[str]) -> list[str]:
    """One token per form, in order; each action is the path its form finally posts to."""
    return await request.config_dict[FORM_TOKENS].mint(holder(request), actions, TTL_S)


def token_of(fields: MultiMapping[Any]) -> str:
    """The form's token; a missing or malformed one is refused as an expired form."""
    raw = fields.get(FIELD, "")
    if not isinstance(raw, str) or not SHAPE.fullmatch(raw):
        raise PermissionDenied(EXPIRED)
    return raw


async def once(
    request: web.Request,
    token: str,
    action: str,
    page: str,
    work: Callable[[], Awaitable[str]],
    fields: str = "",
) -> str:
    """Spend the token, then do the work and record where it led (and what it asked:
    `fields`). Both run to their end even when the browser leaves (a double click drops the
    first request): once the token is spent, the work it stands for must not be lost. A
    refused work unspends the token."""
    tokens, who = request.config_dict[FORM_TOKENS], holder(request)

    async def run() -> str:
        outcome, result = await tokens.spend(token, who, action)
        if outcome == "already":
            raise FormAlreadySubmitted(result or page)
        if outcome != "spent":
            raise PermissionDenied(EXPIRED)
        try:
            led = await work()
        except Exception:
            await tokens.release(token)
            raise
        await tokens.settle(token, led, fields)
        return led

    return await asyncio.shield(run())
