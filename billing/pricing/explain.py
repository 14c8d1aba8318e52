"""Prices and debits for people: a model's rates, and the arithmetic of one debit.

Both read a card as the ledger's price_versions table keeps it (`RateCard.to_json`), so a
debit is explained from its own record, whatever the catalogue installed today says.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from billing.money import BPS, COST_SCALE, charge, format_usd
from billing.pricing.card import _leaves
from billing.pricing.model import ModelPrice, usage_counts
from billing.pricing.units import BY_PRICE, BY_USAGE, REQUESTS
from billing.usage import Usage

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


EXACT_COST = "exact provider cost"  # a customer reads "exact cost" (billing/reseller.py)


def explain(card: Mapping[str, Any], counts: Mapping[str, int], markup_bps: int = 0) -> list[str]:
    """One debit's arithmetic: each priced part's count times its rate, the exact sum, the
    one upward rounding, the markup."""
    band = _band_for(card, counts.get("input_tokens", 0))
    rates: Mapping[str, int] = band["rates"]
    units = [BY_PRICE[k] for k in rates if BY_PRICE[k].usage_key != REQUESTS]
    lines = [f"card {card.get('provider')}/{card.get('model')} ({card.get('source')})"]
    if band["above"] >= 0:
        prompt = counts.get("input_tokens", 0)
        lines.append(f"  the prompt's {prompt:,} input tokens exceed {band['above']:,}")
    exact = Fraction(0)
    for unit in units:
        leaf = sum(
            coef * counts.get(key, 0) for key, coef in _leaves(units)[unit.usage_key].items()
        )
        if not leaf:
            continue
        part = Fraction(leaf * rates[unit.price_key], unit.per)
        exact += part
        lines.append(_line(unit.usage_key, leaf, unit.price_key, rates, part))
    if "requests_kcount" in rates:
        part = Fraction(rates["requests_kcount"], 1000)
        exact += part
        lines.append(_line("per call", 1, "requests_kcount", rates, part))
    numerator = int(exact * COST_SCALE)
    lines.append(f"  {EXACT_COST} {_micros(exact)}, rounded up once: {charge(numerator):,} micros")
    if markup_bps:
        lines.append(
            f"  markup {markup_bps} bps: {_micros(exact * (BPS + markup_bps) / BPS)}, "
            f"charged {charge(numerator, markup_bps):,} micros"
        )
    return lines


def _line(name: str, count: int, key: str, rates: Mapping[str, int], part: Fraction) -> str:
    return f"  {name:<26} {count:>12,} x {_rate(key, rates[key])} = {_micros(part)}"


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


def explain_row(row: Mapping[str, Any], card: Mapping[str, Any]) -> list[str]:
    """A ledger debit re-derived from its own row and the card its price_version names: the
    card's arithmetic over the row's usage, then what the ledger debited (the CLI's
    `prices explain` and the dashboard's request page print these lines)."""
    detail = row["usage_detail"] or {}
    if isinstance(detail, str):
        detail = json.loads(detail)
    extra = tuple((k, v) for k, v in sorted(detail.items()) if k in BY_USAGE and isinstance(v, int))
    usage = Usage(
        input_tokens=row["input_tokens"] or 0,
        cached_input_tokens=row["cached_input_tokens"] or 0,
        cache_write_tokens=row["cache_write_tokens"] or 0,
        output_tokens=row["output_tokens"] or 0,
        reasoning_tokens=row["reasoning_tokens"] or 0,
        extra=extra,
    )
    charged = -row["amount_micros"]
    provider = row["provider_cost_micros"]
    lines = [
        f"request {row['request_id']}  model {row['model']}  price_version {row['price_version']}"
    ]
    lines += explain(card, usage_counts(usage))
    tier = detail.get("service_tier")
    if tier:
        lines.append(f"  service tier {tier}")
    cost = charged if provider is None else provider
    lines.append(f"  provider cost {cost:,} micros, debited {charged:,} micros")
    return lines
