"""The card a start's configuration bills, against the approved one (PRICE_CHANGES_AT_START
=review): its digest, the models whose rates moved, and the approved rates of those models
in pricing.toml's words, which the start bills until the move is approved and in force.

Cards are compared by their rates alone (each tier's bands), not by their source or start:
a catalogue upgrade that moves no rate moves nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from billing.pricing.from_cards import Cards, Unwritable, model_entry, rates_of


def rates_digest(cards: Cards) -> str:
    """A digest of every model's rates, equal for two configurations that bill alike."""
    rates = {name: rates_of(cards[name]) for name in sorted(cards)}
    return hashlib.sha256(json.dumps(rates, sort_keys=True).encode()).hexdigest()


def moved_models(approved: Cards, loaded: Cards) -> list[str]:
    """The models both serve whose rates differ."""
    both = sorted(approved.keys() & loaded.keys())
    return [n for n in both if rates_of(approved[n]) != rates_of(loaded[n])]


def approved_entries(approved: Cards, names: Iterable[str]) -> tuple[dict[str, Any], list[str]]:
    """The approved rates of `names` as a change's models (`{"NAME": {rate fields}}`), and
    a line for each that pricing.toml's words cannot carry."""
    entries: dict[str, Any] = {}
    left: list[str] = []
    for name in names:
        try:
            entries[name] = model_entry(approved[name])
        except Unwritable as exc:
            left.append(f"{name}: {exc}")
    return entries, left
