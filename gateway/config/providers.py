"""The providers Meterway forwards to: five built in, and any OpenAI- or Anthropic-wire host
an operator adds with a `[providers.NAME]` table (xAI, Groq, Together, vLLM, Ollama...).

A built-in provider needs nothing but its key. An added one names its `base_url` and may set
`api_key`, `wire` ("openai", the default, "anthropic", or "azure") and `catalogue`: the
genai-prices provider whose prices its models take (default: its own name, "azure" for an
Azure one; "" for none, so only the models pricing.toml prices are served). `NAME_BASE_URL`
and `NAME_API_KEY` (upper case, `-` as `_`) override the table, as they do for the built-in
ones.

Azure OpenAI speaks OpenAI's bodies at other paths and with another header: `base_url` is
the resource (`https://NAME.openai.azure.com`), a model's `upstream` is its deployment name,
`api_version` picks the dated API (`/openai/deployments/{deployment}/...?api-version=`) and
its absence the v1 API (`/openai/v1/...`, the deployment name as `model`); `api_key` goes as
`api-key`, or `entra_token` (NAME_ENTRA_TOKEN) as a bearer token instead.

Google's own wire: `wire = "gemini"` is the Gemini API (`base_url` its version root,
`https://generativelanguage.googleapis.com/v1beta`; the key goes as `x-goog-api-key`),
`wire = "vertex"` Vertex AI (`base_url` down to the publisher,
`https://LOCATION-aiplatform.googleapis.com/v1/projects/P/locations/LOCATION/publishers/google`;
`api_key` is an OAuth access token sent as a bearer token). Calls go to
`{base_url}/models/{model}:generateContent` (or `:streamGenerateContent?alt=sse`); both
take genai-prices' `google` prices by default. With a Google key set and no such table, a
provider `gemini` of this wire is made (GEMINI_BASE_URL, Google's key).
`wire = "vertex-anthropic"` is Anthropic's models on Vertex (`base_url` down to
`publishers/anthropic`): Messages calls go to `/models/{model}:rawPredict`
(`:streamRawPredict`), the access token as a bearer token.

AWS Bedrock: `wire = "bedrock"`, `base_url` the runtime endpoint
(`https://bedrock-runtime.REGION.amazonaws.com`), `region` when that URL names none; calls
are signed with SigV4 with the standard AWS credential chain's credentials (no `api_key`),
and take genai-prices' `aws` prices by default. Anthropic models are called by InvokeModel.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.config import values as v
from gateway.config.values import ConfigError

PROVIDERS = ("openai", "anthropic", "google", "deepseek", "mistral")
DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "google": "https://generativelanguage.googleapis.com/v1beta/openai",
    "deepseek": "https://api.deepseek.com/v1",
    "mistral": "https://api.mistral.ai/v1",
}
NATIVE_GEMINI = "gemini"  # made when a Google key is set (`_native_gemini`)
GEMINI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
WIRES = ("openai", "anthropic", "azure", "gemini", "vertex", "vertex-anthropic", "bedrock")
# The body format each wire speaks, as the metered routes know it.
BODIES = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure": "openai",
    "gemini": "gemini",
    "vertex": "gemini",
    "vertex-anthropic": "anthropic",
    "bedrock": "anthropic",
}
DEFAULT_CATALOGUE = {
    "azure": "azure",
    "gemini": "google",
    "vertex": "google",
    "vertex-anthropic": "google",
    "bedrock": "aws",
}
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
FIELDS = frozenset(
    {"base_url", "api_key", "wire", "catalogue", "api_version", "entra_token", "region"}
)
BEDROCK_HOST = re.compile(r"bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?|v1")


@dataclass(frozen=True)
class ProviderSettings:
    name: str
    base_url: str
    api_key: str = field(repr=False)
    wire: str  # one of WIRES
    catalogue: str = ""  # the genai-prices provider pricing its models; "" none
    api_version: str = ""  # Azure's dated API version; "" its v1 API
    entra_token: str = field(default="", repr=False)  # Azure: a bearer token, not api-key
    region: str = ""  # Bedrock's AWS region, which its SigV4 signature names
    # Sent the gateway's `traceparent` (TRACE_FORWARD_PROVIDERS, with tracing on).
    forward_trace: bool = False

    def __repr__(self) -> str:
        return f"ProviderSettings({self.name!r}, {self.base_url!r}, api_key=***, {self.wire!r})"

    @property
    def body_wire(self) -> str:
        """The body format its calls speak ("openai" or "anthropic")."""
        return BODIES[self.wire]


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
    default_catalogue = DEFAULT_CATALOGUE.get(str(wire), name)
    catalogue = name if built_in else section.get("catalogue", default_catalogue)
    if not isinstance(catalogue, str):
        raise ConfigError(f'[providers.{name}] catalogue must be a provider name or ""')
    url = v.url(f"{upper}_BASE_URL", str(base), ("http", "https")).rstrip("/")
    version, token = _azure(name, str(wire), section, env)
    region = _region(name, str(wire), section, url)
    return ProviderSettings(name, url, str(key), str(wire), catalogue, version, token, region)


def _region(name: str, wire: str, section: Mapping[str, object], url: str) -> str:
    """A Bedrock provider's region: its table's, else its runtime URL's."""
    raw = section.get("region")
    if wire != "bedrock":
        if raw is not None:
            raise ConfigError(f"[providers.{name}]: region is Bedrock's")
        return ""
    host = BEDROCK_HOST.search(url)
    region = raw if raw is not None else (host.group(1) if host else "")
    if not isinstance(region, str) or not REGION.fullmatch(region):
        raise ConfigError(
            f'[providers.{name}] needs region (like "us-east-1"): its base_url names none'
        )
    return region


