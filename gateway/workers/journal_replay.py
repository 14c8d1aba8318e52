"""Replaying the settlement journals of processes that are gone (stores/journal.py).

A process journals a settlement Redis did not take in time, and retries it itself; one that
dies before Redis took it leaves its file. Every serving process looks for such files at
start and every REPLAY_EVERY_S after, and settles what they hold through the one settlement
(`Settlements.replay`), which retries until Redis takes each: a settlement Redis took already
changes nothing, so a file a dying process had half replayed is safe to replay again.
"""

from __future__ import annotations

import logging

from gateway.services.money.settlement import Settlements
from gateway.stores.journal import SettleJournal

log = logging.getLogger("meterway.journal")
REPLAY_EVERY_S = 5.0


async def replay_leftovers(journal: SettleJournal, settlements: Settlements) -> int:
    """Every journal whose writer is gone, settled and removed: the settlements replayed."""
    leftovers = await journal.leftovers()
    replayed = 0
    try:
        while leftovers:
            leftover = leftovers[0]
            for j in leftover.entries:
                await settlements.replay(j)
                leftover.taken(j.debit.request_id)
                replayed += 1
            leftovers.pop(0).finish()
            log.info("replayed %s: %d settlements", leftover.path.name, len(leftover.entries))
    finally:
        for left in leftovers:  # stopped midway: the next round, or another process, goes on
            left.release()
    return replayed
