"""The grant keeper: allocates new ledger entries to credit grants, and writes off what an
expired or revoked grant still holds.

Run every second under the supervisor (shown in /readyz as `grant_keeper`). Allocation
follows the accounts whose balance moved, plus a thorough pass every minute. A write-off
round (see stores/redis/grant_write_off.py) waits while a settlement of the account is on
its way to the ledger; it takes the grant's rest, or what reservations do not hold, and
queues its `expire` entry through the settlement stream. The grant is closed once the
ledger shows nothing left in it. Time is the gateway's clock, so tests move that clock.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from gateway.stores.ports import GrantsPort, GrantWriteOffPort
from gateway.stores.records import Row

log = logging.getLogger("meterway.grants")
GRANT_KEEPER_EVERY_S = 1.0
THOROUGH_EVERY_S = 60.0
MOVED, ABSENT = -1, -2  # write_off.lua's replies besides the amount


def write_off_id(grant_id: int, round_: int) -> str:
    """The request id of a grant's `round_`-th write-off (0 first): one ledger row each."""
    return f"grant:{grant_id}:expire:{round_}"


def cause_of(grant: Row) -> str:
    revoked, expires = grant["revoked_at"], grant["expires_at"]
    first = revoked is not None and (expires is None or revoked < expires)
    return "revoked" if first else "expired"


class GrantKeeper:
    def __init__(self, grants: GrantsPort, hot: GrantWriteOffPort) -> None:
        self.grants = grants
        self.hot = hot
        self._thorough_at = 0.0

    async def tick(self) -> None:
        """One round: allocate what moved, then one write-off round per ending grant."""
        await self.allocate_moved()
        now = datetime.fromtimestamp(await self.hot.now_ms() / 1000, UTC)
        for grant in await self.grants.ending(now):
            await self.write_off(grant, now)

    async def allocate_moved(self) -> None:
        accounts = set(await self.grants.moved())
        if time.monotonic() - self._thorough_at > THOROUGH_EVERY_S:
            accounts.update(await self.grants.behind())
            self._thorough_at = time.monotonic()
        for account_id in sorted(accounts):
            await self.grants.allocate(account_id)

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
            return 0
        rid, cause = write_off_id(grant_id, rounds), cause_of(grant)
        taken = await self.hot.write_off(account_id, grant_id, rid, rest, seq, cause)
        if taken == ABSENT:
            log.warning("grant %s: account %s is not in Redis", grant_id, account_id)
        if taken > 0:
            log.info("grant %s %s: %d micros written off (%s)", grant_id, cause, taken, rid)
        return None if taken < 0 else taken