def _azure(
    name: str, wire: str, section: Mapping[str, object], env: Mapping[str, str]
) -> tuple[str, str]:
    """An Azure provider's API version ("" the v1 API) and Entra token ("" none)."""
    version = section.get("api_version", "")
    if wire != "azure":
        if version or "entra_token" in section:
            raise ConfigError(f"[providers.{name}]: api_version and entra_token are Azure's")
        return "", ""
    token = env.get(f"{_env_name(name)}_ENTRA_TOKEN", "") or section.get("entra_token", "")
    if not isinstance(version, str) or (version and not API_VERSION.fullmatch(version)):
        raise ConfigError(f'[providers.{name}] api_version is a date like "2024-10-21"')
    if version == "v1":
        version = ""  # the v1 API takes no dated version
    return version, str(token)


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
    providers = {name: _provider(name, env, cfg) for name in (*PROVIDERS, *added)}
    return {**providers, **_native_gemini(env, cfg, providers["google"])}


def _native_gemini(
    env: Mapping[str, str], cfg: Mapping[str, object], google: ProviderSettings
) -> dict[str, ProviderSettings]:
    """Google's own wire beside its OpenAI-compatible one, when a Google key is set: a
    provider `gemini` (wire "gemini", GEMINI_BASE_URL, Google's key and catalogue), so
    google-genai and Gemini CLI reach Gemini's catalogue models by their own names on the
    native routes. A `[providers.gemini]` table of the operator's replaces it."""
    if NATIVE_GEMINI in cfg or not google.api_key:
        return {}
    table = {"wire": "gemini", "base_url": GEMINI_BASE_URL, "api_key": google.api_key}
    return {NATIVE_GEMINI: _provider(NATIVE_GEMINI, env, {NATIVE_GEMINI: table})}


def pricing_terms(
    providers: Mapping[str, ProviderSettings],
) -> tuple[dict[str, str], dict[str, str]]:
    """`load_pricing`'s last arguments for these providers: each added one's catalogue
    provider, and every provider's wire."""
    added = {n: p.catalogue for n, p in providers.items() if n not in DEFAULT_BASE_URLS}
    return added, {n: p.wire for n, p in providers.items()}
