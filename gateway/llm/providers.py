# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Provider adapters: where a model's request goes and how it authenticates there.

Client headers are allow-listed: `anthropic-version` (a date) and, to Anthropic,
`anthropic-beta` as sent (a metered request's betas were checked first: each passes only when
its price effect is priced, see `betas.py`; a token count, which costs nothing, takes them
unchecked). Headers that pick another billing account (`OpenAI-Organization`,
`OpenAI-Project`) never reach the provider.

Azure OpenAI takes OpenAI's bodies under `/openai`: with a dated `api_version`, the routes a
deployment serves (chat, completions, embeddings) at `/openai/deployments/{deployment}/...`
and the others (Responses) at `/openai/...`, each with `?api-version=`; without one, the v1
API at `/openai/v1/...`. Its key goes as `api-key`, or an Entra token as a bearer token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Final, final
from urllib.parse import quote

from billing.values import Value
from gateway.config.settings import ProviderSettings
from gateway.llm.reading.betas import HEADER, forwarded

ANTHROPIC_VERSION = "2023-06-01"
VERSION_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}")
TEST_HEADERS = ("x-fake-behaviour",)
AZURE_DEPLOYMENT_PATHS = frozenset({"/chat/completions", "/completions", "/embeddings"})
# The gateway span's context as headers (`traceparent`, and B3's when OTEL_PROPAGATORS names
# it), set by the tracer (http/observability/tracer.py) in the request's task when tracing is on: a
# context variable, so no call between the handler and here carries it. Sent only to a
# provider that forwards traces (TRACE_FORWARD_PROVIDERS).
TRACE_HEADERS: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("trace_headers", default=())
# The account's own provider keys by upstream, set by the proxy in the request's task for a
# call made with them (services/contracts/byok.py): a call to an upstream named here authenticates
# with the account's key in place of the operator's. A context variable, as TRACE_HEADERS.
BYOK_KEYS: ContextVar[Mapping[str, str] | None] = ContextVar("byok_keys", default=None)


def own_keys() -> tuple[str, ...]:
    """The keys of the call in this task made with an account's own keys, for scrubbing."""
    keys = BYOK_KEYS.get()
    return () if keys is None else tuple(keys.values())


def _own_key(provider: ProviderSettings) -> str | None:
    keys = BYOK_KEYS.get()
    return None if keys is None else keys.get(provider.name)


@final
class Target(Value):
    def __init__(self, url: str, headers: dict[str, str], path: str) -> None:
        self.url: Final = url
        self.headers: Final = headers
        self.path: Final = path  # under the provider's base URL, with its query


def azure_path(provider: ProviderSettings, path: str, model: str) -> str:
    """Where `path` ("/chat/completions") of deployment `model` lives on an Azure resource."""
    if not provider.api_version:
        return "/openai/v1" + path
    version = "?api-version=" + provider.api_version
    if path in AZURE_DEPLOYMENT_PATHS:
        return f"/openai/deployments/{quote(model, safe='')}{path}{version}"
    return "/openai" + path + version


def target(
    provider: ProviderSettings,
    path: str,
    incoming: Mapping[str, str],
    forward_test_headers: bool = False,
    model: str = "",
) -> Target:
    """`path` is relative to the provider's API root ("/chat/completions", "/v1/messages");
    `model` is the model id sent upstream (Azure's deployment, Google's model)."""
    headers = {"content-type": "application/json", "accept-encoding": "identity"}
    own = _own_key(provider)
    key = provider.api_key if own is None else own
    if provider.wire == "openai":
        headers["authorization"] = f"Bearer {key}"
    elif provider.wire == "anthropic":
        headers["x-api-key"] = key
        version = incoming.get("anthropic-version", "")
        headers["anthropic-version"] = (
            version if VERSION_SHAPE.fullmatch(version) else ANTHROPIC_VERSION
        )
        _betas(incoming, headers)
    else:
        path = _cloud(provider, path, incoming, model, headers, own)
    for name in TEST_HEADERS if forward_test_headers else ():
        if name in incoming:
            headers[name] = incoming[name]
    if provider.forward_trace:
        headers.update(TRACE_HEADERS.get())
    return Target(provider.base_url + path, headers, path)


def _betas(incoming: Mapping[str, str], headers: dict[str, str]) -> None:
    betas = forwarded(incoming)
    if betas:  # an empty header names no beta
        headers[HEADER] = betas


def _cloud(
    provider: ProviderSettings,
    path: str,
    incoming: Mapping[str, str],
    model: str,
    headers: dict[str, str],
    own: str | None = None,
) -> str:
    """Azure's, Google's and Vertex's paths and credentials: the path as sent. `own`: an
    account's own key (an Azure api-key or a Gemini API key), in place of the operator's."""
    if provider.wire == "azure":
        if own is not None:
            headers["api-key"] = own
        elif provider.entra_token:
            headers["authorization"] = f"Bearer {provider.entra_token}"
        else:
            headers["api-key"] = provider.api_key
        return azure_path(provider, path, model)
    if provider.wire == "gemini":
        headers["x-goog-api-key"] = provider.api_key if own is None else own
    else:  # Vertex AI's, Gemini's or Anthropic's models: an OAuth access token
        headers["authorization"] = f"Bearer {provider.api_key}"
    if provider.wire == "vertex-anthropic":
        _betas(incoming, headers)
        return path
    return f"/models/{quote(model, safe='')}{path}" if model else path
