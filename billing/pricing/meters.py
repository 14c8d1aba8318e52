"""Non-token meters: what a unit of compute, storage or traffic is called and what it costs.

Loaded once from config/meters.toml and validated there. A price is a decimal USD string
per 1, 1,000 or 1,000,000 units that must be a whole number of micros for that many units, so
`cost = ceil(quantity x price_micros / per)` is exact integer arithmetic, rounded up once.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from billing.money.micros import MoneyFormatError, ceil_div, parse_usd
from billing.names import one_of

Unit = Literal["second", "gb_second", "byte", "request", "item"]
OnExpiry = Literal["charge", "void"]
UNITS: frozenset[str] = frozenset({"second", "gb_second", "byte", "request", "item"})
PER: frozenset[int] = frozenset({1, 1_000, 1_000_000})
NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_QUANTITY = 2**53 - 1  # Lua numbers are doubles: quantities stay exact below this
FIELDS = frozenset(
    {"unit", "price", "per", "quota_metric", "on_expiry", "allow_overage", "allow_negative"}
)


class MeterError(ValueError):
    """The meters file is invalid; raised at start-up, never per request."""


@dataclass(frozen=True, slots=True)
class Meter:
    name: str
    unit: Unit
    price_micros: int  # micros per `per` units
    per: int
    quota_metric: str  # the `meter:<name>` metric its quantities count toward
    on_expiry: OnExpiry = "void"
    allow_overage: bool = False  # may a settle exceed the authorized quantity
    allow_negative: bool = False  # may a reported event take a prepaid balance below zero

    def cost_micros(self, quantity: int) -> int:
        """Exact: one multiplication and one ceiling division."""
        return ceil_div(quantity * self.price_micros, self.per)


@dataclass(frozen=True, slots=True)
class MeterBook:
    meters: Mapping[str, Meter]

    def get(self, name: str) -> Meter | None:
        return self.meters.get(name)

    def names(self) -> list[str]:
        return sorted(self.meters)


def valid_quantity(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and 0 <= value <= MAX_QUANTITY


def _flag(name: str, entry: Mapping[str, object], field: str) -> bool:
    value = entry.get(field, False)
    if not isinstance(value, bool):
        raise MeterError(f"meter {name!r}: {field} must be true or false")
    return value


def _price(name: str, entry: Mapping[str, object]) -> tuple[int, int]:
    raw, per = entry.get("price"), entry.get("per", 1)
    if not isinstance(raw, str):
        raise MeterError(f"meter {name!r}: price must be a decimal string, got {raw!r}")
    if per not in PER:
        raise MeterError(f"meter {name!r}: per must be 1, 1000 or 1000000, got {per!r}")
    try:
        micros = parse_usd(raw)
    except MoneyFormatError as exc:
        raise MeterError(f"meter {name!r}: price {raw!r} is not exact in micros per {per}") from exc
    if micros < 0:
        raise MeterError(f"meter {name!r}: price is negative")
    return micros, int(str(per))


def _meter(name: str, entry: object) -> Meter:
    if not NAME.fullmatch(name):
        raise MeterError(f"meter {name!r}: names are lower-case letters, digits and _")
    if not isinstance(entry, dict):
        raise MeterError(f"meter {name!r}: must be a table")
    unknown = sorted(set(entry) - FIELDS)
    if unknown:
        raise MeterError(f"meter {name!r}: unknown field(s) {unknown}")
    unit = entry.get("unit")
    if not one_of(unit, UNITS):
        raise MeterError(f"meter {name!r}: unit must be one of {sorted(UNITS)}")
    on_expiry = entry.get("on_expiry", "void")
    if on_expiry not in ("charge", "void"):
        raise MeterError(f"meter {name!r}: on_expiry must be charge or void")
    metric = entry.get("quota_metric", f"meter:{name}")
    named = isinstance(metric, str) and metric.startswith("meter:")
    if not named or not NAME.fullmatch(str(metric)[6:]):
        raise MeterError(f"meter {name!r}: quota_metric must look like 'meter:<name>'")
    micros, per = _price(name, entry)
    return Meter(
        name,
        cast(Unit, unit),
        micros,
        per,
        metric,
        on_expiry,
        _flag(name, entry, "allow_overage"),
        _flag(name, entry, "allow_negative"),
    )


def parse_meters(doc: Mapping[str, object]) -> MeterBook:
    raw = doc.get("meters", {})
    if not isinstance(raw, dict):
        raise MeterError("meters file: [meters.*] must be tables")
    return MeterBook({name: _meter(name, entry) for name, entry in raw.items()})


def load_meters(path: Path) -> MeterBook:
    """An absent file means no meters: the metering API then refuses every meter by name."""
    if not path.is_file():
        return MeterBook({})
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MeterError(f"cannot read meters {path}: {exc}") from exc
    return parse_meters(doc)
