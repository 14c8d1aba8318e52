"""What a price is per: the catalogue's units (tokens per 1M, calls per 1k, hours, pixels).

The unit registry is `genai-prices`' own data (`data_units`, a plain dict), so a usage key or
price key means here exactly what it means in the catalogue. A unit's dimensions place it in
a lattice: `cache_write_1h_tokens` is a kind of `cache_write_tokens`, which is a kind of
`input_tokens`; a price on the more specific unit takes its tokens out of the general one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from genai_prices.data_units import unit_data

from billing.money.micros import COST_SCALE

REQUESTS = "requests"  # the per-call fee's unit: one per call, never reported


@dataclass(frozen=True, slots=True)
class Unit:
    usage_key: str  # what a usage reports: "cache_write_1h_tokens"
    price_key: str  # what a price names: "cache_write_1h_mtok"
    per: int  # a price is USD per this many units
    dimensions: frozenset[tuple[str, str]]

    @property
    def scale(self) -> int:
        """COST_SCALE units per micro-USD-per-`per`: a rate times this is exact per unit."""
        return COST_SCALE // self.per

    def get(self, dimension: str) -> str | None:
        return next((v for k, v in self.dimensions if k == dimension), None)

    def covers(self, other: Unit) -> bool:
        """`other` is this unit or a more specific kind of it."""
        return self.dimensions <= other.dimensions


def _units(raw: Mapping[str, Mapping[str, object]]) -> dict[str, Unit]:
    units: dict[str, Unit] = {}
    for usage_key, spec in raw.items():
        dims = spec.get("dimensions", {})
        per = spec["per"]
        assert isinstance(dims, dict) and isinstance(per, int)
        if COST_SCALE % per:
            raise ValueError(f"unit {usage_key}: per {per} does not divide COST_SCALE")
        units[usage_key] = Unit(usage_key, str(spec["price_key"]), per, frozenset(dims.items()))
    return units


# Per-image prices (DALL-E's, by size and quality) are Meterway's own units: the catalogue
# has none. One image of a size and quality is one unit; no unit covers another.
IMAGE_SIZES = (
    "256x256", "512x512", "1024x1024", "1024x1792", "1792x1024", "1024x1536", "1536x1024",
)  # fmt: skip
IMAGE_QUALITIES = ("standard", "hd", "low", "medium", "high")


def image_key(size: str, quality: str) -> str:
    """The usage (and price) key of one image of `size` and `quality`."""
    return f"images_{size}_{quality}"


def _image_units() -> dict[str, dict[str, object]]:
    return {
        image_key(size, quality): {
            "per": 1,
            "price_key": image_key(size, quality),
            "dimensions": {"family": "images", "size": size, "quality": quality},
        }
        for size in IMAGE_SIZES
        for quality in IMAGE_QUALITIES
    }


BY_USAGE: Mapping[str, Unit] = _units({**unit_data, **_image_units()})
BY_PRICE: Mapping[str, Unit] = {u.price_key: u for u in BY_USAGE.values()}


def is_plain_token(unit: Unit, direction: str) -> bool:
    """A text token of `direction` (any cache or reasoning kind but the 1-hour cache write,
    which a request asks for by name): what a text prompt or answer can be billed as, so what
    a reservation must assume at worst."""
    return (
        unit.get("family") == "tokens"
        and unit.get("direction") == direction
        and unit.get("modality") in (None, "text")
        and unit.get("cache_ttl") != "1h"
    )
