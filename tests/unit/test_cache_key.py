"""The cache key: any field that reaches the provider changes it, delivery does not, and
no two scopes share one."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from billing.cache import VERSION, cache_key, scope_token

ACCOUNT = scope_token("account", "acct_1", "key_1", "org_1")
BODY: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "temperature": 0,
    "messages": [
        {"role": "system", "content": "You are terse."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            ],
        },
    ],
    "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {}}}],
    "response_format": {"type": "json_object"},
}


def key(body: dict[str, Any] | None = None, **parts: str) -> str:
    given = {"scope_token": ACCOUNT, "route": "chat", "upstream": "openai", "model": "gpt-4o"}
    return cache_key(**{**given, **parts}, body=BODY if body is None else body)


def changed(edit: str, value: object) -> dict[str, Any]:
    """BODY with one place changed; `edit` is a path of keys and indexes."""
    body = copy.deepcopy(BODY)
    *path, last = [int(p) if p.isdigit() else p for p in edit.split(".")]
    place: Any = body
    for step in path:
        place = place[step]
    place[last] = value
    return body


def test_a_key_is_tagged_with_its_version_and_is_stable() -> None:
    assert re.fullmatch(r"mwc1:[0-9a-f]{64}", key())
    assert VERSION == "mwc1:"
    assert key() == key(copy.deepcopy(BODY))
    assert key(dict(reversed(list(BODY.items())))) == key()  # key order is not meaning


@pytest.mark.parametrize(
    ("edit", "value"),
    [
        ("messages.0.content", "You are verbose."),  # the system prompt
        ("messages.1.content.0.text", "What is that?"),
        ("messages.1.content.1.image_url.url", "https://example.com/b.png"),  # an image part
        ("tools.0.function.name", "search"),
        ("tools.0.function.parameters", {"type": "object"}),
        ("response_format", {"type": "text"}),
        ("temperature", 0.5),
        ("max_tokens", 10),
        ("seed", 7),
        ("user", "u1"),
        ("metadata", {"a": "b"}),
    ],
)
def test_any_field_that_reaches_the_provider_changes_the_key(edit: str, value: object) -> None:
    assert key(changed(edit, value)) != key()


def test_dropping_a_field_changes_the_key() -> None:
    for name in ("tools", "response_format", "temperature"):
        body = {k: v for k, v in BODY.items() if k != name}
        assert key(body) != key()


def test_streamed_and_plain_calls_share_a_key() -> None:
    streamed = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
    assert key(streamed) == key({**BODY, "stream": False}) == key()
    gemini = {"contents": [{"parts": [{"text": "hi"}]}]}
    assert key(gemini, route="stream_generate_content") == key(gemini, route="generate_content")


def test_route_upstream_and_model_each_change_the_key() -> None:
    base = key()
    assert key(route="responses") != base
    assert key(upstream="azure") != base
    assert key(model="gpt-4o-2024-08-06") != base


def test_scopes_and_accounts_never_share_a_key() -> None:
    tokens = {
        scope_token("account", "acct_1", "key_1", "org_1"),
        scope_token("account", "acct_2", "key_1", "org_1"),
        scope_token("key", "acct_1", "key_1", "org_1"),
        scope_token("key", "acct_1", "key_2", "org_1"),
        scope_token("organization", "acct_1", "key_1", "org_1"),
        scope_token("organization", "acct_1", "key_1", "org_2"),
    }
    assert len(tokens) == 6
    assert len({key(scope_token=token) for token in tokens}) == 6


def test_numbers_equal_as_numbers_key_alike() -> None:
    assert key(changed("temperature", 0.0)) == key(changed("temperature", 0))
    assert key(changed("temperature", -0.0)) == key()
    assert key({**BODY, "max_tokens": 100.0}) == key({**BODY, "max_tokens": 100})
    assert key({**BODY, "top_p": 0.1}) != key({**BODY, "top_p": 0.10000000000000002})
    assert key({**BODY, "logprobs": True}) != key({**BODY, "logprobs": 1})
    assert key({**BODY, "stop": ["é"]}) != key({**BODY, "stop": ["e"]})


def test_a_body_that_is_not_json_has_no_key() -> None:
    with pytest.raises(ValueError):
        key({**BODY, "temperature": float("nan")})
