"""The ledger's seals on a clock: the sealer makes checkpoints of what settled (every
LEDGER_SEAL_EVERY_S), and the scheduled check verifies every checkpoint and entry again
(every LEDGER_VERIFY_EVERY_S, the first an interval after start) and keeps its verdict for
/readyz and the metrics. Both run wherever ledger work runs (ledger_jobs.py); several
processes may seal at once, and the checkpoint's number decides which one's stands."""

from __future__ import annotations

import logging
import time

from gateway.config.proof import ProofSettings
from gateway.services.proof.ledger_seal import Verdict, seal, verify
from gateway.services.proof.signing_keys import SigningKeys
from gateway.stores.ports.proof.ledger_proof import LedgerProofPort

log = logging.getLogger("meterway.ledger")


class LedgerSeals:
    def __init__(self, port: LedgerProofPort, settings: ProofSettings) -> None:
        self.port = port
        self.settings = settings
        self.keys = SigningKeys(settings)
        self.sealed = 0
        self.verdict: Verdict | None = None
        self.verified_at: float | None = None
        self._started = False  # the first check waits an interval: a restart is not a scan

    async def seal_round(self) -> None:
        self.sealed += await seal(self.port, self.keys, self.settings.seal_rows)

    async def verify_round(self) -> None:
        if not self._started:
            self._started = True
            return
        verdict = await verify(self.port, self.keys)
        self.verdict, self.verified_at = verdict, time.time()
        for problem in verdict.problems:
            log.error("ledger verify: %s", problem)

    def metric_lines(self) -> str:
        """/metrics' lines: checkpoints this process made and the last check's verdict."""
        out = (
            "# HELP meterway_ledger_checkpoints_made_total Ledger checkpoints this process"
            " sealed.\n# TYPE meterway_ledger_checkpoints_made_total counter\n"
            f"meterway_ledger_checkpoints_made_total {self.sealed}\n"
        )
        if self.verdict is None:
            return out
        return out + (
            "# HELP meterway_ledger_verify_problems Places where the last scheduled check found"
            " the ledger and its checkpoints disagree (0: none).\n"
            "# TYPE meterway_ledger_verify_problems gauge\n"
            f"meterway_ledger_verify_problems {len(self.verdict.problems)}\n"
        )

    def report(self) -> dict[str, object]:
        out: dict[str, object] = {"checkpoints_made": self.sealed, "signed": self.keys.signs}
        if self.verdict is not None:
            out["verified_at"] = self.verified_at
            out["verify"] = self.verdict.report()
        return out
