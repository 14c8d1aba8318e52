"""Prices and debits for people: a model's rates, and the arithmetic of one debit.

Both read a card as the ledger's price_versions table keeps it (`RateCard.to_json`), so a
debit is explained from its own record, whatever the catalogue installed today says.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from billing.metering.usage import Usage
from billing.money.micros import BPS, COST_SCALE, charge, format_usd
from billing.pricing.card import _leaves
from billing.pricing.model import ModelPrice, usage_counts
from billing.pricing.units import BY_PRICE, BY_USAGE, REQUESTS

PER_LABEL = {1_000_000: "1M", 1000: "1k", 3600: "3,600", 1_000_000_000: "1G"}


def unit_label(price_key: str) -> str:
    unit = BY_PRICE[price_key]
    family = unit.get("family") or "units"
    what = {"tokens": "tokens", "durations": "seconds", "tool_calls": "calls"}.get(family, family)
    return f"USD per {PER_LABEL.get(unit.per, str(unit.per))} {what}"


def _rate(price_key: str, rate: int) -> str:
    return f"{format_usd(rate)} {unit_label(price_key)}"


def _band_lines(band: Mapping[str, Any]) -> list[str]:
    head = "base" if band["above"] < 0 else f"prompt over {band['above']:,} input tokens"
    lines = [f"    {head}:"]
    for key, rate in sorted(band["rates"].items()):
        lines.append(f"      {key:<28} {_rate(key, rate)}")
    return lines


def show(price: ModelPrice) -> list[str]:
    """Every rate of every period, segment and service tier, and where it comes from."""
    lines = [
        f"{price.name}  provider {price.provider}  upstream {price.upstream_model}",
        f"  kind {price.kind}  output cap {price.max_output_tokens or 'unknown'}"
        f"  encoding {price.encoding}  source {price.source}",
    ]
    for period in price.periods:
        for minute, cards in zip(period.minute_starts, period.segments, strict=True):
            for tier, card in sorted(cards.items()):
                when = card.meta.get("from") or "always"
                at = (
                    f" from {minute // 60:02d}:{minute % 60:02d} UTC"
                    if len(period.segments) > 1
                    else ""
                )
                lines.append(f"  from {when}{at}, tier {tier or 'default'}: {card.version}")
                for band in card.to_json()["bands"]:  # type: ignore[attr-defined]
                    lines += _band_lines(band)
    return lines


def _band_for(card: Mapping[str, Any], input_tokens: int) -> Mapping[str, Any]:
    chosen: Mapping[str, Any] = card["bands"][0]
    for band in card["bands"][1:]:
        if input_tokens > band["above"]:
            chosen = band
    return chosen


EXACT_COST = "exact provider cost"  # a customer reads "exact cost" (billing/contracts/reseller.py)


@dataclass(frozen=True, slots=True)
class Part:
    """One priced part of a debit: `count` units of `usage_key` at `rate` micros per `per`
    units, `exact` micros (a fraction: the one upward rounding is taken on the sum)."""

    usage_key: str  # "input_tokens", "cache_read_tokens", ...; REQUESTS for a per-call fee
    price_key: str
    count: int
    rate: int
    per: int
    exact: Fraction


def priced_parts(card: Mapping[str, Any], counts: Mapping[str, int]) -> tuple[int, list[Part]]:
    """The band a debit's prompt falls in (-1: the base band) and each priced part of it,
    as the catalogue prices it: a more specific unit's tokens leave its general one."""
    band = _band_for(card, counts.get("input_tokens", 0))
    rates: Mapping[str, int] = band["rates"]
    units = [BY_PRICE[k] for k in rates if BY_PRICE[k].usage_key != REQUESTS]
    parts = []
    for unit in units:
        leaf = sum(
            coef * counts.get(key, 0) for key, coef in _leaves(units)[unit.usage_key].items()
        )
        if leaf:
            rate = rates[unit.price_key]
            parts.append(
                Part(unit.usage_key, unit.price_key, leaf, rate, unit.per,
                     Fraction(leaf * rate, unit.per))
            )  # fmt: skip
    if "requests_kcount" in rates:
        fee = rates["requests_kcount"]
        parts.append(Part(REQUESTS, "requests_kcount", 1, fee, 1000, Fraction(fee, 1000)))
    return band["above"], parts


