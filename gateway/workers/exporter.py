"""Exporting settled usage: due ledger debits to a sink, each row's fate recorded after.

Run by `meterway export stripe-meters|lago` and, when configured, as a supervised
background task. Crash-safe by construction: a row is marked only after the receiver
answered, and a resend carries the same identifier, which the receiver drops.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from billing.usage.exports import Attempt, lago_event, stripe_meter_event, too_old_for_stripe
from gateway.outbound.exports import UsageSink
from gateway.stores.ports import ExportLedgerPort

log = logging.getLogger("meterway.exporter")
BATCH = 500


@dataclass
class ExportReport:
    sent: int = 0
    failed: int = 0
    expired: int = 0
    would_send: list[dict[str, object]] = field(default_factory=list)

    def line(self, target: str) -> str:
        return f"{target}: sent {self.sent}, failed {self.failed}, expired {self.expired}"


async def export_once(
    ledger: ExportLedgerPort,
    sink: UsageSink,
    *,
    batch: int = BATCH,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ExportReport:
    """One batch of due rows: send, then record. Returns what happened."""
    report = ExportReport()
    rows = await ledger.due(sink.target, now(), batch)
    fresh = [r for r in rows if sink.target != "stripe" or not too_old_for_stripe(r, now())]
    expired = [r.entry_id for r in rows if r not in fresh]
    outcomes = await sink.send(fresh) if fresh else []
    await ledger.mark(sink.target, Attempt(rows, outcomes, expired), now())
    report.sent = sum(1 for o in outcomes if o.delivered)
    report.failed = len(outcomes) - report.sent
    report.expired = len(expired)
    for o in outcomes:
        if not o.delivered:
            log.warning("export %s of entry %d failed: %s", sink.target, o.entry_id, o.error)
    return report


async def export_all(ledger: ExportLedgerPort, sink: UsageSink, batch: int = BATCH) -> ExportReport:
    """Until nothing is due now (failures wait for their backoff)."""
    total = ExportReport()
    while True:
        report = await export_once(ledger, sink, batch=batch)
        total.sent += report.sent
        total.failed += report.failed
        total.expired += report.expired
        if report.sent + report.failed + report.expired < batch:
            return total


async def dry_run(
    ledger: ExportLedgerPort, target: str, name: str, limit: int = BATCH
) -> list[dict[str, object]]:
    """What the next run would send, changing nothing; `name` is the event name or code."""
    now = datetime.now(UTC)
    rows = await ledger.due(target, now, limit)
    if target == "stripe":
        return [dict(stripe_meter_event(r, name)) for r in rows if not too_old_for_stripe(r, now)]
    return [lago_event(r, name) for r in rows]


def print_payloads(payloads: list[dict[str, object]]) -> None:
    for payload in payloads:
        print(json.dumps(payload, sort_keys=True))
