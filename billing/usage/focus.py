"""The ledger in FOCUS 1.2 form (the FinOps Foundation's cost and usage format), with no I/O.

Every ledger entry of the period becomes one or more rows whose `BilledCost` is what the
entry took from the account's balance (`-amount_micros`), so a month's rows add up to its
statement: their sum is the opening balance less the closing one, and each charge category
is a statement section (Usage the usage, Credit the credits, Adjustment the expiries,
refunds and adjustments). A debit priced by a rate card is split into one row per priced
part (SKU: model and token kind), each a whole number of micros: the debit is divided over
its parts' exact costs by the largest remainder, so the rows of a debit add up to it
exactly. Costs are USD written with six decimals, exact; a unit price per token is exact
too (a rate of micros per `per` units has at most 15 decimals of USD per unit), but the
per-hour rates of durations have no finite decimal and are written to 18 places.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

from billing.money.micros import MICROS_PER_USD, format_usd
from billing.pricing.explain import Part, priced_parts
from billing.pricing.units import REQUESTS
from billing.usage.focus_columns import CURRENCY, UNIT_PRICE_PLACES

CATEGORY = {
    "debit": "Usage",
    "void": "Usage",
    "credit": "Credit",
    "expire": "Adjustment",
    "refund": "Adjustment",
    "adjustment": "Adjustment",
}
_DESCRIPTION = {
    "credit": "Credit added to the balance",
    "expire": "Credit grant expired",
    "refund": "Payment refunded",
    "adjustment": "Balance adjusted by the operator",
    "void": "Usage voided",
}
# A usage key's unit as FOCUS writes units (plural, title case); tokens by default.
_UNITS = {REQUESTS: "Requests", "images": "Images", "characters": "Characters"}
_PUBLISHERS = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "google": "Google",
    "azure": "Microsoft",
    "aws": "Amazon Web Services",
    "bedrock": "Amazon Web Services",
    "mistral": "Mistral AI",
    "deepseek": "DeepSeek",
}


@dataclass(frozen=True, slots=True)
class Issuer:
    """Who bills the account: the operator running the gateway (ProviderName and
    InvoiceIssuerName)."""

    name: str = "Meterway"


@dataclass(frozen=True, slots=True)
class Period:
    """The billing period the rows belong to: a month, [start, end) in UTC."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger entry and what it concerns, as the store reads it. `counts` are the
    debit's usage as the catalogue's usage keys; `card` the rate card its price_version
    names (None: not priced by a card, or no longer known)."""

    entry_id: int
    kind: str
    occurred_at: datetime
    amount_micros: int
    account_id: str
    account_name: str
    request_id: str = ""
    model: str = ""
    provider: str = ""
    meter: str = ""
    quantity: int = 0
    service: str = ""
    grant_kind: str = ""
    price_version: str = ""
    provider_cost_micros: int | None = None
    key_id: str = ""
    key_name: str = ""
    team_id: str = ""
    team_name: str = ""
    end_user: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)
    card: Mapping[str, Any] | None = None


Row = dict[str, str | None]


def usd(micros: int) -> str:
    """Micros as USD with six decimals, exact."""
    return format_usd(micros)


def quantity(count: int) -> str:
    """A whole quantity written as a decimal ("1000.0"): FOCUS types quantities Decimal,
    and a CSV reader takes "1000" for an integer."""
    return f"{count}.0"


def decimal_text(value: Fraction, places: int = UNIT_PRICE_PLACES) -> str:
    """A fraction as a plain decimal: exact when it has a finite decimal expansion within
    `places`, else rounded half-even to `places` (only per-hour rates come to that)."""
    with localcontext() as ctx:
        ctx.prec = 60
        exact = Decimal(value.numerator) / Decimal(value.denominator)
        shown = exact.quantize(Decimal(1).scaleb(-places))
    text = format(shown.normalize(), "f")
    return "0" if text in ("-0", "") else text


def allocate(total: int, weights: Sequence[Fraction]) -> list[int]:
    """`total` micros divided over `weights` in proportion, in whole micros adding up to
    `total` exactly: each part's floor, then the micros left one each to the parts with the
    largest remainders (the earliest first on a tie). No weight at all: all on the first."""
    whole = sum(weights, Fraction(0))
    if not weights:
        return []
    if whole <= 0:
        return [total] + [0] * (len(weights) - 1)
    sign, size = (-1 if total < 0 else 1), abs(total)
    shares = [w * size / whole for w in weights]
    floors = [s.numerator // s.denominator for s in shares]
    left = size - sum(floors)
    order = sorted(range(len(shares)), key=lambda i: (-(shares[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return [sign * f for f in floors]


def invoice_id(account_id: str, period: Period) -> str:
    """The period's statement stands for its invoice: `ACCOUNT/YYYY-MM`."""
    return f"{account_id}/{period.start:%Y-%m}"


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _unit(usage_key: str) -> str:
    for family, name in _UNITS.items():
        if usage_key == family or usage_key.startswith(family):
            return name
    return "Seconds" if usage_key.endswith("seconds") else "Tokens"


