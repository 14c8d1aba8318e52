# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""A rate card: one model's integer rates at one time and service tier, compiled for speed.

Rates are micro-USD per a unit's `per` (per 1M tokens, per 1k searches), whole numbers. A
price on a specific unit (cache reads, 1-hour cache writes, audio tokens) takes those units
out of the general one, as the catalogue decomposes usage (`genai_prices.decompose`): the
leaf of a priced unit is its count less the leaves of the priced units below it. That rule
is linear, so each band compiles to one effective rate per reported usage key and a call is
priced as a short sum of products, exact in COST_SCALE units, rounded once by the caller.

A band is a context-length tier: the whole call is priced at the band its prompt's input
tokens (cache included) exceed, as Google and Anthropic bill long prompts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from billing.metering.usage import Usage
from billing.pricing.units import BY_PRICE, BY_USAGE, REQUESTS, Unit, is_plain_token

Tiered = tuple[int, tuple[tuple[int, int], ...]]  # base rate, ((above N input tokens, rate), ...)


# The usage keys every call reports, in Usage's own fields' order (billing/metering/usage.py).
CORE_KEYS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "output_reasoning_tokens",
)


@dataclass(frozen=True, slots=True)
class Band:
    above: int  # applies when the prompt's input tokens exceed this; -1 for the base band
    rates: Mapping[str, int]  # price key -> micro-USD per its unit's `per`
    effective: tuple[tuple[str, int], ...]  # usage key -> COST_SCALE units per unit reported
    fixed: int  # the per-call fee, in COST_SCALE units
    dearest_input: int  # COST_SCALE units per text input token, at its dearest kind
    dearest_output: int  # the same per text output token
    # The effective rates of CORE_KEYS, then of every other key: priced per call without
    # building a mapping of the usage first.
    core: tuple[int, int, int, int, int] = field(init=False, repr=False, compare=False)
    others: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rates = dict(self.effective)
        core = tuple(rates.pop(key, 0) for key in CORE_KEYS)
        object.__setattr__(self, "core", core)
        object.__setattr__(self, "others", rates)

    def usage_numerator(self, usage: Usage, tool_keys: Mapping[str, str]) -> int:
        """The exact cost of a call's usage, in COST_SCALE units (see model.usage_counts)."""
        cached, written = usage.cached_input_tokens, usage.cache_write_tokens
        r_in, r_read, r_write, r_out, r_reason = self.core
        total = (
            self.fixed
            + (usage.input_tokens + cached + written) * r_in
            + cached * r_read
            + written * r_write
            + usage.output_tokens * r_out
            + usage.reasoning_tokens * r_reason
        )
        if usage.extra or usage.tool_runs:
            others = self.others
            for key, n in usage.extra:
                total += n * others.get(key, 0)
            for item, runs in usage.tool_runs:
                total += runs * others.get(tool_keys.get(item, item), 0)
        return total

    def numerator(self, counts: Mapping[str, int]) -> int:
        total = self.fixed
        for key, rate in self.effective:
            n = counts.get(key)
            if n:
                total += n * rate
        return total

    def unit_rate(self, usage_key: str) -> int | None:
        """COST_SCALE units per unit of `usage_key` if that unit has a price of its own."""
        unit = BY_USAGE.get(usage_key)
        rate = self.rates.get(unit.price_key) if unit else None
        return None if rate is None or unit is None else rate * unit.scale


@dataclass(frozen=True, slots=True)
class RateCard:
    """Every band of one model's prices in force over one period, for one service tier."""

    version: str
    bands: tuple[Band, ...]  # by `above`, ascending
    meta: Mapping[str, object] = field(compare=False)

    def band(self, input_tokens: int) -> Band:
        bands = self.bands
        if len(bands) == 1:
            return bands[0]
        for i in range(len(bands) - 1, 0, -1):
            if input_tokens > bands[i].above:
                return bands[i]
        return bands[0]

    def prices(self, price_key: str) -> bool:
        return price_key in self.bands[0].rates

    def to_json(self) -> dict[str, object]:
        """The card as the ledger's price_versions table keeps it: enough to re-derive any
        debit it priced without this package or its catalogue."""
        return {**self.meta, "bands": [_band_json(b) for b in self.bands]}


def _band_json(band: Band) -> dict[str, object]:
    per = {k: BY_PRICE[k].per for k in band.rates}
    return {"above": band.above, "rates": dict(band.rates), "per": per}


def _leaves(priced: list[Unit]) -> dict[str, dict[str, int]]:
    """Each priced unit's leaf as a combination of reported usage keys (its count less the
    leaves of the priced units it covers), most specific first, as the catalogue does."""
    order = sorted(priced, key=lambda u: (-len(u.dimensions), u.usage_key))
    leaves: dict[str, dict[str, int]] = {}
    for unit in order:
        leaf = {unit.usage_key: 1}
        for other in order:
            if other is not unit and unit.covers(other) and other.usage_key in leaves:
                for key, coef in leaves[other.usage_key].items():
                    leaf[key] = leaf.get(key, 0) - coef
        leaves[unit.usage_key] = leaf
    return leaves


def compile_band(above: int, rates: Mapping[str, int]) -> Band:
    units = [BY_PRICE[k] for k in rates if BY_PRICE[k].usage_key != REQUESTS]
    effective: dict[str, int] = {}
    leaves = _leaves(units)
    for unit in units:
        scaled = rates[unit.price_key] * unit.scale
        for key, coef in leaves[unit.usage_key].items():
            effective[key] = effective.get(key, 0) + coef * scaled
    fee = rates.get(BY_PRICE["requests_kcount"].price_key, 0) * BY_PRICE["requests_kcount"].scale

    def dearest(direction: str) -> int:
        scaled = [rates[u.price_key] * u.scale for u in units if is_plain_token(u, direction)]
        return max(scaled, default=0)

    return Band(
        above,
        dict(rates),
        tuple((k, r) for k, r in sorted(effective.items()) if r),
        fee,
        dearest("input"),
        dearest("output"),
    )


def compile_card(rates: Mapping[str, Tiered], meta: Mapping[str, object]) -> RateCard:
    """One card from each price key's base rate and its context-length tiers."""
    starts = sorted({start for _, tiers in rates.values() for start, _ in tiers})
    bands = [compile_band(-1, {k: base for k, (base, _) in rates.items()})]
    for start in starts:
        at = {k: _tier_rate(tiered, start) for k, tiered in rates.items()}
        bands.append(compile_band(start, at))
    body = {**meta, "bands": [_band_json(b) for b in bands]}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
    version = f"{meta['provider']}/{meta['model']}/{digest}"
    return RateCard(version, tuple(bands), dict(meta))


def _tier_rate(tiered: Tiered, start: int) -> int:
    base, tiers = tiered
    rate = base
    for tier_start, tier_rate in tiers:
        if tier_start <= start:
            rate = tier_rate
    return rate
