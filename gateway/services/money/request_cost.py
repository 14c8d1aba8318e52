"""One request's cost as people read it: every ledger row of the request on the account and
its debit re-derived from the price card the row names (`meterway prices explain`'s lines).

The dashboard's request page and GET /v1/account/requests/{request_id} both answer from
here, so the arithmetic a client reads is the one the page prints.
"""

from __future__ import annotations

from dataclasses import dataclass

from billing.pricing.explain import explain_row
from gateway.stores.ports.directory import DirectoryPort
from gateway.stores.records import Row, request_entry_of


@dataclass(frozen=True, slots=True)
class RequestCost:
    entries: list[Row]  # oldest first
    debit: Row | None
    arithmetic: list[str] | None  # None: no debit, or one priced by no registered card

    @property
    def entry(self) -> Row:
        """The row that answers for the request: its debit, else its newest row."""
        return request_entry_of(self.entries)


async def request_cost(directory: DirectoryPort, account_id: str, rid: str) -> RequestCost | None:
    """The request's rows on this account and its debit's arithmetic; None when it has none
    (unknown, another account's, or not settled yet)."""
    entries = await directory.request_entries(account_id, rid)
    if not entries:
        return None
    debit = next((e for e in entries if e["kind"] == "debit"), None)
    version = debit["price_version"] if debit else None
    card = await directory.price_card(version) if version else None
    arithmetic = explain_row(debit, card) if debit and card else None
    return RequestCost(entries, debit, arithmetic)
