"""What follows a change of a key's grant on the HTTP side (the operator API, the account
API and the dashboard): this process's cached key records are dropped so the proxy reads
the narrowed scopes on its next request, and each key fitted under the changed one gets its
own audit record (`key.fitted`)."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from gateway.http import audited
from gateway.http.appkeys import KEYS
from gateway.http.serialize import key_json
from gateway.stores.records import Row


async def followed(request: web.Request, written: Sequence[Row]) -> None:
    """`written`: the changed key's row first, then the keys fitted under it."""
    request.config_dict[KEYS].forget(r["key_hash"] for r in written)
    for row in written[1:]:
        await audited.record(
            request, "key.fitted", "key", row["id"], row["account_id"], None, key_json(row)
        )
