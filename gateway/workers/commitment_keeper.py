"""The commitment keeper: closes each commitment period that has ended
(services/contracts/commitments.py).

Run beside the grant keeper wherever ledger work runs (shown in /readyz as
`commitment_keeper`). A close is idempotent end to end, so keepers in several processes,
or one restarted mid-close, write each entry once. Time is the gateway's clock (Redis's,
which tests move), the clock reserve.lua compares a period's end with.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from gateway.services.contracts.commitments import CommitmentPorts, close_due
from gateway.stores.ports import GrantWriteOffPort

log = logging.getLogger("meterway.commitments")
COMMITMENT_KEEPER_EVERY_S = 5.0


class CommitmentKeeper:
    def __init__(self, ports: CommitmentPorts, clock: GrantWriteOffPort) -> None:
        self.ports = ports
        self.clock = clock

    async def tick(self) -> None:
        now = datetime.fromtimestamp(await self.clock.now_ms() / 1000, UTC)
        closed = await close_due(self.ports, now)
        if closed:
            log.info("closed %d commitment period(s)", closed)
