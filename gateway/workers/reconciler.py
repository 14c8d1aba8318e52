"""Reconciliation against the provider on a clock: each round reads every configured
upstream's usage and cost reports for the last RECONCILE_DAYS whole UTC days, compares them
with the ledger (billing/proof/reconcile.py), keeps the differences (migration 091) and notifies
the operator of those past RECONCILE_ALERT_MICROS (`provider.reconciliation`).

A day is compared again each round it is within reach: the providers fill their reports in
for hours after a day ends, and the newest comparison replaces the last. Several processes
may run rounds at once; each writes the same comparison, and a finding is notified once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import aiohttp

from billing.proof import provider_reports as reports
from billing.proof.reconcile import CLASSES, Difference, LedgerSum, alerting, as_row, reconcile
from gateway.config.reconcile import ReconcileSettings, UpstreamReports
from gateway.outbound.provider_reports import (
    Page,
    ReportUnavailable,
    anthropic_reports,
    openai_reports,
)
from gateway.stores.ports.ledger import NotifyOutbox
from gateway.stores.ports.proof.reconciliation import ReconciliationPort

log = logging.getLogger("meterway.reconcile")
EVENT = "provider.reconciliation"


def compare(
    source: UpstreamReports,
    usage: Sequence[Page],
    costs: Sequence[Page],
    ledger: Sequence[LedgerSum],
) -> list[Difference]:
    """The differences of one day from its fetched pages and the ledger's sums."""
    who = reports.attribution(source.credential, source.key_id)
    if source.upstream == "anthropic":
        tokens = [t for p in usage for t in reports.anthropic_usage(p, who)]
        alone = reports.anthropic_workspaces(usage, who)
        priced = [c for p in costs for c in reports.anthropic_costs(p, source.credential, alone)]
        return reconcile(tokens, priced, ledger, split_ttl=True)
    tokens = [t for p in usage for t in reports.openai_usage(p, who)]
    priced = [c for p in costs for c in reports.openai_costs(p, who)]
    return reconcile(tokens, priced, ledger, split_ttl=False)


class Reconciler:
    def __init__(
        self,
        settings: ReconcileSettings,
        port: ReconciliationPort,
        outbox: NotifyOutbox | None = None,
    ) -> None:
        self.settings, self.port, self.outbox = settings, port, outbox
        self.rounds = 0
        self.last_round_at: float | None = None
        self.last_errors: dict[str, str] = {}
        self.found: dict[str, int] = {}  # differences by class, of the last round

    async def run_day(
        self, session: aiohttp.ClientSession, source: UpstreamReports, day: date
    ) -> list[Difference]:
        """Compare one credential's day, keep its differences (or why it could not) and
        notify those past the threshold. ReportUnavailable and ReportError propagate after
        the run is recorded."""
        fetch = anthropic_reports if source.upstream == "anthropic" else openai_reports
        try:
            usage, costs = await fetch(session, source, day)
            ledger = await self.port.ledger_sums(source.credential, day)
            found = compare(source, usage, costs, ledger)
        except (ReportUnavailable, reports.ReportError) as exc:
            await self.port.record(source.credential, day, source.upstream, [], str(exc))
            raise
        await self.port.record(source.credential, day, source.upstream, found)
        await self._notify(found)
        return found

    async def _notify(self, found: Sequence[Difference]) -> None:
        if self.outbox is None:
            return
        for d in alerting(found, self.settings.alert_micros):
            s = d.slot
            data = as_row(d)
            key = f"{s.credential}_{s.day}_{s.model}_{d.kind}_{d.cls}_{d.delta_micros}"
            await self.outbox.emit(f"provider:{s.credential}", EVENT, data, key)

    async def run_round(self) -> None:
        """Every upstream's last whole days; one failing upstream or day does not stop the
        others (its error is kept for /readyz and the run's row, and the differences its
        last good run found still count)."""
        today = datetime.now(UTC).date()
        days = [today - timedelta(days=n) for n in range(self.settings.days, 0, -1)]
        found: dict[str, int] = {}
        errors: dict[str, str] = {}
        async with aiohttp.ClientSession() as session:
            for source in self.settings.upstreams:
                for day in days:
                    try:
                        for d in await self.run_day(session, source, day):
                            found[d.cls] = found.get(d.cls, 0) + 1
                    except (ReportUnavailable, reports.ReportError) as exc:
                        errors[source.credential] = f"{day}: {exc}"
                        log.warning("reconcile %s %s: %s", source.credential, day, exc)
                        for cls in await self._kept(source.credential, day):
                            found[cls] = found.get(cls, 0) + 1
        self.rounds += 1
        self.last_round_at, self.found, self.last_errors = time.time(), found, errors

    async def _kept(self, credential: str, day: date) -> list[str]:
        """The classes of the differences a failed run left standing: the last good run's
        still count in /metrics and /readyz, never a clean zero."""
        return [
            str(r["class"])
            for r in await self.port.differences(day)
            if r["credential"] == credential
        ]

    def report(self) -> dict[str, object]:
        """/readyz's view: a provider whose reports cannot be read is shown, never
        unreadiness."""
        return {
            "credentials": [u.credential for u in self.settings.upstreams],
            "rounds": self.rounds,
            "last_round_at": self.last_round_at,
            "differences": self.found,
            "errors": self.last_errors,
        }

    def metric_lines(self) -> str:
        out = (
            "# HELP meterway_provider_differences Differences the last reconciliation round"
            " found against the providers' reports, by class.\n"
            "# TYPE meterway_provider_differences gauge\n"
        )
        for cls in CLASSES:
            out += f'meterway_provider_differences{{class="{cls}"}} {self.found.get(cls, 0)}\n'
        return out + (
            "# HELP meterway_provider_reconcile_errors Credentials whose reports could not be"
            " read in the last round.\n# TYPE meterway_provider_reconcile_errors gauge\n"
            f"meterway_provider_reconcile_errors {len(self.last_errors)}\n"
        )
