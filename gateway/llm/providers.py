"""Provider adapters: where a model's request goes and how it authenticates there."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.settings import ProviderSettings

ANTHROPIC_VERSION = "2023-06-01"
PASSTHROUGH_ANTHROPIC = ("anthropic-version", "anthropic-beta")
PASSTHROUGH_OPENAI = ("openai-organization", "openai-project")
TEST_HEADERS = ("x-fake-behaviour",)


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    headers: dict[str, str]


def target(
    provider: ProviderSettings,
    path: str,
    incoming: Mapping[str, str],
    forward_test_headers: bool = False,
) -> Target:
    """`path` is relative to the provider's API root ("/chat/completions", "/v1/messages")."""
    headers = {"content-type": "application/json", "accept-encoding": "identity"}
    if provider.wire == "anthropic":
        headers["x-api-key"] = provider.api_key
        headers["anthropic-version"] = incoming.get("anthropic-version", ANTHROPIC_VERSION)
        names: tuple[str, ...] = PASSTHROUGH_ANTHROPIC
    else:
        headers["authorization"] = f"Bearer {provider.api_key}"
        names = PASSTHROUGH_OPENAI
    if forward_test_headers:
        names = names + TEST_HEADERS
    for name in names:
        if name in incoming:
            headers[name] = incoming[name]
    return Target(provider.base_url + path, headers)
