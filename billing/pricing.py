"""The provider pricing table: which models exist, where they route, and what they cost.

Loaded once at start-up from config/pricing.toml and validated there, so a typo in a
price fails the boot instead of mis-billing traffic. Prices are decimal strings in USD per
1M tokens and are held as integer rate units (micro-USD per 1M tokens).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from billing.money import (
    COST_SCALE,
    TOKENS_PER_RATE,
    MoneyFormatError,
    ceil_div,
    charge,
    parse_usd,
    rate_cost,
)
from billing.names import one_of
from billing.usage import Usage

ModelKind = Literal["chat", "completion", "embedding"]
ENCODINGS = frozenset({"cl100k_base", "o200k_base"})
KINDS: frozenset[str] = frozenset({"chat", "completion", "embedding"})
FIELDS = frozenset(
    {"provider", "kind", "input", "cached_input", "cache_write", "output"}
    | {"max_output_tokens", "encoding", "upstream", "aliases", "image_max_tokens", "service_tiers"}
)
# Upper bounds of one input image, in tokens, when a model sets none (billing/tokens.py).
DEFAULT_IMAGE_TOKENS = {"anthropic": 1600}
IMAGE_TOKENS_FALLBACK = 3800
RATE_FIELDS = ("input", "cached_input", "cache_write", "output")


class PricingError(ValueError):
    """The pricing table is invalid; raised at start-up, never per request."""


@dataclass(frozen=True, slots=True)
class Priced:
    """A call's exact provider cost, `numerator / COST_SCALE` micros, and what priced it."""

    numerator: int
    version: str = ""  # the rate card's id (a ledger debit's price_version)
    detail: tuple[tuple[str, int | str], ...] = ()  # priced dimensions beyond the columns

    @property
    def provider_micros(self) -> int:
        return ceil_div(self.numerator, COST_SCALE)

    def charged(self, markup_bps: int = 0) -> int:
        """What the account is debited: the exact cost marked up, rounded up once."""
        return charge(self.numerator, markup_bps)


@dataclass(frozen=True, slots=True)
class Rates:
    """One tier's token rates, in rate units (micro-USD per 1M tokens)."""

    input: int
    cached_input: int
    cache_write: int
    output: int
    # The input rate a reservation assumes, made once (a worst case is priced twice a request).
    dearest_input: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        dearest = max(self.input, self.cached_input, self.cache_write)
        object.__setattr__(self, "dearest_input", dearest)

    def tokens_cost(self, usage: Usage) -> int:
        """One exact integer sum over every usage field, rounded up once."""
        return rate_cost(
            usage.input_tokens * self.input
            + usage.cached_input_tokens * self.cached_input
            + usage.cache_write_tokens * self.cache_write
            + usage.output_tokens * self.output
        )

    def worst_case(self, input_tokens: int, max_output_tokens: int) -> int:
        return rate_cost(input_tokens * self.dearest_input + max_output_tokens * self.output)


