"""The grant keeper: allocates new ledger entries to credit grants, and writes off what an
expired or revoked grant still holds.

Run every second beside the settler (shown in /readyz as `grant_keeper`). Allocation
follows the accounts with new ledger entries, read from the ledger's newest ids (so a tick
costs what was written since, not a pass over every account), plus a thorough pass every
minute: it also finds an entry whose id committed after a higher one was read. A write-off
round (see stores/redis/repair/grant_write_off.py) waits while a settlement of the account is on
its way to the ledger; it takes the grant's rest, or what reservations do not hold, and
queues its `expire` entry through the settlement stream. The grant is closed once the
ledger shows nothing left in it. Time is the gateway's clock, so tests move that clock.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from gateway.stores.ports import GrantsPort, GrantWriteOffPort
from gateway.stores.records import GrantEnd, Row

log = logging.getLogger("meterway.grants")
GRANT_KEEPER_EVERY_S = 1.0
THOROUGH_EVERY_S = 60.0
ENTRIES_PER_READ = 5000
MOVED, ABSENT = -1, -2  # write_off.lua's replies besides the amount


def write_off_id(grant_id: int, round_: int) -> str:
    """The request id of a grant's `round_`-th write-off (0 first): one ledger row each."""
    return f"grant:{grant_id}:expire:{round_}"


def ends_ms(grant: Row) -> int:
    """When the grant ended (its expiry or revocation, whichever came first), in ms."""
    ends = [t for t in (grant["revoked_at"], grant["expires_at"]) if t is not None]
    return int(min(ends).timestamp() * 1000)


def cause_of(grant: Row) -> str:
    revoked, expires = grant["revoked_at"], grant["expires_at"]
    first = revoked is not None and (expires is None or revoked < expires)
    return "revoked" if first else "expired"


class GrantKeeper:
    def __init__(self, grants: GrantsPort, hot: GrantWriteOffPort) -> None:
        self.grants = grants
        self.hot = hot
        self._thorough_at = 0.0
        # The last id read by the tick before last and by the last one: a tick reads from
        # the older, so an entry committing up to a tick after a higher id is still seen.
        self._read_to: tuple[int, int] | None = None

    async def tick(self) -> None:
        """One round: allocate what moved, then one write-off round per ending grant."""
        await self.allocate_moved()
        now = datetime.fromtimestamp(await self.hot.now_ms() / 1000, UTC)
        for grant in await self.grants.ending(now):
            await self.write_off(grant, now)

    async def allocate_moved(self) -> None:
        if self._read_to is None:
            last = await self.grants.last_entry_id()
            self._read_to = (last, last)
        entered = await self._entered()
        # Every keeper (one per gateway or settler process) sees every new entry: only the
        # accounts still behind are allocated, so the others' work is one read, not a
        # locking transaction each.
        accounts = set(await self.grants.behind(sorted(entered))) if entered else set()
        if time.monotonic() - self._thorough_at > THOROUGH_EVERY_S:
            accounts.update(await self.grants.behind())
            self._thorough_at = time.monotonic()
        for account_id in sorted(accounts):
            await self.grants.allocate(account_id)

    async def _entered(self) -> set[str]:
        """The accounts with ledger entries since the tick before last."""
        assert self._read_to is not None
        older, newer = self._read_to
        accounts: set[str] = set()
        after = older
        while True:
            rows = await self.grants.entered_since(after, ENTRIES_PER_READ)
            accounts.update(account_id for _, account_id in rows)
            if rows:
                after = rows[-1][0]
            if len(rows) < ENTRIES_PER_READ:
                break
        self._read_to = (newer, max(after, newer))
        return accounts

    async def write_off(self, grant: Row, now: datetime) -> int | None:
        """One write-off round of an ended grant: the micros queued for the ledger, 0 when
        nothing was (closed, or all held), None when it must wait for the ledger."""
        account_id, grant_id = grant["account_id"], grant["id"]
        seq = await self.hot.fence(account_id)
        if seq is None:
            return None
        await self.grants.allocate(account_id)
        rest, rounds = await self.grants.rest(grant_id)
        if rest == 0:
            await self.grants.close(grant_id, now)
            await self.hot.closed(account_id, grant_id)
            return 0
        rid, cause = write_off_id(grant_id, rounds), cause_of(grant)
        end = GrantEnd(grant_id, rest, ends_ms(grant))
        taken = await self.hot.write_off(account_id, end, rid, seq, cause)
        if taken == ABSENT:
            log.warning("grant %s: account %s is not in Redis", grant_id, account_id)
        if taken > 0:
            log.info("grant %s %s: %d micros written off (%s)", grant_id, cause, taken, rid)
        return None if taken < 0 else taken
