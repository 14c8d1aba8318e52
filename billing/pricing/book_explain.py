"""A debit priced by a price book, explained: the book chain, the rule that priced each
dimension, and the arithmetic at the booked rates (`meterway prices explain REQUEST_ID`).

Read from the debit's own record: its list card (price_versions), the chain its
`usage_detail.book` names (`name@version,...`, child first) and each version's book as its
price change defined it; whatever books hold today does not change the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billing.money.micros import format_usd
from billing.pricing.explain import explain, row_counts, usage_detail
from billing.pricing.explain import unit_label as _unit
from billing.pricing.shelf import Chain, booked_rate, source


def book_tags(row: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The (name, version) of each book of the chain a debit names, child first."""
    raw = usage_detail(row).get("book")
    out = []
    for tag in raw.split(",") if isinstance(raw, str) else ():
        name, _, version = tag.rpartition("@")
        if name and version.isascii() and version.isdigit():
            out.append((name, int(version)))
    return out


def booked_card(card: Mapping[str, Any], chain: Chain, model: str) -> dict[str, Any]:
    """The list card (as price_versions keeps it) at the chain's rates."""
    bands = [
        {**band, "rates": {k: booked_rate(chain, model, k, r) for k, r in band["rates"].items()}}
        for band in card["bands"]
    ]
    return {**card, "bands": bands, "source": f"price book {chain[0].tag}"}


def explain_book(row: Mapping[str, Any], card: Mapping[str, Any], chain: Chain) -> list[str]:
    """The book and rule behind each dimension of the debit, then its arithmetic at them."""
    model = row["model"]
    names = " < ".join(b.tag for b in chain)
    lines = [f"  price book {chain[0].tag}" + (f" (inherits {names})" if len(chain) > 1 else "")]
    for key, rate in sorted(card["bands"][0]["rates"].items()):
        found = source(chain, model, key)
        booked = booked_rate(chain, model, key, rate)
        lines.append(
            f"    {key:<24} {found.describe()}: {format_usd(booked)} {_unit(key)}"
            f" (list {format_usd(rate)})"
        )
    lines += ["  " + line for line in explain(booked_card(card, chain, model), row_counts(row))]
    return lines
