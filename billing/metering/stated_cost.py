"""The cost a provider states for a call (OpenRouter's `usage.cost`, in credits of one USD, on
every answer and a stream's usage chunk), kept with the call's usage as
`provider_stated_cost_nanos` (nano-USD): a key no card prices, read by the drift check
(billing/proof/drift.py), never billed."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

from billing.metering.usage import Usage
from billing.values import replace

STATED_COST = "provider_stated_cost_nanos"
NANOS_PER_USD = 1_000_000_000
NANOS_PER_MICRO = 1000


def stated_nanos(raw_usage: Mapping[str, object]) -> int | None:
    """The provider's stated cost in nano-USD (`cost`: a non-negative JSON number), or None."""
    cost = raw_usage.get("cost")
    if isinstance(cost, bool) or not isinstance(cost, int | float):
        return None
    if not math.isfinite(cost) or cost < 0:
        return None
    nanos = (Decimal(repr(cost)) * NANOS_PER_USD).to_integral_value(ROUND_HALF_UP)
    return int(nanos)


def with_stated_cost(usage: Usage | None, raw_usage: object) -> Usage | None:
    """The usage with the provider's stated cost kept beside it (never priced)."""
    if usage is None or not isinstance(raw_usage, dict):
        return usage
    nanos = stated_nanos(raw_usage)
    if nanos is None:
        return usage
    return replace(usage, extra=(*usage.extra, (STATED_COST, nanos)))
