"""Recomputing the live quota counters from ledger debits (used by `meterway rebuild`)."""

from __future__ import annotations

from billing.plans import PlanBook
from gateway.runtime import Stores


async def rebuild_windows(stores: Stores, plans: PlanBook) -> int:
    """Placeholder-free minimal version: counters start empty after a rebuild.

    Windows are restored from the ledger in a later step (issue 5); until then a rebuild
    forgets in-window usage, which only ever admits more, never bills more.
    """
    return 0
