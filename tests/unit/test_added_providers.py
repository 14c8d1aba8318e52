"""Any OpenAI- or Anthropic-wire host by configuration alone: a `[providers.NAME]` table,
its models priced from the catalogue's provider of that name (or another it names) or by
the operator, reached by `NAME/model` or a pricing.toml route."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from billing.metering.usage import Usage
from billing.pricing import PricingError, PricingTable, parse_pricing
from gateway.config.providers import PROVIDERS, pricing_terms
from gateway.config.settings import Settings, load_settings
from gateway.config.values import ConfigError

GOOD = {"DATABASE_URL": "postgresql://u@h/db", "ADMIN_API_KEY": "0123456789abcdef-secret"}
TABLES = """
[providers.groq]
base_url = "https://api.groq.com/openai/v1/"
api_key = "gsk-file"

[providers.xai]
base_url = "https://api.x.ai/v1"
catalogue = "x-ai"

[providers.vllm]
base_url = "http://10.0.0.5:8000/v1"
catalogue = ""

[providers.claude-proxy]
base_url = "http://10.0.0.6"
wire = "anthropic"
"""
HOUSE = """
[models."house-llama"]
provider = "vllm"
upstream = "meta-llama/Llama-3.3-70B-Instruct"
max_output_tokens = 4096
input = "0.10"
output = "0.30"
"""


def _settings(tmp_path: Path, text: str = TABLES, **env: str) -> Settings:
    cfg = tmp_path / "meterway.toml"
    cfg.write_text(text)
    return load_settings({**GOOD, **env}, cfg)


def test_added_tables_are_read_after_the_built_in_providers(tmp_path: Path) -> None:
    s = _settings(tmp_path, GROQ_API_KEY="gsk-env", CLAUDE_PROXY_BASE_URL="http://10.0.0.7")
    assert list(s.providers) == [*PROVIDERS, "groq", "xai", "vllm", "claude-proxy"]
    groq = s.providers["groq"]
    assert (groq.base_url, groq.api_key, groq.wire, groq.catalogue) == (
        "https://api.groq.com/openai/v1", "gsk-env", "openai", "groq"
    )  # fmt: skip
    assert s.providers["xai"].catalogue == "x-ai"
    assert s.providers["claude-proxy"].base_url == "http://10.0.0.7"
    assert s.providers["claude-proxy"].wire == "anthropic"
    assert "gsk-env" not in repr(s)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[providers.groq]\napi_key = 'k'\n", r"\[providers.groq\] needs base_url"),
        ("[providers.groq]\nbase_url = 'ftp://x'\n", "GROQ_BASE_URL"),
        ("[providers.groq]\nbase_url = 'http://x'\nwire = 'grpc'\n", "wire must be one of"),
        ("[providers.groq]\nbase_url = 'http://x'\nkey = 'k'\n", r"unknown field\(s\) \['key'\]"),
        ("[providers.Groq]\nbase_url = 'http://x'\n", "lower-case letters"),
        ("[providers.openai]\nwire = 'anthropic'\n", "a built-in provider's wire"),
    ],
)
def test_a_bad_provider_table_stops_the_boot_naming_it(
    tmp_path: Path, text: str, fragment: str
) -> None:
    with pytest.raises(ConfigError, match=fragment):
        _settings(tmp_path, text)


def _table(tmp_path: Path, models: str = "") -> PricingTable:
    providers = _settings(tmp_path).providers
    doc = tomllib.loads(models)
    return parse_pricing(doc, PROVIDERS, *pricing_terms(providers))


def test_an_added_providers_catalogue_models_are_reached_by_its_name(tmp_path: Path) -> None:
    table = _table(tmp_path)
    price = table.lookup("groq/llama-3.3-70b-versatile")
    assert price is not None
    assert (price.name, price.provider, price.upstream_model) == (
        "groq/llama-3.3-70b-versatile", "groq", "llama-3.3-70b-versatile"
    )  # fmt: skip
    # $0.59 / $0.79 per 1M tokens
    assert price.cost_micros(Usage(input_tokens=1000, output_tokens=500)) == 590 + 395
    grok = table.lookup("xai/grok-3")
    assert grok is not None and grok.provider == "xai" and grok.upstream_model == "grok-3"
    # Never by a bare name: the built-in providers' names keep their meaning.
    assert table.lookup("llama-3.3-70b-versatile") is None
    assert table.lookup("groq/no-such-model") is None
    assert table.lookup("vllm/llama-3.3-70b-versatile") is None  # catalogue = ""
    assert {"groq/llama-3.3-70b-versatile", "xai/grok-3"} <= {p.name for p in table.served()}
    assert table.wire("claude-proxy") == "anthropic" and table.wire("groq") == "openai"


def test_pricing_toml_routes_and_prices_models_of_added_providers(tmp_path: Path) -> None:
    table = _table(
        tmp_path,
        HOUSE + '[models."fast-llama"]\nprovider = "groq"\ncatalogue = "llama-3.1-8b-instant"\n',
    )
    house = table.lookup("house-llama")
    assert house is not None and house.provider == "vllm"
    assert house.cost_micros(Usage(input_tokens=1000, output_tokens=1000)) == 100 + 300
    fast = table.lookup("fast-llama")
    assert fast is not None and fast.provider == "groq"
    assert fast.cost_micros(Usage(input_tokens=1_000_000, output_tokens=0)) == 50_000


def test_a_route_to_an_unconfigured_provider_fails_naming_it(tmp_path: Path) -> None:
    with pytest.raises(PricingError, match="unknown provider 'together'"):
        _table(tmp_path, '[models."m"]\nprovider = "together"\n')
