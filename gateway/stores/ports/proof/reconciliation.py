"""Reconciliation against the provider as a port (stores/postgres/proof/provider_reconciliation.py):
what the ledger recorded for one upstream credential's day, and the differences each run
found (migration 091)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

from billing.proof.reconcile import Difference, LedgerSum
from gateway.stores.records import Row


class ReconciliationPort(Protocol):
    async def ledger_sums(self, credential: str, day: date) -> list[LedgerSum]:
        """The debits forwarded with `credential` (the ledger's provider) whose call
        occurred on the UTC `day`, summed per model and rate card."""
        ...

    async def record(
        self,
        credential: str,
        day: date,
        upstream: str,
        differences: Sequence[Difference],
        error: str | None = None,
    ) -> None:
        """Keep one run's differences in place of any earlier run's of that credential and
        day, in one transaction. A run with an `error` (its reports could not be read)
        replaces nothing: the last good differences stay, marked with that run."""
        ...

    async def differences(self, day: date | None = None) -> list[Row]:
        """The differences kept, of `day` or of every day, newest day first; each with
        `failed_run_at` and `failed_run_error` set when its day's newest run failed (the
        row is the last good run's)."""
        ...

    async def runs(self, limit: int = 60) -> list[Row]:
        """The newest runs, one per credential and day, newest day first."""
        ...
