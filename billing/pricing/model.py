# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""A served model: where it routes, and its rate cards over time and service tiers.

A request is priced at the prices in force when it was admitted (the reservation's Redis
clock): the last period that started by then, the time-of-day segment it falls in (DeepSeek's
off-peak hours), and the service tier the provider reports it served ("" is the default).
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, final

from billing.metering.usage import ToolRuns, Usage
from billing.money.micros import COST_SCALE, ceil_div, charge
from billing.pricing.card import Band, RateCard
from billing.values import Value

ModelKind = Literal[
    "chat", "completion", "embedding", "moderation", "image", "transcription", "speech", "realtime"
]
DAY_MINUTES = 1440
BATCH = "batch"  # the tier of a batch's calls, at the catalogue's batch rates
# A built-in tool's run, by the output item it produces, as the catalogue's usage key.
TOOL_UNITS = {
    "web_search_call": "web_searches",
    "file_search_call": "storage_searches",
    "code_interpreter_call": "code_executions",
}


@final
class Priced(Value):
    """A call's exact provider cost, `numerator / COST_SCALE` micros, and what priced it."""

    def __init__(
        self,
        numerator: int,
        version: str = "",
        detail: tuple[tuple[str, int | str], ...] = (),
        provider_numerator: int = -1,
    ) -> None:
        self.numerator: Final = numerator
        self.version: Final = version  # the rate card's id (a ledger debit's price_version)
        self.detail: Final = detail  # priced dimensions beyond the columns
        # The list card's exact cost when a price book priced `numerator` (-1: the same)
        self.provider_numerator: Final = provider_numerator

    @property
    def provider_micros(self) -> int:
        """What the provider is paid: the list card's cost, whatever book the customer has."""
        listed = self.provider_numerator
        return ceil_div(self.numerator if listed < 0 else listed, COST_SCALE)

    def charged(self, markup_bps: int = 0) -> int:
        """What the account is debited: the exact cost marked up, rounded up once."""
        return charge(self.numerator, markup_bps)


