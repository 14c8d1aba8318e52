"""Reading `anthropic-beta`: every beta passes or is refused by name, one table decides."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from billing.pricing import load_pricing
from gateway.config.settings import DEFAULT_CONFIG_DIR, PROVIDERS
from gateway.errors import InvalidRequest
from gateway.llm.reading.betas import OUTPUT_CAPS, PASSING, REFUSED, Betas, forwarded, read_betas
from gateway.telemetry import metrics

PRICING = load_pricing(DEFAULT_CONFIG_DIR / "pricing.toml", frozenset(PROVIDERS))


def test_no_header_no_betas() -> None:
    assert read_betas({}) == Betas()
    assert forwarded({}) is None


def test_required_betas_pass_and_several_may_come_in_one_header_or_several() -> None:
    one = read_betas({"anthropic-beta": "interleaved-thinking-2025-05-14 ,, "})
    assert one.names == ("interleaved-thinking-2025-05-14",)
    lines = CIMultiDict(
        [
            ("Anthropic-Beta", "fine-grained-tool-streaming-2025-05-14,context-1m-2025-08-07"),
            ("anthropic-beta", "output-128k-2025-02-19"),
        ]
    )
    betas = read_betas(lines)
    assert betas.names == (
        "fine-grained-tool-streaming-2025-05-14",
        "context-1m-2025-08-07",
        "output-128k-2025-02-19",
    )
    assert betas.output_cap == 128_000
    assert forwarded(lines) == (
        "fine-grained-tool-streaming-2025-05-14,context-1m-2025-08-07,output-128k-2025-02-19"
    )


@pytest.mark.parametrize("name", ["xyz", "Interleaved-Thinking-2025-05-14", "context-1m"])
def test_an_unknown_beta_passes_and_is_named_as_unknown(name: str) -> None:
    betas = read_betas({"anthropic-beta": f"interleaved-thinking-2025-05-14,{name}"})
    assert betas.names == ("interleaved-thinking-2025-05-14", name)
    assert betas.unknown == (name,) and betas.output_cap == 0


def test_unknown_betas_are_counted() -> None:
    m = metrics()
    before = m.tally.counts.get((m.unknown_betas,), 0)
    read_betas({"anthropic-beta": "a-2099-01-01,b-2099-01-01,prompt-caching-2024-07-31"})
    assert m.tally.counts.get((m.unknown_betas,), 0) == before + 2


def test_a_beta_refused_by_name_is_refused_whatever_the_policy() -> None:
    with pytest.raises(InvalidRequest, match="container hours"):
        read_betas({"anthropic-beta": "xyz,code-execution-2025-05-22"}, "pass")


@pytest.mark.parametrize("name", ["xyz", "Interleaved-Thinking-2025-05-14", "context-1m"])
def test_an_unknown_beta_is_refused_by_name_when_the_operator_says_so(name: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        read_betas({"anthropic-beta": f"interleaved-thinking-2025-05-14,{name}"}, "refuse")
    error = caught.value
    assert error.param == "anthropic-beta" and error.extra == {"unpriced_option": name}
    assert f"anthropic-beta '{name}' has an unknown price effect" in error.message


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_beta_with_an_unpriced_effect_is_refused_saying_why(name: str) -> None:
    with pytest.raises(InvalidRequest, match=REFUSED[name]):
        read_betas({"anthropic-beta": name})


def test_the_tables_agree() -> None:
    assert not PASSING.keys() & REFUSED.keys()
    capped = {n for n, effect in PASSING.items() if effect.name == "OUTPUT_CAP"}
    assert capped == OUTPUT_CAPS.keys()


def test_an_output_cap_beta_widens_a_models_cap_never_narrows_it() -> None:
    sonnet = PRICING.models["claude-3-7-sonnet"]
    assert Betas(output_cap=128_000).widen(sonnet).max_output_tokens == 128_000
    assert Betas(output_cap=1_000).widen(sonnet) is sonnet
    assert Betas().widen(sonnet) is sonnet
