"""How price changes are reviewed before they bill (docs/concepts/prices.md).

PRICE_CHANGE_APPROVERS: 2 makes a change's approver another operator than its proposer.
PRICE_CHANGE_CONFIRM_PERCENT: a change whose preview moves an account's spend by more than
this is approved only with that figure named. PRICE_CHANGE_LEAD_S: the least time from an
approval to the change's effective time, so every process has installed it before it bills;
PRICE_CHANGE_POLL_S: how often each process looks for approved changes (under the lead).
PRICE_CHANGES_AT_START: `review` (the default: what the issue asks of a gateway that bills)
files the prices an edited pricing.toml or a catalogue upgrade moves as a pending change
and bills the approved card until it is in force; `apply` bills what was loaded at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from gateway.config import values as v
from gateway.config.values import ConfigError, Get

AT_START = frozenset({"review", "apply"})


@dataclass(frozen=True)
class PriceReview:
    approvers: int = 1
    confirm_permille: int = 100  # tenths of a percent
    lead_s: float = 300.0
    poll_s: float = 30.0
    at_start: str = "review"  # or "apply"


def _permille(raw: object) -> int:
    try:
        tenths = Decimal(str(raw).strip().removesuffix("%")) * 10
    except InvalidOperation:
        tenths = Decimal(-1)
    if not tenths.is_finite() or tenths < 0 or tenths != tenths.to_integral_value():
        raise ConfigError(
            f"PRICE_CHANGE_CONFIRM_PERCENT must be a percentage like 10 or 12.5, got {raw!r}"
        )
    return int(tenths)


def price_review(get: Get) -> PriceReview:
    approvers = v.whole("PRICE_CHANGE_APPROVERS", get("PRICE_CHANGE_APPROVERS", 1), 1)
    if approvers > 2:
        raise ConfigError("PRICE_CHANGE_APPROVERS must be 1 or 2")
    lead = v.number("PRICE_CHANGE_LEAD_S", get("PRICE_CHANGE_LEAD_S", 300), 0.1)
    poll = v.number("PRICE_CHANGE_POLL_S", get("PRICE_CHANGE_POLL_S", 30), 0.05)
    if poll >= lead:
        raise ConfigError("PRICE_CHANGE_POLL_S must be shorter than PRICE_CHANGE_LEAD_S")
    confirm = _permille(get("PRICE_CHANGE_CONFIRM_PERCENT", "10"))
    at_start = str(get("PRICE_CHANGES_AT_START", "review")).strip().lower()
    if at_start not in AT_START:
        raise ConfigError(f"PRICE_CHANGES_AT_START must be review or apply, got {at_start!r}")
    return PriceReview(approvers, confirm, lead, poll, at_start)
