"""Deployments: pricing.toml's several upstreams of one model, each priced, and the process's
choice among them (weights, cool-downs, retry-after)."""

from __future__ import annotations

import random
import tomllib
from collections import Counter
from datetime import UTC, datetime

import pytest

from billing.metering.usage import Usage
from billing.pricing import Deployment, PricingError, PricingTable, parse_pricing
from gateway.config.providers import PROVIDERS
from gateway.llm.deployments import MAX_COOLDOWN_S, Upstreams, retry_after_s


def pooled_model(first: str, second: str, weight: int) -> str:
    """Model `pooled` at `first` ($2.00 / $4.00 per 1M tokens, `weight`) and `second`
    ($1.00 / $2.00, weight 1, as `pooled-west`)."""
    return f"""
[models."pooled"]
max_output_tokens = 1000
deployments = [
  {{ provider = "{first}", weight = {weight}, input = "2.00", output = "4.00" }},
  {{ provider = "{second}", upstream = "pooled-west", input = "1.00", output = "2.00" }},
]
"""


MODELS = (
    pooled_model("openai", "mistral", 3)
    + """
[models."gpt-4o"]
deployments = [
  { provider = "openai", weight = 3 },
  { provider = "deepseek", catalogue = "deepseek-chat" },
]

[models."house"]
max_output_tokens = 100
input = "0.50"
output = "1.50"
deployments = [{ provider = "openai" }, { provider = "google", upstream = "house-g" }]
"""
)


# 12:00 UTC: deepseek-chat's peak price (its off-peak one, half, runs 16:30-00:30 UTC).
PEAK_MS = int(datetime(2026, 1, 15, 12, tzinfo=UTC).timestamp() * 1000)


def _table(text: str = MODELS) -> PricingTable:
    return parse_pricing(tomllib.loads(text), PROVIDERS)


def _deployments(table: PricingTable, model: str) -> list[Deployment]:
    price = table.lookup(model)
    assert price is not None
    return list(price.deployments)


def test_each_deployment_is_priced_by_its_own_rates_the_models_or_the_catalogue() -> None:
    table = _table()
    usage = Usage(input_tokens=1000, output_tokens=1000)
    got = {
        model: [
            (d.upstream, d.weight, d.price.cost_micros(usage, PEAK_MS))
            for d in _deployments(table, model)
        ]
        for model in ("pooled", "gpt-4o", "house")
    }
    assert got == {
        "pooled": [("openai/pooled", 3, 6000), ("mistral/pooled-west", 1, 3000)],
        # openai gpt-4o $2.50/$10.00; deepseek-chat $0.27/$1.10 (genai-prices 0.2.3)
        "gpt-4o": [("openai/gpt-4o", 3, 12500), ("deepseek/gpt-4o", 1, 1370)],
        "house": [("openai/house", 1, 2000), ("google/house-g", 1, 2000)],
    }
    assert all(d.price.name == "pooled" for d in _deployments(table, "pooled"))
    assert table.lookup("pooled").provider == "openai"  # type: ignore[union-attr]
    assert {d.upstream for d in table.deployments()} >= {"openai/pooled", "google/house-g"}


@pytest.mark.parametrize(
    ("deployments", "fragment"),
    [
        ("[]", "non-empty list"),
        ('[{ provider = "nowhere" }]', "deployment provider 'nowhere' unknown"),
        ('[{ provider = "openai", weight = 0 }]', "weight is a whole number"),
        ('[{ provider = "openai", region = "eu" }]', "is a table of"),
        ('[{ provider = "openai" }, { provider = "openai" }]', "listed twice"),
        ('[{ provider = "openai", upstream = "" }]', "non-empty strings"),
    ],
)
def test_a_bad_deployment_fails_the_boot_naming_the_model(deployments: str, fragment: str) -> None:
    text = '[models."m"]\nmax_output_tokens = 10\ninput = "1"\noutput = "1"\n'
    with pytest.raises(PricingError, match=fragment):
        _table(text + f"deployments = {deployments}\n")


def test_the_models_provider_must_be_its_first_deployments() -> None:
    text = '[models."m"]\nprovider = "google"\ndeployments = [{ provider = "openai" }]\n'
    with pytest.raises(PricingError, match="provider must be the first deployment's"):
        _table(text)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_order_follows_the_weights_and_leaves_out_upstreams_cooling_down() -> None:
    pooled = _deployments(_table(), "pooled")
    clock = Clock()
    upstreams = Upstreams(
        [d.upstream for d in pooled],
        10.0,
        clock=clock,
        rng=random.Random(1),
        wall=lambda: 1_700_000_000.0,
    )
    firsts = Counter(upstreams.order(pooled)[0].upstream for _ in range(4000))
    assert 0.72 < firsts["openai/pooled"] / 4000 < 0.78  # weight 3 of 4
    upstreams.failed(pooled[0], "429", 2.5)
    assert [d.upstream for d in upstreams.order(pooled)] == ["mistral/pooled-west"]
    assert upstreams.report()["openai/pooled"] == {
        "state": "cooling",
        "cooling_for_s": 2.5,
        "cooling_until": "2023-11-14T22:13:22.500+00:00",
    }
    upstreams.failed(pooled[1], "connect")  # no retry-after: UPSTREAM_COOLDOWN_S
    assert upstreams.order(pooled) == [] and upstreams.soonest_s(pooled) == 2.5
    clock.now += 2.5
    assert [d.upstream for d in upstreams.order(pooled)] == ["openai/pooled"]
    clock.now += 7.5
    assert len(upstreams.order(pooled)) == 2
    upstreams.failed(pooled[0], "429", 10**9)
    assert upstreams.report()["openai/pooled"]["cooling_for_s"] == MAX_COOLDOWN_S


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"}, 30.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read_in_every_form(headers: dict[str, str], wait: float | None) -> None:
    assert retry_after_s(headers, now=1445412480.0) == wait
