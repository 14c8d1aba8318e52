"""The maintained price catalogue (`genai-prices`, shipped in its package) compiled to rate cards.

Compiled once at start-up for the providers the gateway serves. Each model's prices are
resolved by the catalogue's own rules (`ModelInfo.get_prices`) at every date a price or a
tier variant starts and in every time-of-day segment, so dated names, price history,
context-length tiers and service tiers mean here what they mean there; every rate must be
exact in micro-USD per its unit, or the load fails naming it. Names are matched by the
catalogue's match clauses, compiled to plain predicates, so nothing from the catalogue runs
per request beyond a lookup.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from importlib.metadata import version
from typing import Any, Literal

from genai_prices import data as catalogue_data
from genai_prices import types as gp

from billing.metering.realtime import DEFAULT_OUTPUT_CAP
from billing.pricing.card import Tiered, compile_card
from billing.pricing.errors import PricingError
from billing.pricing.model import ModelKind, ModelPrice, Period
from billing.pricing.operator import DEFAULT_IMAGE_TOKENS, IMAGE_TOKENS_FALLBACK
from billing.pricing.output_caps import output_cap

Matcher = Callable[[str], bool]
CATALOGUE = "genai-prices"
VERSION = f"{CATALOGUE} {version('genai-prices')}"
EPOCH = date(1970, 1, 1)
# OpenAI models counted with cl100k_base; every other OpenAI model uses o200k_base, and other
# providers' models are counted with cl100k_base, the documented approximation.
CL100K_OPENAI = ("gpt-3.5", "gpt-4-", "text-embedding", "davinci", "babbage")
# Models answering on /v1/images: their names say so (their prices look like chat's).
IMAGE_MODELS = ("gpt-image", "chatgpt-image", "dall-e")
_COMPACT_DATE = re.compile(r"-(20\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?=-|:|$)")


@dataclass(frozen=True, slots=True)
class Entry:
    """One catalogue model, compiled: how its names are matched and its prices."""

    provider: str
    model_id: str
    matches: Matcher
    price: ModelPrice


def matcher(clause: Any) -> Matcher:
    """The catalogue's match clause as a predicate on a lower-cased model name."""
    if isinstance(clause, gp.ClauseEquals):
        value = clause.equals.lower()
        return lambda name: name == value
    if isinstance(clause, gp.ClauseStartsWith):
        prefix = clause.starts_with.lower()
        return lambda name: name.startswith(prefix)
    if isinstance(clause, gp.ClauseEndsWith):
        suffix = clause.ends_with.lower()
        return lambda name: name.endswith(suffix)
    if isinstance(clause, gp.ClauseContains):
        part = clause.contains.lower()
        return lambda name: part in name
    if isinstance(clause, gp.ClauseRegex):
        pattern = re.compile(clause.regex)
        return lambda name: pattern.search(name) is not None
    if isinstance(clause, gp.ClauseOr):
        anyof = [matcher(c) for c in clause.or_]
        return lambda name: any(m(name) for m in anyof)
    if isinstance(clause, gp.ClauseAnd):
        allof = [matcher(c) for c in clause.and_]
        return lambda name: all(m(name) for m in allof)
    raise PricingError(f"{CATALOGUE}: unknown match clause {type(clause).__name__}")


def dashed_date(name: str) -> str:
    """`gpt-5.2-20251211` as `gpt-5.2-2025-12-11`, the form the catalogue's names use."""
    return _COMPACT_DATE.sub(lambda m: f"-{m[1]}-{m[2]}-{m[3]}", name)


def _micros(value: Decimal, where: str) -> int:
    units = value * 1_000_000
    if units != units.to_integral_value() or units < 0:
        raise PricingError(
            f"{VERSION}: {where} = {value} is not a whole number of micro-USD per unit; "
            "exclude the model in pricing.toml ([catalogue] exclude) or price it there"
        )
    return int(units)


def _rates(prices: gp.ModelPrice, where: str) -> dict[str, Tiered]:
    rates: dict[str, Tiered] = {}
    for key, value in prices.__dict__.items():
        if key.startswith("_") or value is None:
            continue
        at = f"{where} {key}"
        if isinstance(value, gp.TieredPrices):
            tiers = tuple((t.start, _micros(t.price, at)) for t in value.tiers)
            rates[key] = (_micros(value.base, at), tiers)
        else:
            rates[key] = (_micros(value, at), ())
    return rates


def _constraints(model: gp.ModelInfo) -> Iterable[object]:
    if isinstance(model.prices, list):
        yield from (c.constraint for c in model.prices)
    yield from (v.constraint for v in model.price_variants or ())


def _days(model: gp.ModelInfo) -> list[date]:
    starts = {c.start_date for c in _constraints(model) if isinstance(c, gp.StartDateConstraint)}
    return [EPOCH, *sorted(d for d in starts if d > EPOCH)]


def _minute(t: time, where: str) -> int:
    utc = datetime.combine(EPOCH, t, tzinfo=t.tzinfo or UTC).astimezone(UTC)
    if utc.second or utc.microsecond:
        raise PricingError(f"{VERSION}: {where}: a time of day off the minute ({t})")
    return utc.hour * 60 + utc.minute


