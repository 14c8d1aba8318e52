"""Reconciliation runs of one credential and day recorded at once: each keeps the differences
once (the last to commit wins whole), and neither fails on the other's rows (CI saw a second
concurrent run exit 1 on provider_differences' primary key)."""

from __future__ import annotations

import asyncio
from datetime import date

from billing.proof.provider_reports import Slot
from billing.proof.reconcile import Difference
from gateway.stores.connect import Stores


def leak(model: str, kind: str, delta: int) -> Difference:
    slot = Slot("openai", date(2026, 11, 30), model)
    return Difference(slot, kind, "unmetered_traffic", 10, 0, delta, 0, delta, "t")


async def test_runs_recorded_at_once_keep_each_difference_once(stores: Stores) -> None:
    runs = stores.provider_reconciliation()
    day = date(2026, 11, 30)
    first = [leak("o1-pro", "input", 5), leak("o1-pro", "output", 7)]
    second = [leak("o1-pro", "input", 6), leak("o1-pro", "output", 8)]
    for _ in range(5):
        await asyncio.gather(
            runs.record("openai", day, "up", first), runs.record("openai", day, "up", second)
        )
        kept = await runs.differences(day)
        deltas = sorted(int(r["delta_micros"]) for r in kept if r["credential"] == "openai")
        assert deltas in ([5, 7], [6, 8]), kept