def explain(card: Mapping[str, Any], counts: Mapping[str, int], markup_bps: int = 0) -> list[str]:
    """One debit's arithmetic: each priced part's count times its rate, the exact sum, the
    one upward rounding, the markup."""
    above, parts = priced_parts(card, counts)
    lines = [f"card {card.get('provider')}/{card.get('model')} ({card.get('source')})"]
    if above >= 0:
        prompt = counts.get("input_tokens", 0)
        lines.append(f"  the prompt's {prompt:,} input tokens exceed {above:,}")
    for part in parts:
        name = "per call" if part.usage_key == REQUESTS else part.usage_key
        lines.append(_line(name, part.count, part.price_key, part.rate, part.exact))
    exact = sum((part.exact for part in parts), Fraction(0))
    numerator = int(exact * COST_SCALE)
    lines.append(f"  {EXACT_COST} {_micros(exact)}, rounded up once: {charge(numerator):,} micros")
    if markup_bps:
        lines.append(
            f"  markup {markup_bps} bps: {_micros(exact * (BPS + markup_bps) / BPS)}, "
            f"charged {charge(numerator, markup_bps):,} micros"
        )
    return lines


def _line(name: str, count: int, key: str, rate: int, part: Fraction) -> str:
    return f"  {name:<26} {count:>12,} x {_rate(key, rate)} = {_micros(part)}"


def _micros(value: Fraction) -> str:
    """An exact amount of micros: whole, then any fraction of one as a fraction."""
    whole, rest = divmod(value.numerator, value.denominator)
    tail = f" {rest}/{value.denominator}" if rest else ""
    return f"{whole:,}{tail} micros"


Cards = Mapping[str, Mapping[str, Mapping[str, Any]]]  # model -> tier -> card (to_json)


def diff(served: Cards, installed: Cards) -> list[str]:
    """What changes, model by model, between the cards a gateway serves and those the
    installed catalogue and pricing.toml would serve."""
    lines = [f"+ {name} (newly served)" for name in sorted(installed.keys() - served.keys())]
    lines += [f"- {name} (no longer served)" for name in sorted(served.keys() - installed.keys())]
    for name in sorted(served.keys() & installed.keys()):
        for tier in sorted(served[name].keys() | installed[name].keys()):
            old, new = served[name].get(tier), installed[name].get(tier)
            lines += _card_diff(f"{name} [{tier or 'default'}]", old, new)
    return lines


def _rates_of(card: Mapping[str, Any] | None) -> dict[tuple[int, str], int]:
    bands = card["bands"] if card else []
    return {(b["above"], k): r for b in bands for k, r in b["rates"].items()}


def _card_diff(
    label: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> list[str]:
    before, after = _rates_of(old), _rates_of(new)
    lines = []
    for above, key in sorted(before.keys() | after.keys()):
        was, now = before.get((above, key)), after.get((above, key))
        if was == now:
            continue
        band = "" if above < 0 else f" over {above:,} input tokens"
        shown = [("none" if r is None else format_usd(r)) for r in (was, now)]
        lines.append(f"~ {label} {key}{band}: {shown[0]} -> {shown[1]} {unit_label(key)}")
    return lines


def usage_detail(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """A ledger row's `usage_detail`, a JSON object (asyncpg may hand it over as text)."""
    detail = row["usage_detail"] or {}
    return json.loads(detail) if isinstance(detail, str) else detail


def row_counts(row: Mapping[str, Any]) -> dict[str, int]:
    """A ledger debit's usage as the catalogue's usage keys: its token columns and the
    priced dimensions its `usage_detail` names."""
    detail = usage_detail(row)
    extra = tuple((k, v) for k, v in sorted(detail.items()) if k in BY_USAGE and isinstance(v, int))
    usage = Usage(
        input_tokens=row["input_tokens"] or 0,
        cached_input_tokens=row["cached_input_tokens"] or 0,
        cache_write_tokens=row["cache_write_tokens"] or 0,
        output_tokens=row["output_tokens"] or 0,
        reasoning_tokens=row["reasoning_tokens"] or 0,
        extra=extra,
    )
    return usage_counts(usage)


def explain_row(row: Mapping[str, Any], card: Mapping[str, Any]) -> list[str]:
    """A ledger debit re-derived from its own row and the card its price_version names: the
    card's arithmetic over the row's usage, then what the ledger debited (the CLI's
    `prices explain` and the dashboard's request page print these lines)."""
    detail = usage_detail(row)
    charged = -row["amount_micros"]
    provider = row["provider_cost_micros"]
    lines = [
        f"request {row['request_id']}  model {row['model']}  price_version {row['price_version']}"
    ]
    lines += explain(card, row_counts(row))
    tier = detail.get("service_tier")
    if tier:
        lines.append(f"  service tier {tier}")
    cost = charged if provider is None else provider
    lines.append(f"  provider cost {cost:,} micros, debited {charged:,} micros")
    return lines