@dataclass(frozen=True, slots=True)
class Period:
    """Prices in force from `start_ms` (UTC) until the next period starts."""

    start_ms: int
    minute_starts: tuple[int, ...]  # UTC minute of day each segment starts; the first is 0
    segments: tuple[Mapping[str, RateCard], ...]  # per segment: service tier -> card

    def cards(self, at_ms: int) -> Mapping[str, RateCard]:
        if len(self.segments) == 1:
            return self.segments[0]
        minute = (at_ms // 60_000) % DAY_MINUTES
        return self.segments[bisect_right(self.minute_starts, minute) - 1]


def usage_counts(usage: Usage) -> dict[str, int]:
    """The usage as the catalogue's usage keys: input_tokens counts every input token (cache
    reads and writes included), and each more specific key is a part of its general one."""
    counts = {
        "input_tokens": usage.input_tokens + usage.cached_input_tokens + usage.cache_write_tokens,
        "output_tokens": usage.output_tokens,
    }
    if usage.cached_input_tokens:
        counts["cache_read_tokens"] = usage.cached_input_tokens
    if usage.cache_write_tokens:
        counts["cache_write_tokens"] = usage.cache_write_tokens
    if usage.reasoning_tokens:
        counts["output_reasoning_tokens"] = usage.reasoning_tokens
    for key, n in usage.extra:
        counts[key] = counts.get(key, 0) + n
    for item, runs in usage.tool_runs:
        key = TOOL_UNITS.get(item, item)
        counts[key] = counts.get(key, 0) + runs
    return counts


def tool_counts(runs: ToolRuns) -> dict[str, int]:
    return {TOOL_UNITS.get(item, item): n for item, n in runs}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class ModelPrice:
    name: str
    provider: str
    upstream_model: str
    kind: ModelKind
    max_output_tokens: int  # 0: unknown, the request must name its own
    encoding: str
    image_max_tokens: int
    periods: tuple[Period, ...]  # by start, ascending; the first starts at 0
    source: str = "pricing.toml"  # or the catalogue's name and version
    # The upstreams serving it when more than one does (pricing.toml `deployments`), each
    # a price of its own; () for a model with one upstream, this price's.
    deployments: tuple[Deployment, ...] = ()
    # Its provider's Chat Completions usage counts reasoning outside `completion_tokens`
    # (xAI; billing/metering/usage.py REASONING_APART), so it is added to the completion.
    reasoning_apart: bool = False
    # Under a price book (billing/pricing/shelf.py): the list price its cards were booked
    # from, which prices the provider's cost, and the book chain's tags; None and "" for
    # a list price.
    listed: ModelPrice | None = field(default=None, repr=False, compare=False)
    book: str = ""
    # Every price key any of its cards sets: what a request may be billed for at all.
    priced_keys: frozenset[str] = field(init=False, repr=False, compare=False)
    # The cards by tier when one period with one segment holds them all (most models): no
    # clock is read to find them.
    fixed: Mapping[str, RateCard] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = {
            key
            for period in self.periods
            for cards in period.segments
            for card in cards.values()
            for key in card.bands[0].rates
        }
        object.__setattr__(self, "priced_keys", frozenset(keys))
        only = self.periods[0].segments if len(self.periods) == 1 else ()
        object.__setattr__(self, "fixed", only[0] if len(only) == 1 else None)

    def card(self, at_ms: int | None = None, tier: str = "") -> RateCard:
        """The card in force at `at_ms` (now if None) for the reported service tier; a
        tier without prices of its own (or "default") is the base price."""
        cards = self.fixed
        if cards is not None:
            return (tier and cards.get(tier)) or cards[""]
        at = time.time_ns() // 1_000_000 if at_ms is None else at_ms
        periods = self.periods
        period = periods[-1]
        if at < period.start_ms:
            starts = [p.start_ms for p in periods]
            period = periods[max(bisect_right(starts, at) - 1, 0)]
        segments = period.segments
        cards = segments[0] if len(segments) == 1 else period.cards(at)
        return (tier and cards.get(tier)) or cards[""]

    def tiers(self, at_ms: int | None = None) -> frozenset[str]:
        """The service tiers a request may ask for that have prices of their own (the batch
        rate is the Batch API's, not a tier a call asks for)."""
        at = _now_ms() if at_ms is None else at_ms
        starts = [p.start_ms for p in self.periods]
        period = self.periods[max(bisect_right(starts, at) - 1, 0)]
        return frozenset(t for t in period.cards(at) if t and t != BATCH)

    def price(self, usage: Usage, at_ms: int | None = None) -> Priced:
        """The exact cost of `usage` at the prices in force at `at_ms` (Redis clock)."""
        card = self.card(at_ms, usage.service_tier)
        band = card.band(usage.input_tokens + usage.cached_input_tokens + usage.cache_write_tokens)
        numerator = band.usage_numerator(usage, TOOL_UNITS)
        plain = not (usage.extra or usage.tool_runs or usage.service_tier) and band.above < 0
        listed = self.listed
        if listed is None:
            return Priced(numerator, card.version, () if plain else _detail(usage, band))
        base = listed.price(usage, at_ms)  # the list card names the debit's price_version
        return Priced(numerator, base.version, (*base.detail, ("book", self.book)), base.numerator)

    def cost_micros(self, usage: Usage, at_ms: int | None = None) -> int:
        return self.price(usage, at_ms).provider_micros

    def prices(self, price_key: str, at_ms: int | None = None) -> bool:
        """This model has a price for `price_key` (a tool fee, a modality) now."""
        return self.card(at_ms).prices(price_key)

    def units_micros(self, counts: Mapping[str, int], at_ms: int | None = None) -> int:
        """Units priced apart from tokens (images by size and quality, audio seconds,
        characters) at the base price, rounded up: a reservation's part for them."""
        if not counts:
            return 0
        band = self.card(at_ms).bands[0]
        return ceil_div(band.numerator(counts) - band.fixed, COST_SCALE)

    def is_priced(self, at_ms: int | None = None) -> bool:
        """Priced now: token kinds need an input rate, the others any rate of their own;
        a moderation model is free unless the table prices it."""
        rates = self.card(at_ms).bands[0].rates
        if self.kind == "moderation":
            return True
        if self.kind in ("image", "transcription", "speech"):
            return bool(rates)
        return "input_mtok" in rates

    def fees_micros(self, runs: ToolRuns, at_ms: int | None = None) -> int:
        """Built-in tool runs at the base price, rounded up: a bound for reservations."""
        if not runs:
            return 0
        band = self.card(at_ms).bands[0]
        return ceil_div(band.numerator(tool_counts(runs)) - band.fixed, COST_SCALE)

    def worst_case_micros(
        self,
        input_tokens: int,
        max_output_tokens: int,
        tier: str = "",
        at_ms: int | None = None,
        kinds: tuple[str, ...] = (),
    ) -> int:
        """The reservation: every input token at its dearest kind, every output token, at
        the band the prompt reaches and the dearer of the base price and the requested tier.
        `kinds` are usage keys the request asks for beyond text (1-hour cache writes, audio
        in or out), whose rates the worst case also assumes. A batch's (`tier` BATCH) is at
        the batch rates alone: nothing in it runs at another tier."""
        band = self.card(at_ms).band(input_tokens)
        if not (tier or kinds):
            exact = input_tokens * band.dearest_input + max_output_tokens * band.dearest_output
            return -(-(exact + band.fixed) // COST_SCALE)
        if tier == BATCH:  # a batch runs at the batch rates, never a call's tier
            return _worst(
                self.card(at_ms, tier).band(input_tokens), input_tokens, max_output_tokens, kinds
            )
        base = _worst(band, input_tokens, max_output_tokens, kinds)
        if not tier:
            return base
        tiered = self.card(at_ms, tier).band(input_tokens)
        return max(base, _worst(tiered, input_tokens, max_output_tokens, kinds))

    def affordable_output_tokens(self, input_tokens: int, budget_micros: int) -> int:
        """How many output tokens a budget covers after the worst-case input (0 if none)."""
        band = self.card().band(input_tokens)
        room = budget_micros * COST_SCALE - input_tokens * band.dearest_input - band.fixed
        if room < 0:
            return 0
        if band.dearest_output == 0:
            return self.max_output_tokens
        return min(self.max_output_tokens, room // band.dearest_output)


@dataclass(frozen=True, slots=True)
class Deployment:
    """One upstream of a model served by several: its price (the model's name, the
    upstream's provider, model id and rates) and its share of the traffic."""

    price: ModelPrice
    weight: int

    @property
    def upstream(self) -> str:
        """How the gateway names this upstream (its cool-downs, /readyz, /metrics)."""
        return f"{self.price.provider}/{self.price.upstream_model}"


def _worst(band: Band, input_tokens: int, output_tokens: int, kinds: tuple[str, ...]) -> int:
    dearest_in, dearest_out = band.dearest_input, band.dearest_output
    if not kinds:
        return ceil_div(
            input_tokens * dearest_in + output_tokens * dearest_out + band.fixed, COST_SCALE
        )
    for key in kinds:
        rate = band.unit_rate(key) or 0
        if key.startswith("output_"):
            dearest_out = max(dearest_out, rate)
        else:
            dearest_in = max(dearest_in, rate)
    exact = input_tokens * dearest_in + output_tokens * dearest_out
    return ceil_div(exact + band.fixed, COST_SCALE)


def _detail(usage: Usage, band: Band) -> tuple[tuple[str, int | str], ...]:
    """What priced the call beyond the ledger's token columns, for the debit's record."""
    detail: list[tuple[str, int | str]] = [*usage.extra]
    detail += sorted(tool_counts(usage.tool_runs).items())
    if usage.service_tier:
        detail.append(("service_tier", usage.service_tier))
    if band.above >= 0:
        detail.append(("context_above", band.above))
    return tuple(detail)
