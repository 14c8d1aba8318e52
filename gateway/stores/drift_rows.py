"""The debits of a settler's batch whose provider stated a cost, each compared with the card
that billed it (billing/proof/drift.py): read by the settler's metrics and the ledger's alerts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from billing.proof.drift import Checked, checked
from gateway.stores.stream_fields import LEDGER_COLUMNS

_COLUMNS = ("kind", "model", "account_id", "request_id", "provider_cost_micros", "usage_detail")
_KIND, _MODEL, _ACCOUNT, _REQUEST, _CARD, _DETAIL = (LEDGER_COLUMNS.index(c) for c in _COLUMNS)


def compared(rows: Sequence[tuple[Any, ...]]) -> list[Checked]:
    """The batch's debits whose provider stated a cost, each compared with its card."""
    out = []
    for row in rows:
        if row[_KIND] != "debit" or not row[_DETAIL]:
            continue
        found = checked(row[_MODEL], row[_ACCOUNT], row[_REQUEST], row[_CARD], row[_DETAIL])
        if found is not None:
            out.append(found)
    return out
