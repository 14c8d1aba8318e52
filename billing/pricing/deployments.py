"""A model served by several upstreams: pricing.toml's `deployments` list.

    [models."gpt-4o"]
    deployments = [
      { provider = "openai", weight = 3 },
      { provider = "azure-eu", upstream = "gpt4o-prod", input = "2.75", output = "11.00" },
    ]

Each deployment names its provider, its share of the traffic (`weight`, default 1), the
model id sent there (`upstream`, default the model's) and its prices: rates of its own, else
the model's own rates, else the catalogue's for its provider (`catalogue`, default the
model's catalogue id or name). A call reserves at the dearest deployment and is billed at the
one that served it; the model's `provider`, when set, must be the first deployment's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from billing.names import one_of
from billing.pricing.errors import PricingError
from billing.pricing.model import Deployment, ModelPrice, Period
from billing.pricing.operator import PRICE_PARTS, RATE_FIELDS, Route, operator_periods

FIELDS = frozenset({"provider", "weight", "upstream", "catalogue"}) | RATE_FIELDS | PRICE_PARTS
MAX_WEIGHT = 1_000_000


@dataclass(frozen=True, slots=True)
class Spec:
    provider: str
    weight: int
    upstream: str | None
    catalogue: str | None
    rates: Mapping[str, object]  # the deployment's own rate fields, empty for none


def _spec(name: str, raw: object, providers: frozenset[str]) -> Spec:
    where = f"model {name!r}: each deployment"
    if not isinstance(raw, dict) or set(raw) - FIELDS:
        raise PricingError(f"{where} is a table of {sorted(FIELDS - RATE_FIELDS)} and rates")
    if not one_of(raw.get("provider"), providers):
        raise PricingError(f"model {name!r}: deployment provider {raw.get('provider')!r} unknown")
    weight = raw.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= MAX_WEIGHT:
        raise PricingError(f"{where}'s weight is a whole number from 1 to {MAX_WEIGHT}")
    texts = [raw.get(f) for f in ("upstream", "catalogue")]
    if any(t is not None and (not isinstance(t, str) or not t) for t in texts):
        raise PricingError(f"{where}'s upstream and catalogue are non-empty strings")
    rates = {k: v for k, v in raw.items() if k in RATE_FIELDS | PRICE_PARTS}
    return Spec(str(raw["provider"]), weight, texts[0], texts[1], rates)


def read_specs(name: str, entry: Mapping[str, object], providers: frozenset[str]) -> list[Spec]:
    """The model's deployments, checked; [] when it has none."""
    raw = entry.get("deployments")
    if raw is None:
        return []
    if not isinstance(raw, list) or not raw:
        raise PricingError(f"model {name!r}: deployments must be a non-empty list of tables")
    specs = [_spec(name, item, providers) for item in raw]
    if entry.get("provider", specs[0].provider) != specs[0].provider:
        raise PricingError(f"model {name!r}: provider must be the first deployment's")
    keys = [(s.provider, s.upstream) for s in specs]
    if len(set(keys)) != len(keys):
        raise PricingError(f"model {name!r}: a deployment is listed twice")
    return specs


CataloguePeriods = Callable[[str, str], tuple[Period, ...]]  # (catalogue id, provider)


def deployed(
    model: ModelPrice,
    route: Route,
    specs: list[Spec],
    tools: Mapping[str, int],
    catalogued: CataloguePeriods,
) -> ModelPrice:
    """`model` (the first deployment's routing) carrying every deployment's price."""
    deployments = []
    for spec in specs:
        upstream = spec.upstream or route.upstream
        at = replace(route, provider=spec.provider, upstream=upstream)
        if spec.rates:
            periods = operator_periods(at, spec.rates, tools)
        elif route.priced:
            periods = model.periods
        else:
            periods = catalogued(spec.catalogue or route.catalogue or route.name, spec.provider)
        price = replace(model, provider=spec.provider, upstream_model=upstream, periods=periods)
        deployments.append(Deployment(price, spec.weight))
    return replace(deployments[0].price, deployments=tuple(deployments))
