"""Price drift: the cost a provider states for a call against the card that billed it.

An OpenAI-compatible upstream that states its own cost per call (OpenRouter's `usage.cost`,
in credits of one USD, on every answer and a stream's usage chunk) has it kept with the
call's usage as `provider_stated_cost_nanos` (nano-USD), a key no card prices: the debit is
always the card's. The settler compares the two off the request path, per model; a call
whose stated cost is further from the card's than DRIFT_ALERT_PERMILLE (beyond the card's one
rounding up, under a micro) has drifted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from billing.metering.stated_cost import NANOS_PER_MICRO, STATED_COST

DRIFT_ALERT_PERMILLE = 20  # 2.0 %: a provider's figure this far from the card's is drift


def drift_permille(stated: int, card_micros: int) -> int:
    """How far the stated cost is from the card's, in tenths of a percent of the card's,
    rounded up; the card's rounding up (under a micro) is not drift."""
    gap = max(0, abs(stated - card_micros * NANOS_PER_MICRO) - NANOS_PER_MICRO)
    return -(-gap * 1000 // max(card_micros * NANOS_PER_MICRO, 1))


@dataclass(frozen=True, slots=True)
class Checked:
    """One debit whose provider stated a cost: its model, account and both figures."""

    model: str
    account_id: str
    request_id: str
    stated_nanos: int
    card_micros: int

    @property
    def permille(self) -> int:
        return drift_permille(self.stated_nanos, self.card_micros)

    @property
    def drifted(self) -> bool:
        return self.permille > DRIFT_ALERT_PERMILLE


def checked(
    model: object, account_id: object, request_id: object, card: object, detail: object
) -> Checked | None:
    """A ledger row's comparison (`detail` its usage_detail, a JSON text or object), or None
    when its provider stated no cost."""
    if isinstance(detail, str | bytes):
        detail = json.loads(detail) if detail else {}
    stated = detail.get(STATED_COST) if isinstance(detail, dict) else None
    if not isinstance(stated, int) or not isinstance(card, int):
        return None
    return Checked(str(model), str(account_id), str(request_id), stated, card)