def _minutes(model: gp.ModelInfo, where: str) -> list[int]:
    cuts = {0}
    for c in _constraints(model):
        if isinstance(c, gp.TimeOfDateConstraint):
            cuts |= {_minute(c.start_time, where), _minute(c.end_time, where)}
    return sorted(cuts)


def _tiers(model: gp.ModelInfo) -> dict[str, Mapping[str, str] | None]:
    """Service tiers (and the batch rate) by the name a response or a batch reports."""
    tiers: dict[str, Mapping[str, str] | None] = {"": None}
    for variant in model.price_variants or ():
        if variant.when.keys() == {"service_tier"}:
            tiers[variant.when["service_tier"]] = variant.when
        elif variant.when == {"processing": "batch"}:
            tiers["batch"] = variant.when
    return tiers


def _periods(provider: str, model: gp.ModelInfo) -> tuple[Period, ...]:
    where = f"{provider}/{model.id}"
    minutes = _minutes(model, where)
    periods = []
    for day in _days(model):
        segments = []
        for minute in minutes:
            at = datetime.combine(day, time(0), tzinfo=UTC) + timedelta(minutes=minute)
            cards = {}
            for tier, context in _tiers(model).items():
                prices = model.get_prices(at, context)
                meta = {
                    "model": model.id, "provider": provider, "source": VERSION,
                    "from": None if day == EPOCH else day.isoformat(), "tier": tier,
                    "from_minute": minute if len(minutes) > 1 else None,
                }  # fmt: skip
                cards[tier] = compile_card(_rates(prices, where), meta)
            segments.append(cards)
        start = 0 if day == EPOCH else int(datetime.combine(day, time(0), UTC).timestamp() * 1000)
        periods.append(Period(start, tuple(minutes), tuple(segments)))
    return tuple(periods)


def _kind(model: gp.ModelInfo, prices: gp.ModelPrice) -> ModelKind | None:
    """What the gateway serves it as: by the endpoint its name says it answers on
    (moderation, images, transcription, speech, realtime when priced per token; live models
    are not served),
    else embeddings (input only) or chat (token-priced)."""
    named = _named_kind(model.id)
    if named == "realtime" and prices.input_mtok is None:
        return None  # a Realtime model priced per audio hour: the relay meters tokens
    if named is not None:
        return None if named == "unserved" else named
    if prices.input_mtok is None:
        return None
    if "embed" in model.id and prices.output_mtok in (None, Decimal(0)):
        return "embedding"
    return "chat" if prices.output_mtok is not None else None


def _named_kind(model_id: str) -> ModelKind | Literal["unserved"] | None:
    if "live" in model_id:
        return "unserved"
    if "realtime" in model_id:
        return "realtime"
    if "moderation" in model_id:
        return "moderation"
    if model_id.startswith(IMAGE_MODELS):
        return "image"
    if "transcribe" in model_id or model_id.startswith("whisper"):
        return "transcription"
    if "tts" in model_id:
        return "speech"
    return None


def _encoding(provider: str, model_id: str) -> str:
    if provider == "openai" and not model_id.startswith(CL100K_OPENAI) and model_id != "gpt-4":
        return "o200k_base"
    return "cl100k_base"


def _entry(provider: str, model: gp.ModelInfo) -> Entry | None:
    now = datetime.now(UTC)
    kind = _kind(model, model.get_prices(now))
    if kind is None:
        return None
    price = ModelPrice(
        name=model.id,
        provider=provider,
        upstream_model=model.id,
        kind=kind,
        max_output_tokens=_output_cap(kind, model.id),
        encoding=_encoding(provider, model.id),
        image_max_tokens=DEFAULT_IMAGE_TOKENS.get(provider, IMAGE_TOKENS_FALLBACK),
        periods=_periods(provider, model),
        source=VERSION,
    )
    return Entry(provider, model.id, matcher(model.match), price)


def _output_cap(kind: ModelKind, model_id: str) -> int:
    if kind == "realtime":
        return output_cap(model_id) or DEFAULT_OUTPUT_CAP
    return output_cap(model_id) if kind in ("chat", "completion") else 0


def compile_catalogue(
    providers: Iterable[str] | Mapping[str, str], exclude: frozenset[str]
) -> list[Entry]:
    """Every served model of `providers`, in their order (the first provider's match wins);
    a mapping serves a catalogue provider's models (its values) under another name (its keys)."""
    pairs = providers.items() if isinstance(providers, Mapping) else ((p, p) for p in providers)
    entries = []
    for provider, source in pairs:
        for index, model in enumerate(_models(source)):
            if model.id in exclude or f"{provider}/{model.id}" in exclude:
                continue
            entry = _compiled(provider, source, index)
            if entry is not None:
                entries.append(entry)
    return entries


def _models(source: str) -> tuple[gp.ModelInfo, ...]:
    found = next((p for p in catalogue_data.providers if p.id == source), None)
    return tuple(found.models) if found else ()


@cache
def _compiled(provider: str, source: str, index: int) -> Entry | None:
    """The `index`th model of catalogue provider `source`, served as `provider`: compiled once
    per process (the catalogue is the installed package's data; a process that builds many
    apps, as the test suite's does, would otherwise compile it for each). Its kind is read
    from the prices in force at the first compile; an excluded model is never compiled, so a
    price it cannot state exactly does not fail the load. An error is raised again each time."""
    return _entry(provider, _models(source)[index])
