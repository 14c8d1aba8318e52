"""The debit of a response or batch settled earlier, for every retrieve after the one that
settled it (that one answers with what its settlement returned).

The ledger's debit row is the record: retrieves are not the metered hot path, so it is read
there. Until the settler has written that row, the debit the settlement queued, kept on the
owner's record, answers: the same amount, unless part of it could not be collected (then the
ledger's row, once written, is the smaller, collected part).
"""

from __future__ import annotations

from typing import Protocol

from gateway.stores.ports import ResponseOwners
from gateway.stores.records import OwnedResponse, Row


class RequestEntries(Protocol):
    """The ledger's row of one request (`DirectoryPort.request_entry`)."""

    async def request_entry(self, account_id: str, request_id: str) -> Row | None: ...


async def recorded_cost(
    entries: RequestEntries, owned: ResponseOwners, rec: OwnedResponse
) -> int | None:
    """The debit `rec`'s request recorded; None when nothing was (yet) debited."""
    entry = await entries.request_entry(rec.account_id, rec.request_id)
    if entry is not None:
        return -int(entry["amount_micros"]) if entry["kind"] == "debit" else None
    fresh = await owned.get(rec.response_id)
    return None if fresh is None else fresh.cost_micros
