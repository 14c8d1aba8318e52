"""The providers Meterway forwards to: five built in, and any OpenAI- or Anthropic-wire host
an operator adds with a `[providers.NAME]` table (xAI, Groq, Together, vLLM, Ollama...).

A built-in provider needs nothing but its key. An added one names its `base_url` and may set
`api_key`, `wire` ("openai", the default, or "anthropic") and `catalogue`: the genai-prices
provider whose prices its models take (default: its own name; "" for none, so only the
models pricing.toml prices are served). `NAME_BASE_URL` and `NAME_API_KEY` (upper case, `-`
as `_`) override the table, as they do for the built-in ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway import config_values as v
from gateway.config_values import ConfigError

PROVIDERS = ("openai", "anthropic", "google", "deepseek", "mistral")
DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "google": "https://generativelanguage.googleapis.com/v1beta/openai",
    "deepseek": "https://api.deepseek.com/v1",
    "mistral": "https://api.mistral.ai/v1",
}
WIRES = ("openai", "anthropic")
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
FIELDS = frozenset({"base_url", "api_key", "wire", "catalogue"})


@dataclass(frozen=True)
class ProviderSettings:
    name: str
    base_url: str
    api_key: str = field(repr=False)
    wire: str  # "openai" or "anthropic"
    catalogue: str = ""  # the genai-prices provider pricing its models; "" none

    def __repr__(self) -> str:
        return f"ProviderSettings({self.name!r}, {self.base_url!r}, api_key=***, {self.wire!r})"


def _env_name(name: str) -> str:
    return name.upper().replace("-", "_")


def _table(name: str, cfg: Mapping[str, object]) -> dict[str, object]:
    section = cfg.get(name, {})
    if not isinstance(section, dict):
        raise ConfigError(f"[providers.{name}] must be a table")
    unknown = sorted(set(section) - FIELDS)
    if unknown:
        raise ConfigError(f"[providers.{name}]: unknown field(s) {unknown}")
    return section


def _provider(name: str, env: Mapping[str, str], cfg: Mapping[str, object]) -> ProviderSettings:
    section, upper = _table(name, cfg), _env_name(name)
    built_in = name in DEFAULT_BASE_URLS
    default_base = section.get("base_url") or DEFAULT_BASE_URLS.get(name, "")
    base = env.get(f"{upper}_BASE_URL", default_base) or default_base
    if not base:
        raise ConfigError(f"[providers.{name}] needs base_url (or {upper}_BASE_URL)")
    key = env.get(f"{upper}_API_KEY", "") or section.get("api_key") or ""
    native = "anthropic" if name == "anthropic" else "openai"
    wire = section.get("wire", native)
    if built_in and wire != native:
        raise ConfigError(f"[providers.{name}]: a built-in provider's wire is {native!r}")
    if wire not in WIRES:
        raise ConfigError(f"[providers.{name}] wire must be one of {', '.join(WIRES)}")
    catalogue = name if built_in else section.get("catalogue", name)
    if not isinstance(catalogue, str):
        raise ConfigError(f'[providers.{name}] catalogue must be a provider name or ""')
    url = v.url(f"{upper}_BASE_URL", str(base), ("http", "https")).rstrip("/")
    return ProviderSettings(name, url, str(key), str(wire), catalogue)


def read_providers(
    env: Mapping[str, str], cfg: Mapping[str, object]
) -> dict[str, ProviderSettings]:
    """The built-in providers, then every `[providers.NAME]` table naming another, in order."""
    added = [name for name in cfg if name not in DEFAULT_BASE_URLS]
    for name in added:
        if not NAME.fullmatch(name):
            raise ConfigError(
                f"[providers.{name}]: a provider name is lower-case letters, digits, - and _"
            )
    return {name: _provider(name, env, cfg) for name in (*PROVIDERS, *added)}


def pricing_terms(
    providers: Mapping[str, ProviderSettings],
) -> tuple[dict[str, str], dict[str, str]]:
    """`load_pricing`'s last arguments for these providers: each added one's catalogue
    provider, and every provider's wire."""
    added = {n: p.catalogue for n, p in providers.items() if n not in DEFAULT_BASE_URLS}
    return added, {n: p.wire for n, p in providers.items()}
