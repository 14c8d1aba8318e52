"""Reconciliation against the provider, both ways: the provider's usage and cost reports
(billing/proof/provider_reports.py) beside what the ledger recorded for calls forwarded with the
same upstream credential, per UTC day, model and kind of token, every difference in a class.

- `unmetered_traffic`: the provider saw more tokens than Meterway forwarded, traffic that did
  not pass through Meterway (or a call Meterway never recorded).
- `unbilled_by_provider`: Meterway recorded tokens the provider does not report.
- `price_drift`: the same tokens, a different cost beyond the provider's rounding: the rate of
  that kind (cached input, output...) differs between the provider and Meterway's card.
- `provider_rounding`: a cost difference within the rounding the provider's report is
  documented to have (a fixed number of micros a line, billing/proof/provider_reports.py's
  ROUNDING_MICROS), never read from how many digits an amount happened to print with.
- `unexplained`: a cost the report gives with no tokens of a kind compared (web searches, a
  line item it names otherwise), money without usage.

Tokens must match to the token; Meterway's side of a cost is its tokens times the rate of the
rate card (the debit's price_version) that priced them, exact, so its own per-call rounding
is not mistaken for the provider's. Where the ledger has no rate for a row (a model Meterway
never forwarded: the leaked key reconciliation exists to find), the difference is valued
from the provider's own bill instead, and every difference says which source valued it
(`valued_by`). Pure: no I/O; money in integer micros at the edges.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from billing.proof.provider_reports import (
    CACHED,
    CHARACTERS,
    IMAGES,
    INPUT,
    OTHER,
    OUTPUT,
    SECONDS,
    WRITE,
    WRITE_1H,
    WRITE_5M,
    CostLine,
    Slot,
    TokenLine,
)

UNMETERED, UNBILLED = "unmetered_traffic", "unbilled_by_provider"
DRIFT, ROUNDING, UNEXPLAINED = "price_drift", "provider_rounding", "unexplained"
CLASSES = (UNMETERED, UNBILLED, DRIFT, ROUNDING, UNEXPLAINED)
# What valued a difference: Meterway's card, the provider's bill, or neither (a unit no side
# prices, such as images: its count is compared, its money is not).
LEDGER_RATES, PROVIDER_BILL, UNVALUED = "ledger_rates", "provider_bill", "none"
VALUED_BY = (LEDGER_RATES, PROVIDER_BILL, UNVALUED)
TOKENS_PER_RATE = 1_000_000

# The card's price keys (micro-USD per 1M tokens) that price each kind, the most specific
# first: a kind without a price of its own is billed at the general one.
RATE_KEYS: Mapping[str, tuple[str, ...]] = {
    INPUT: ("input_mtok",),
    CACHED: ("cache_read_mtok", "input_mtok"),
    WRITE: ("cache_write_mtok", "input_mtok"),
    WRITE_5M: ("cache_write_5m_mtok", "cache_write_mtok", "input_mtok"),
    WRITE_1H: ("cache_write_1h_mtok", "cache_write_mtok", "input_mtok"),
    OUTPUT: ("output_mtok",),
}


@dataclass(frozen=True, slots=True)
class LedgerSum:
    """The ledger's debits of one slot priced by one rate card: token and unit sums and the
    card's base-band rates (`price_versions.card`; units beyond tokens are counted, not
    priced here)."""

    slot: Slot
    rates: Mapping[str, int]
    input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    cache_write_1h_tokens: int
    output_tokens: int
    images: int = 0
    characters: int = 0
    audio_seconds: int = 0

    def counts(self, split_ttl: bool) -> dict[str, int]:
        """Tokens by kind; cache writes by time to live where the provider reports them so."""
        counts = {
            INPUT: self.input_tokens,
            CACHED: self.cached_input_tokens,
            OUTPUT: self.output_tokens,
            IMAGES: self.images,
            CHARACTERS: self.characters,
            SECONDS: self.audio_seconds,
        }
        if split_ttl:
            counts[WRITE_5M] = self.cache_write_tokens - self.cache_write_1h_tokens
            counts[WRITE_1H] = self.cache_write_1h_tokens
        else:
            counts[WRITE] = self.cache_write_tokens
        return counts


@dataclass(frozen=True, slots=True)
class Difference:
    slot: Slot
    kind: str
    cls: str
    provider_tokens: int
    ledger_tokens: int
    provider_micros: int | None  # the provider's cost of the kind, None where not reported
    ledger_micros: int | None  # Meterway's cost of its tokens at its card, None without one
    delta_micros: int  # provider minus Meterway
    note: str
    valued_by: str = LEDGER_RATES  # one of VALUED_BY


def as_row(d: Difference) -> dict[str, object]:
    """A difference as the operator reads it (the CLI's JSON, the notification): plain
    values, the day as ISO text."""
    s = d.slot
    return {
        "credential": s.credential, "day": s.day.isoformat(), "model": s.model,
        "kind": d.kind, "class": d.cls, "provider_tokens": d.provider_tokens,
        "ledger_tokens": d.ledger_tokens, "provider_micros": d.provider_micros,
        "ledger_micros": d.ledger_micros, "delta_micros": d.delta_micros, "note": d.note,
        "valued_by": d.valued_by,
    }  # fmt: skip


def rate_of(rates: Mapping[str, int], kind: str) -> int | None:
    """Micro-USD per 1M tokens of `kind` on a card, or None when it prices no such tokens."""
    for key in RATE_KEYS.get(kind, ()):
        if key in rates:
            return rates[key]
    return None


def whole_micros(value: Fraction | Decimal) -> int:
    """The nearest whole micro (halves away from zero): what a stored amount holds."""
    exact = Fraction(value)
    return int(math.copysign(math.floor(abs(exact) + Fraction(1, 2)), exact))


@dataclass
class _Side:
    tokens: int = 0
    cost: Fraction | None = None  # Meterway's; None until a priced line arrives
    rates: frozenset[int] = frozenset()
    unpriced: bool = False


@dataclass
class _Bill:
    micros: Fraction = Fraction(0)  # exact: a kindless line's share of it is a ratio
    tolerance: Decimal = Decimal(0)


Key = tuple[Slot, str]
_Valued = tuple[Fraction, str]  # a difference's exact amount and what valued it


def _ledger(sums: Iterable[LedgerSum], split_ttl: bool) -> dict[Key, _Side]:
    sides: dict[Key, _Side] = {}
    for s in sums:
        for kind, tokens in s.counts(split_ttl).items():
            if not tokens:
                continue
            side = sides.setdefault((s.slot, kind), _Side())
            side.tokens += tokens
            rate = rate_of(s.rates, kind)
            if rate is None:
                side.unpriced = True
                continue
            side.cost = (side.cost or Fraction(0)) + Fraction(tokens * rate, TOKENS_PER_RATE)
            side.rates = side.rates | {rate}
    return sides


def reconcile(
    tokens: Iterable[TokenLine],
    costs: Iterable[CostLine],
    ledger: Iterable[LedgerSum],
    split_ttl: bool,
) -> list[Difference]:
    """Every difference between the provider's reports and the ledger, sorted by slot and
    kind; an empty list when both sides agree to the token and to the provider's rounding.
    `split_ttl`: the provider reports cache writes by time to live (Anthropic)."""
    seen: dict[Key, int] = {}
    for line in tokens:
        seen[(line.slot, line.kind)] = seen.get((line.slot, line.kind), 0) + line.tokens
    billed: dict[Key, _Bill] = {}
    for c in costs:
        bill = billed.setdefault((c.slot, c.kind), _Bill())
        bill.micros += Fraction(c.micros)
        bill.tolerance += c.tolerance
    sides = _ledger(ledger, split_ttl)
    _spread_kindless(billed, seen, sides)
    out = []
    for key in sorted(set(seen) | set(billed) | set(sides), key=_order):
        found = _compare(key, seen.get(key, 0), billed.get(key), sides.get(key, _Side()))
        if found is not None:
            out.append(found)
    return out


def _spread_kindless(
    billed: dict[Key, _Bill], seen: Mapping[Key, int], sides: Mapping[Key, _Side]
) -> None:
    """A bill line naming a model and no kind (OpenAI's line item "o1-pro-2025-03-19") bills
    that model's tokens together. Where the ledger has no rate for them (a model Meterway
    never forwarded), its amount is spread over the kinds the report counted and no line
    bills on its own, in proportion to their tokens: the leaked tokens are worth their share
    of the provider's bill, never $0, and the row names the model."""
    for (slot, kind), bill in list(billed.items()):
        if kind != OTHER or not slot.model:
            continue
        kinds = {
            k: tokens
            for (s, k), tokens in seen.items()
            if s == slot
            and tokens
            and (s, k) not in billed
            and sides.get((s, k), _Side()).cost is None
        }
        total = sum(kinds.values())
        if not total:
            continue
        del billed[(slot, kind)]
        for k, tokens in kinds.items():
            share = bill.micros * tokens / total
            billed[(slot, k)] = _Bill(share, bill.tolerance)


def _order(key: Key) -> tuple[str, str, str, str]:
    slot, kind = key
    return (slot.credential, slot.day.isoformat(), slot.model, kind)


def _compare(key: Key, seen: int, bill: _Bill | None, side: _Side) -> Difference | None:
    slot, kind = key
    cost = None if side.unpriced else side.cost
    ledger_micros = None if cost is None else whole_micros(cost)
    provider_micros = None if bill is None else whole_micros(bill.micros)

    def difference(cls: str, valued: _Valued, note: str) -> Difference:
        delta, by = valued
        return Difference(
            slot,
            kind,
            cls,
            seen,
            side.tokens,
            provider_micros,
            ledger_micros,
            whole_micros(delta),
            note,
            by,
        )

    if seen != side.tokens:
        cls = UNMETERED if seen > side.tokens else UNBILLED
        return difference(cls, _token_delta(seen, bill, side, cost), _tokens_note(seen, side))
    if bill is None or bill.micros == (cost or 0):
        return None
    delta = Fraction(bill.micros) - (cost or 0)
    valued = (delta, PROVIDER_BILL if cost is None else LEDGER_RATES)
    if kind == OTHER or not seen:
        return difference(
            UNEXPLAINED, valued, "a cost the report bills with no tokens of a kind compared"
        )
    if cost is None:
        return difference(UNEXPLAINED, valued, "Meterway's card prices none of these tokens")
    if abs(delta) <= bill.tolerance:
        return difference(
            ROUNDING, valued, f"within the provider's rounding ({bill.tolerance} micros)"
        )
    return difference(DRIFT, valued, _drift_note(kind, seen, bill, side))


def _token_delta(seen: int, bill: _Bill | None, side: _Side, cost: Fraction | None) -> _Valued:
    """The money the token difference carries, and what valued it: the provider's cost less
    Meterway's where both are known; else, where the ledger has no rate, the extra tokens at
    the provider's own billed rate (a leak on a model Meterway never forwarded is worth what
    the provider charged, never $0); else the extra tokens at Meterway's rate."""
    if bill is not None and cost is not None:
        return Fraction(bill.micros) - cost, LEDGER_RATES
    if bill is not None and seen:
        return Fraction(bill.micros) * (seen - side.tokens) / seen, PROVIDER_BILL
    if side.rates:
        return Fraction((seen - side.tokens) * min(side.rates), TOKENS_PER_RATE), LEDGER_RATES
    if bill is not None:
        return Fraction(bill.micros), PROVIDER_BILL
    return Fraction(0), UNVALUED


def _tokens_note(seen: int, side: _Side) -> str:
    return f"provider {seen}, ledger {side.tokens} ({seen - side.tokens:+d})"


def _usd_per_million(micros_per_token: Fraction) -> str:
    """Micros per token read as USD per 1M tokens (the same number), six decimals."""
    exact = Decimal(micros_per_token.numerator) / Decimal(micros_per_token.denominator)
    return f"{exact:.6f} USD per 1M tokens"


def _drift_note(kind: str, seen: int, bill: _Bill, side: _Side) -> str:
    provider = Fraction(bill.micros) / seen
    card = ", ".join(_usd_per_million(Fraction(r, TOKENS_PER_RATE)) for r in sorted(side.rates))
    return f"{kind} rate: provider {_usd_per_million(provider)}, Meterway's card {card}"


def alerting(differences: Iterable[Difference], threshold_micros: int) -> list[Difference]:
    """The differences an operator is told of: beyond the provider's rounding and worth at
    least `threshold_micros` either way (0: every one)."""
    return [d for d in differences if d.cls != ROUNDING and abs(d.delta_micros) >= threshold_micros]
