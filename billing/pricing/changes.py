"""A price change: operator rates for some models, in force from a future time, reviewed first.

A change is a document in pricing.toml's words, `{"models": {"NAME": {"input": "0.20",
"output": "0.80"}}}`: each model it names takes those rates from `effective_ms` on, as a new
period of its price (billing/pricing/model.py), so a call is billed by the card in force at
its admission (the reservation's clock) whichever process settles it. A model the gateway
does not serve yet also names its route (`provider`, `max_output_tokens`, ...) and is served
from the effective time, priced by the change alone.

The preview re-prices debits (ledger rows) under the cards before and after the change, at
the account's markup now: what the same usage would be charged once the change is in force.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from billing.metering.usage import REASONING_APART, Usage
from billing.money.micros import charge
from billing.pricing.card import RateCard, Tiered, compile_card
from billing.pricing.errors import PricingError
from billing.pricing.explain import diff as cards_diff
from billing.pricing.explain import usage_detail
from billing.pricing.model import ModelPrice, Period
from billing.pricing.operator import PRICE_PARTS, RATE_FIELDS, Route, operator_periods, read_route

Lookup = Callable[[str], ModelPrice | None]  # a served model by name (PricingTable.lookup)
# Tenths of a percent: a preview's largest move per account, as an operator confirms it.
PERMILLE = 1000


@dataclass(frozen=True, slots=True)
class Scheduled:
    """One model's price with a change in force from `effective_ms`; `new` when the gateway
    does not serve the model before then."""

    name: str
    price: ModelPrice
    effective_ms: int
    new: bool


def read_document(raw: object) -> dict[str, dict[str, Any]]:
    """The change's models, each a table of pricing.toml fields; PricingError says why not."""
    models = raw.get("models") if isinstance(raw, dict) and raw.keys() == {"models"} else None
    if not isinstance(models, dict) or not models:
        raise PricingError('a price change is {"models": {"NAME": {rate fields}}}')
    for name, entry in models.items():
        if not isinstance(entry, dict):
            raise PricingError(f"model {name!r}: must be a table")
        if "prices" in entry:
            raise PricingError(f"model {name!r}: a change has one start, its effective time")
    return models


def schedule(
    lookup: Lookup,
    document: Mapping[str, Mapping[str, Any]],
    effective_ms: int,
    source: str,
    providers: frozenset[str],
) -> list[Scheduled]:
    """Every model of the change with its new period from `effective_ms` (PricingError names
    the model and field that cannot be priced)."""
    out = []
    for name, entry in sorted(document.items()):
        served = lookup(name)
        if served is None:
            out.append(_new_model(name, entry, effective_ms, source, providers))
        else:
            out.append(_changed(name, served, entry, effective_ms, source))
    return out


def _changed(
    name: str, served: ModelPrice, entry: Mapping[str, Any], effective_ms: int, source: str
) -> Scheduled:
    if served.name != name:
        raise PricingError(f"model {name!r}: name it as it is billed, {served.name!r}")
    if served.deployments:
        raise PricingError(f"model {name!r}: served by several upstreams; price it in pricing.toml")
    extra = sorted(set(entry) - RATE_FIELDS - PRICE_PARTS)
    if extra:
        raise PricingError(f"model {name!r}: a served model's change holds rates only, not {extra}")
    route = Route(
        name, served.provider, served.kind, served.upstream_model,
        served.max_output_tokens, served.encoding, served.image_max_tokens,
        (), None, True,
    )  # fmt: skip
    cards = _cards(route, entry, effective_ms, source)
    kept = tuple(p for p in served.periods if p.start_ms < effective_ms)
    periods = (*kept, Period(effective_ms, (0,), (cards,)))
    return Scheduled(name, replace(served, periods=periods), effective_ms, False)


def _new_model(
    name: str, entry: Mapping[str, Any], effective_ms: int, source: str, providers: frozenset[str]
) -> Scheduled:
    route = read_route(name, entry, providers)
    if route.catalogue is not None or route.max_output_tokens is None:
        raise PricingError(f"model {name!r}: a new model names its rates and max_output_tokens")
    cards = _cards(route, entry, effective_ms, source)
    price = ModelPrice(
        name=name, provider=route.provider, upstream_model=route.upstream, kind=route.kind,
        max_output_tokens=route.max_output_tokens, encoding=route.encoding,
        image_max_tokens=route.image_max_tokens, periods=(Period(0, (0,), (cards,)),),
        source=source, reasoning_apart=route.provider in REASONING_APART,
    )  # fmt: skip
    return Scheduled(name, price, effective_ms, True)