@dataclass(frozen=True, slots=True)
class ModelPrice:
    name: str
    provider: str
    upstream_model: str
    kind: ModelKind
    input_rate: int
    cached_input_rate: int
    cache_write_rate: int
    output_rate: int
    max_output_tokens: int
    encoding: str
    image_max_tokens: int = IMAGE_TOKENS_FALLBACK
    service_tiers: Mapping[str, Rates] = field(default_factory=dict)  # flex, priority, ...
    tool_fees: Mapping[str, int] = field(default_factory=dict)  # micros per built-in tool run
    # The four rates above as one value, made once (priced at least twice per request).
    base_rates: Rates = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rates = Rates(
            self.input_rate, self.cached_input_rate, self.cache_write_rate, self.output_rate
        )
        object.__setattr__(self, "base_rates", rates)

    @property
    def dearest_input_rate(self) -> int:
        """The input rate a reservation assumes, since the cache split is unknown up front."""
        return self.base_rates.dearest_input

    def rates(self, tier: str) -> Rates:
        """The tier the provider reported; its default (or an unpriced tier) is the base price."""
        return self.service_tiers.get(tier) or self.base_rates

    def fees_micros(self, runs: tuple[tuple[str, int], ...]) -> int:
        """Built-in tool fees: whole micros per run, so no rounding is involved."""
        return sum(self.tool_fees.get(name, 0) * count for name, count in runs)

    def cost_micros(self, usage: Usage) -> int:
        """The request's cost: tokens at the reported tier's rates (rounded up once) plus fees."""
        return self.rates(usage.service_tier).tokens_cost(usage) + self.fees_micros(usage.tool_runs)

    def price(self, usage: Usage, at_ms: int = 0) -> Priced:
        """The exact cost of `usage` at the prices in force at `at_ms` (Redis clock)."""
        r = self.rates(usage.service_tier)
        tokens = (
            usage.input_tokens * r.input
            + usage.cached_input_tokens * r.cached_input
            + usage.cache_write_tokens * r.cache_write
            + usage.output_tokens * r.output
        )
        scale = COST_SCALE // TOKENS_PER_RATE
        return Priced(tokens * scale + self.fees_micros(usage.tool_runs) * COST_SCALE)

    def worst_case_micros(self, input_tokens: int, max_output_tokens: int, tier: str = "") -> int:
        """The reservation: every input token at the dearest input rate, every output token,
        at the base price or the requested tier's, whichever is dearer."""
        base = self.base_rates.worst_case(input_tokens, max_output_tokens)
        tiered = self.rates(tier)
        if tiered is self.base_rates:  # the default tier (or an unpriced one): priced once
            return base
        return max(base, tiered.worst_case(input_tokens, max_output_tokens))

    def affordable_output_tokens(self, input_tokens: int, budget_micros: int) -> int:
        """How many output tokens a budget covers after the worst-case input (0 if none)."""
        room = budget_micros * 1_000_000 - input_tokens * self.dearest_input_rate
        if room < 0:
            return 0
        if self.output_rate == 0:
            return self.max_output_tokens
        return min(self.max_output_tokens, room // self.output_rate)


@dataclass(frozen=True, slots=True)
class PricingTable:
    models: Mapping[str, ModelPrice]
    aliases: Mapping[str, str]

    def lookup(self, model: str) -> ModelPrice | None:
        return self.models.get(self.aliases.get(model, model))

    def names(self) -> list[str]:
        return sorted(self.models)


def _rate(entry: Mapping[str, object], field: str, model: str, default: int | None) -> int:
    raw = entry.get(field)
    if raw is None:
        if default is None:
            raise PricingError(f"model {model!r}: missing {field!r}")
        return default
    if not isinstance(raw, str):
        raise PricingError(f"model {model!r}: {field!r} must be a decimal string, got {raw!r}")
    try:
        value = parse_usd(raw)
    except MoneyFormatError as exc:
        raise PricingError(f"model {model!r}: {field!r}: {exc}") from exc
    if value < 0:
        raise PricingError(f"model {model!r}: {field!r} is negative")
    return value


def _max_output(name: str, entry: Mapping[str, object], kind: object) -> int:
    max_out = entry.get("max_output_tokens", 0 if kind == "embedding" else None)
    if isinstance(max_out, bool) or not isinstance(max_out, int) or max_out < 0:
        raise PricingError(f"model {name!r}: max_output_tokens must be a whole number")
    return max_out


def _upstream(name: str, entry: Mapping[str, object]) -> str:
    upstream = entry.get("upstream", name)
    if not isinstance(upstream, str) or not upstream:
        raise PricingError(f"model {name!r}: upstream must be a non-empty string")
    return upstream


def _aliases(name: str, entry: Mapping[str, object]) -> list[str]:
    aliases = entry.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise PricingError(f"model {name!r}: aliases must be a list of non-empty strings")
    return aliases


def _tiers(name: str, entry: Mapping[str, object], base: Rates) -> dict[str, Rates]:
    """`service_tiers.flex = { input = ..., output = ... }`: a tier names the rates it
    changes; the others stay the base price's."""
    raw = entry.get("service_tiers", {})
    if not isinstance(raw, dict):
        raise PricingError(f"model {name!r}: service_tiers must be a table of tiers")
    tiers: dict[str, Rates] = {}
    for tier, rates in raw.items():
        where = f"{name}/{tier}"
        if not isinstance(rates, dict) or set(rates) - set(RATE_FIELDS):
            raise PricingError(f"model {where!r}: a tier holds only {list(RATE_FIELDS)}")
        values = [_rate(rates, f, where, getattr(base, f)) for f in RATE_FIELDS]
        tiers[tier] = Rates(*values)
    return tiers


def parse_tool_fees(doc: Mapping[str, object]) -> dict[str, int]:
    """`[tools]`: USD per run of a built-in tool, keyed by its output item type."""
    raw = doc.get("tools", {})
    if not isinstance(raw, dict):
        raise PricingError("[tools] must be a table of per-run prices")
    return {tool: _rate(raw, tool, "[tools]", None) for tool in raw}


def _model(name: str, entry: Mapping[str, object], providers: frozenset[str]) -> ModelPrice:
    unknown = sorted(set(entry) - FIELDS)
    if unknown:
        raise PricingError(f"model {name!r}: unknown field(s) {unknown}")
    provider = entry.get("provider")
    if not one_of(provider, providers):
        raise PricingError(f"model {name!r}: unknown provider {provider!r}")
    kind = entry.get("kind", "chat")
    if not one_of(kind, KINDS):
        raise PricingError(f"model {name!r}: kind must be one of {sorted(KINDS)}")
    encoding = entry.get("encoding", "o200k_base")
    if not one_of(encoding, ENCODINGS):
        raise PricingError(f"model {name!r}: encoding must be one of {sorted(ENCODINGS)}")
    max_out = _max_output(name, entry, kind)
    image = entry.get(
        "image_max_tokens", DEFAULT_IMAGE_TOKENS.get(str(provider), IMAGE_TOKENS_FALLBACK)
    )
    if isinstance(image, bool) or not isinstance(image, int) or image < 0:
        raise PricingError(f"model {name!r}: image_max_tokens must be a whole number")
    input_rate = _rate(entry, "input", name, None)
    return ModelPrice(
        name=name,
        provider=str(provider),
        upstream_model=_upstream(name, entry),
        kind=kind,  # type: ignore[arg-type]
        input_rate=input_rate,
        cached_input_rate=_rate(entry, "cached_input", name, input_rate),
        cache_write_rate=_rate(entry, "cache_write", name, input_rate),
        output_rate=_rate(entry, "output", name, 0 if kind == "embedding" else None),
        max_output_tokens=max_out,
        encoding=str(encoding),
        image_max_tokens=image,
    )


def _with_extras(
    price: ModelPrice, entry: Mapping[str, object], fees: Mapping[str, int]
) -> ModelPrice:
    return replace(price, service_tiers=_tiers(price.name, entry, price.base_rates), tool_fees=fees)


def parse_pricing(doc: Mapping[str, object], providers: frozenset[str]) -> PricingTable:
    """Validate a parsed pricing document; every error names the model and field."""
    raw_models = doc.get("models")
    if not isinstance(raw_models, dict) or not raw_models:
        raise PricingError("pricing table has no [models.*] entries")
    models: dict[str, ModelPrice] = {}
    aliases: dict[str, str] = {}
    fees = parse_tool_fees(doc)
    for name, entry in raw_models.items():
        if not isinstance(entry, dict):
            raise PricingError(f"model {name!r}: must be a table")
        models[name] = _with_extras(_model(name, entry, providers), entry, fees)
        for alias in _aliases(name, entry):
            if alias in aliases or alias in raw_models:
                raise PricingError(f"model {name!r}: alias {alias!r} is defined twice")
            aliases[alias] = name
    return PricingTable(models=models, aliases=aliases)


def load_pricing(path: Path, providers: frozenset[str]) -> PricingTable:
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PricingError(f"cannot read pricing table {path}: {exc}") from exc
    return parse_pricing(doc, providers)
