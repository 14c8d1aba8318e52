"""An install's moved prices as a price change: `meterway prices diff --write FILE`.

`prices diff` compares the cards a gateway bills now with those the installed catalogue and
pricing.toml would bill; this writes each changed model's installed cards back in
pricing.toml's words (rates, context-length `tiers`, `service_tiers`), so a catalogue
upgrade or an edited pricing.toml is reviewed and takes effect at one time like any change.
A rate with no pricing.toml field, or a tier's bands of their own, cannot be written: the
model is left out, named with the reason. The change is written as TOML for `meterway
prices propose FILE`, after the operator has read it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from billing.money.micros import format_usd
from billing.pricing.operator import CALL_RATES, IMAGES, TOKEN_RATES, UNIT_RATES
from billing.pricing.units import IMAGE_QUALITIES, IMAGE_SIZES, image_key

Cards = Mapping[str, Mapping[str, Mapping[str, Any]]]  # model -> tier -> card (to_json)
# Price key -> (pricing.toml field, micro-USD of the key per micro-USD of the field).
_FIELDS: dict[str, tuple[str, int]] = {
    **{key: (field, 1) for field, key in TOKEN_RATES.items()},
    **{key: (field, 1000) for field, key in CALL_RATES.items()},
    **{key: (field, factor) for field, (key, factor) in UNIT_RATES.items()},
}
_IMAGES = {image_key(s, q): f"{s}/{q}" for s in IMAGE_SIZES for q in IMAGE_QUALITIES}


class Unwritable(ValueError):
    """A card pricing.toml cannot say."""


def _fields(rates: Mapping[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, rate in sorted(rates.items()):
        if key in _IMAGES:
            out.setdefault(IMAGES, {})[_IMAGES[key]] = format_usd(rate)
            continue
        if key not in _FIELDS:
            raise Unwritable(f"{key} has no pricing.toml field")
        field, factor = _FIELDS[key]
        if rate % factor:
            raise Unwritable(f"{key} = {rate} is not whole micro-USD per {field}")
        out[field] = format_usd(rate // factor)
    return out


def _card_fields(card: Mapping[str, Any]) -> dict[str, Any]:
    base, *bands = card["bands"]
    entry = _fields(base["rates"])
    tiers = []
    for band in bands:
        moved = {k: r for k, r in band["rates"].items() if base["rates"].get(k) != r}
        tiers.append({"above": band["above"], **_fields(moved)})
    if tiers:
        entry["tiers"] = tiers
    return entry


def model_entry(cards: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One model's cards by service tier as a change's `[models."NAME"]` table."""
    if not cards[""]["bands"][0]["rates"]:
        raise Unwritable("it has no rates (free)")
    entry = _card_fields(cards[""])
    others = {}
    for tier, card in sorted(cards.items()):
        if not tier:
            continue
        if len(card["bands"]) > 1 or len(cards[""]["bands"]) > 1:
            # pricing.toml gives a service tier the base's bands, with the base's band rates
            raise Unwritable(f"service tier {tier!r} beside context-length bands")
        others[tier] = _fields(card["bands"][0]["rates"])
    if others:
        entry["service_tiers"] = others
    return entry


def from_install(served: Cards, installed: Cards) -> tuple[dict[str, Any], list[str]]:
    """The change that bills the installed prices of every model served by both whose cards
    differ (`{"models": ...}`), and a line for each model it cannot carry."""
    models: dict[str, Any] = {}
    left: list[str] = []
    for name in sorted(served.keys() & installed.keys()):
        if rates_of(served[name]) == rates_of(installed[name]):
            continue
        try:
            models[name] = model_entry(installed[name])
        except Unwritable as exc:
            left.append(f"{name}: {exc}; price it in a change by hand")
    left += [
        f"{n}: newly served; propose it with its route" for n in installed.keys() - served.keys()
    ]
    left += [f"{n}: no longer served by the install" for n in served.keys() - installed.keys()]
    return {"models": models}, sorted(left)


def rates_of(cards: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {tier: [(b["above"], b["rates"]) for b in c["bands"]] for tier, c in cards.items()}


def to_toml(change: Mapping[str, Any]) -> str:
    """The change as pricing.toml's tables: a `[models."NAME"]` table per model, its tiers,
    service tiers and images inline."""
    out = []
    for name, entry in change["models"].items():
        out.append(f"[models.{json.dumps(name)}]")
        out += [f"{key} = {_value(value)}" for key, value in entry.items()]
        out.append("")
    return "\n".join(out)


def _value(value: object) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return json.dumps(value)