def _cards(
    route: Route, entry: Mapping[str, Any], effective_ms: int, source: str
) -> dict[str, RateCard]:
    """The change's cards by service tier, marked with their source and start."""
    rates = {k: v for k, v in entry.items() if k in RATE_FIELDS or k in PRICE_PARTS}
    (period,) = operator_periods(route, rates, {})
    start = datetime.fromtimestamp(effective_ms / 1000, UTC).isoformat()
    meta = {"model": route.name, "provider": route.provider, "source": source, "from": start}
    return {
        tier: compile_card(_tiered(card), {**meta, "tier": tier})
        for tier, card in period.segments[0].items()
    }


def _tiered(card: RateCard) -> dict[str, Tiered]:
    base, *tiers = card.bands
    return {k: (r, tuple((b.above, b.rates[k]) for b in tiers)) for k, r in base.rates.items()}


def cards_after(scheduled: Iterable[Scheduled]) -> dict[str, dict[str, Mapping[str, object]]]:
    """Each changed model's cards once the change is in force: `diff`'s right side."""
    out: dict[str, dict[str, Mapping[str, object]]] = {}
    for s in scheduled:
        price = s.price
        tiers = ["", *sorted(price.tiers(s.effective_ms))]
        out[s.name] = {t: price.card(s.effective_ms, t).to_json() for t in tiers}
    return out


def change_diff(lookup: Lookup, scheduled: list[Scheduled]) -> list[str]:
    """What the change moves, model by model and price dimension (`prices diff`'s lines)."""
    at = scheduled[0].effective_ms if scheduled else None
    before = {
        s.name: {t: p.card(at, t).to_json() for t in ["", *sorted(p.tiers(at))]}
        for s in scheduled
        if (p := lookup(s.name)) is not None
    }
    return cards_diff(before, cards_after(scheduled))


@dataclass(frozen=True, slots=True)
class AccountPreview:
    account_id: str
    calls: int
    before_micros: int  # the usage at the cards in force without the change
    after_micros: int  # the same usage at the change's cards

    @property
    def move_permille(self) -> int:
        """The change in spend, in tenths of a percent of the spend before, rounded up."""
        moved = abs(self.after_micros - self.before_micros)
        return -(-moved * PERMILLE // max(self.before_micros, 1))

    def to_json(self) -> dict[str, object]:
        return {
            "account_id": self.account_id,
            "calls": self.calls,
            "before_micros": self.before_micros,
            "after_micros": self.after_micros,
            "change_micros": self.after_micros - self.before_micros,
            "change_percent": percent(self.move_permille, self.after_micros < self.before_micros),
        }


def percent(permille: int, down: bool = False) -> str:
    """Tenths of a percent as an operator types them: `12.5%`, `-3.0%`."""
    return f"{'-' if down and permille else ''}{permille // 10}.{permille % 10}%"


def row_usage(row: Mapping[str, Any]) -> Usage:
    """A debit's usage as its settlement priced it: its token columns, the priced parts
    and the service tier its `usage_detail` names."""
    detail = usage_detail(row)
    tier = detail.get("service_tier")
    extra = tuple(
        (k, v)
        for k, v in sorted(detail.items())
        if isinstance(v, int) and not isinstance(v, bool) and k != "context_above"
    )
    return Usage(
        input_tokens=row["input_tokens"] or 0,
        cached_input_tokens=row["cached_input_tokens"] or 0,
        cache_write_tokens=row["cache_write_tokens"] or 0,
        output_tokens=row["output_tokens"] or 0,
        reasoning_tokens=row["reasoning_tokens"] or 0,
        service_tier=tier if isinstance(tier, str) else "",
        extra=extra,
    )


def preview(
    lookup: Lookup,
    scheduled: list[Scheduled],
    rows: Iterable[Mapping[str, Any]],
    markups: Mapping[str, int],
) -> list[AccountPreview]:
    """Each account's debits of the changed models (a row of `calls` identical ones, or
    one) re-priced before and after the change,
    at its markup now (`markups`, by account): what it would be charged for the same usage
    on either side of the effective time. A model the gateway does not serve yet has no
    usage to re-price (its calls were refused)."""
    by_name = {s.name: s for s in scheduled}
    totals: dict[str, list[int]] = {}
    for row in rows:
        change = by_name.get(row["model"])
        if change is None:
            continue
        usage, at = row_usage(row), change.effective_ms
        markup = markups.get(row["account_id"], 0)
        old = lookup(change.name)
        before = 0 if old is None else charge(old.price(usage, at - 1).numerator, markup)
        after = charge(change.price.price(usage, at).numerator, markup)
        calls = row.get("calls", 1)
        sums = totals.setdefault(row["account_id"], [0, 0, 0])
        sums[0] += calls
        sums[1] += before * calls
        sums[2] += after * calls
    return [AccountPreview(a, *totals[a]) for a in sorted(totals)]


def largest_move(accounts: Iterable[AccountPreview]) -> int:
    """The largest move of any account's spend, in tenths of a percent (0: none)."""
    return max((a.move_permille for a in accounts), default=0)
