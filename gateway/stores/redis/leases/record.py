# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""One lease a gateway process holds (stores/redis/leases/process.py keeps them): its pool, its
grant's decision, its clocks, and what Redis must still be told of it."""

from __future__ import annotations

from billing.money.admission import Admitted
from billing.money.leases import Pool
from gateway.stores.records import KeyRecord, Settlement


class Lease:
    """One lease this process holds: its pool, and what Redis must still be told."""

    __slots__ = (
        "account_id",
        "admitted",
        "applied_at",
        "closed",
        "counters",
        "ends_at",
        "granted_at",
        "id",
        "in_flight",
        "key",
        "pool",
        "retired",
        "seen",
        "stream",
        "trimmed",
        "unapplied",
        "units",
    )

    def __init__(
        self,
        lease_id: str,
        key: KeyRecord,
        admitted: Admitted,
        units: int,
        counters: tuple[str, ...],
    ) -> None:
        self.id = lease_id
        self.key = key
        self.account_id = key.account_id
        self.admitted = admitted  # the grant's decision: plan, markup, windows, Redis's clock
        self.units = units
        self.counters = counters
        self.pool = Pool(0, 0, 0, 0)
        self.granted_at = 0.0  # the loop's clock when the grant was asked for
        self.applied_at = 0.0  # the loop's clock at its last batch (or its grant)
        self.ends_at = 0.0  # the loop's clock when it stops admitting
        self.in_flight = 0
        # What was appended and not yet seen applied, by request id (None: a refused call's).
        self.unapplied: dict[str, Settlement | None] = {}
        self.retired = False
        self.closed = False  # given back: a call of it settled now is debited as lost
        self.trimmed = False  # what it would have admitted more, given back
        self.stream = ""
        self.seen = ""

    def now_ms(self, loop_now: float) -> int:
        """Redis's clock now, as far as this process can tell (the grant's, moved on)."""
        return self.admitted.now_ms + int((loop_now - self.granted_at) * 1000)


__all__ = ["Lease"]
