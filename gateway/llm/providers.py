"""Provider adapters: where a model's request goes and how it authenticates there.

Client headers are allow-listed: `anthropic-version` (a date) and, to Anthropic,
`anthropic-beta` as sent (a metered request's betas were checked first: each passes only when
its price effect is priced, see `betas.py`; a token count, which costs nothing, takes them
unchecked). Headers that pick another billing account (`OpenAI-Organization`,
`OpenAI-Project`) never reach the provider.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from billing.quick import quick_init
from gateway.llm.betas import HEADER, forwarded
from gateway.settings import ProviderSettings

ANTHROPIC_VERSION = "2023-06-01"
VERSION_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}")
TEST_HEADERS = ("x-fake-behaviour",)


@quick_init
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
        version = incoming.get("anthropic-version", "")
        headers["anthropic-version"] = (
            version if VERSION_SHAPE.fullmatch(version) else ANTHROPIC_VERSION
        )
        betas = forwarded(incoming)
        if betas:  # an empty header names no beta
            headers[HEADER] = betas
    else:
        headers["authorization"] = f"Bearer {provider.api_key}"
    for name in TEST_HEADERS if forward_test_headers else ():
        if name in incoming:
            headers[name] = incoming[name]
    return Target(provider.base_url + path, headers)
