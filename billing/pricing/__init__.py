"""Prices: the maintained catalogue compiled to integer rate cards, under the operator's layer.

`table` builds the served models (`PricingTable`), `catalogue` compiles `genai-prices`,
`operator` reads config/pricing.toml, `card` is one period's integer rates, `model` a served
model and the `Priced` value a settlement records, `units` the catalogue's units.
"""

from billing.pricing.card import Band, RateCard
from billing.pricing.errors import PricingError
from billing.pricing.model import Deployment, ModelKind, ModelPrice, Priced, usage_counts
from billing.pricing.table import PricingTable, load_pricing, parse_pricing

__all__ = [
    "Band",
    "Deployment",
    "ModelKind",
    "ModelPrice",
    "Priced",
    "PricingError",
    "PricingTable",
    "RateCard",
    "load_pricing",
    "parse_pricing",
    "usage_counts",
]