def _json(value: Mapping[str, object]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _tags(entry: Entry) -> str:
    tags = {f"meterway/{k}": v for k, v in (("team", entry.team_name), ("key", entry.key_name),
                                             ("end_user", entry.end_user)) if v}  # fmt: skip
    tags.update(entry.tags)
    return _json(tags)


def _publisher(entry: Entry, issuer: Issuer) -> str:
    if entry.provider:
        return _PUBLISHERS.get(entry.provider.lower(), entry.provider)
    return issuer.name


def _common(entry: Entry, period: Period, issuer: Issuer) -> Row:
    hour = entry.occurred_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return {
        "BillingAccountId": entry.account_id,
        "BillingAccountName": entry.account_name,
        "BillingCurrency": CURRENCY,
        "BillingPeriodStart": _stamp(period.start),
        "BillingPeriodEnd": _stamp(period.end),
        "ChargeCategory": CATEGORY[entry.kind],
        "ChargeClass": None,
        "CommitmentDiscountStatus": None,  # no commitments: the validator's SQL reads it
        "ChargeFrequency": "Usage-Based" if entry.kind in ("debit", "void") else "One-Time",
        # FOCUS: [start, end) of the charge's effective period: the UTC hour it falls in.
        "ChargePeriodStart": _stamp(hour),
        "ChargePeriodEnd": _stamp(hour + timedelta(hours=1)),
        "InvoiceId": invoice_id(entry.account_id, period),
        "InvoiceIssuerName": issuer.name,
        "PricingCurrency": CURRENCY,
        "ProviderName": issuer.name,
        "PublisherName": _publisher(entry, issuer),
        "ServiceCategory": "AI and Machine Learning",
        "ServiceSubcategory": "Generative AI",
        "ServiceName": entry.service or "LLM Gateway",
        "Tags": _tags(entry),
        "x_LedgerEntryId": str(entry.entry_id),
        "x_LedgerKind": entry.kind,
        "x_RequestId": entry.request_id or None,
        "x_Model": entry.model or None,
        "x_PriceVersion": entry.price_version or None,
        "x_GrantKind": entry.grant_kind or None,
        "x_KeyId": entry.key_id or None,
        "x_KeyName": entry.key_name or None,
        "x_TeamId": entry.team_id or None,
        "x_TeamName": entry.team_name or None,
        "x_EndUser": entry.end_user or None,
    }


def _costs(billed: int, listed: int, provider: int | None) -> Row:
    return {
        "BilledCost": usd(billed),
        "EffectiveCost": usd(billed),
        "ContractedCost": usd(billed),
        "PricingCurrencyEffectiveCost": usd(billed),
        "ListCost": usd(listed),
        "x_ProviderCost": None if provider is None else usd(provider),
    }


def _no_sku(entry: Entry) -> Row:
    return {
        "ConsumedQuantity": None,
        "ConsumedUnit": None,
        "ListUnitPrice": None,
        "PricingCurrencyContractedUnitPrice": None,
        "PricingCurrencyListUnitPrice": None,
        "PricingQuantity": None,
        "PricingUnit": None,
        "SkuId": None,
        "SkuMeter": None,
        "SkuPriceDetails": None,
        "SkuPriceId": None,
    }


def _whole_row(entry: Entry, period: Period, issuer: Issuer) -> Row:
    """An entry not split by a rate card: a credit, an expiry, a refund, an adjustment, a
    void, a metered debit, or a debit whose card is gone."""
    billed = -entry.amount_micros
    provider = entry.provider_cost_micros
    listed = billed if provider is None else provider
    row = _common(entry, period, issuer) | _costs(billed, listed, provider)
    row |= _no_sku(entry)
    if entry.kind == "debit":
        row |= _metered(entry)
    else:
        what = _DESCRIPTION[entry.kind]
        row["ChargeDescription"] = f"{what} ({entry.grant_kind})" if entry.grant_kind else what
    return row


def _metered(entry: Entry) -> Row:
    name = entry.meter or entry.model or "usage"
    count = quantity(entry.quantity or 1)
    unit = entry.meter.replace("_", " ").title() if entry.meter else "Requests"
    return {
        "ChargeDescription": f"{entry.quantity or 1} {name}",
        "ConsumedQuantity": count,
        "ConsumedUnit": unit,
        "PricingQuantity": count,
        "PricingUnit": unit,
        "SkuId": f"meter/{entry.meter}" if entry.meter else entry.model or None,
        "SkuMeter": name,
        "SkuPriceId": None,
    }


def _part_row(entry: Entry, part: Part, billed: int, listed: int) -> Row:
    unit = _unit(part.usage_key)
    unit_price = decimal_text(Fraction(part.rate, part.per * MICROS_PER_USD))
    return {
        "ChargeDescription": f"{part.count:,} {part.usage_key} of {entry.model}",
        "ConsumedQuantity": quantity(part.count),
        "ConsumedUnit": unit,
        "PricingQuantity": quantity(part.count),
        "PricingUnit": unit,
        "ListUnitPrice": unit_price,
        "PricingCurrencyListUnitPrice": unit_price,
        "PricingCurrencyContractedUnitPrice": None,
        "SkuId": f"{entry.model}/{part.usage_key}",
        "SkuMeter": part.usage_key,
        "SkuPriceId": f"{entry.price_version}/{part.price_key}",
        "SkuPriceDetails": _json({"meterway/rate_micros": part.rate, "meterway/per": part.per}),
        **_costs(billed, listed, None),
    }


def entry_rows(entry: Entry, period: Period, issuer: Issuer) -> list[Row]:
    """The FOCUS rows of one ledger entry: a debit priced by a card as one row per priced
    part (the debit and its provider cost divided over them exactly), anything else whole."""
    if entry.kind != "debit" or entry.card is None or entry.meter:
        return [_whole_row(entry, period, issuer)]
    _, parts = priced_parts(entry.card, entry.counts)
    if not parts:
        return [_whole_row(entry, period, issuer)]
    billed = -entry.amount_micros
    provider = billed if entry.provider_cost_micros is None else entry.provider_cost_micros
    weights = [p.exact for p in parts]
    common = _common(entry, period, issuer)
    rows = []
    for part, b, p in zip(parts, allocate(billed, weights), allocate(provider, weights),
                          strict=True):  # fmt: skip
        row = common | _part_row(entry, part, b, p)
        row["x_ProviderCost"] = usd(p)
        rows.append(row)
    return rows


def micros_of(text: str) -> int:
    """A cost column back in micros (exact: costs have at most six decimals)."""
    value = Decimal(text) * MICROS_PER_USD
    if value != value.to_integral_value():
        raise ValueError(f"{text} is not a whole number of micros")
    return int(value)
