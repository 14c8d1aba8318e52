"""Which calls a cache may replay, and the reason named for each one it may not."""

from __future__ import annotations

from typing import Any

import pytest

from billing.cache import SCOPES, CachePolicy, refusal

ON = CachePolicy(enabled=True)
SAMPLING = CachePolicy(enabled=True, allow_nonzero_temperature=True)
CHAT: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "temperature": 0,
    "messages": [{"role": "user", "content": "hi"}],
}


def test_a_deterministic_call_may_be_cached() -> None:
    assert refusal("chat", CHAT, ON) is None
    assert refusal("chat", {**CHAT, "n": 1, "stream": True, "user": ""}, ON) is None
    assert refusal("messages", {**CHAT, "temperature": 0.0, "metadata": {}}, ON) is None


def test_nothing_is_cached_when_the_policy_is_off() -> None:
    assert refusal("chat", CHAT, CachePolicy()) == "disabled"


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        ("realtime", "realtime"),
        ("batches", "batch"),
        ("files", "files"),
        ("uploads", "files"),
        ("image_edits", "files"),
        ("transcriptions", "files"),
    ],
)
def test_some_routes_are_never_replayed(route: str, reason: str) -> None:
    assert refusal(route, CHAT, SAMPLING) == reason


@pytest.mark.parametrize(
    "changes",
    [
        {"user": "end-user-1"},
        {"safety_identifier": "hash-1"},
        {"metadata": {"user_id": "end-user-1"}},
    ],
)
def test_a_call_naming_an_end_user_is_never_cached_at_any_scope(changes: dict[str, Any]) -> None:
    for scope in SCOPES:
        policy = CachePolicy(enabled=True, scope=scope)
        assert refusal("chat", {**CHAT, **changes}, policy) == "user"
    assert refusal("chat", CHAT, ON, end_user="end-user-1") == "user"


@pytest.mark.parametrize("n", [2, 0, 1.5, True, "1", [1]])
def test_anything_but_one_choice_is_refused(n: object) -> None:
    assert refusal("chat", {**CHAT, "n": n}, SAMPLING) == "n"


def test_gemini_candidates_count_as_choices() -> None:
    gemini = {"generationConfig": {"temperature": 0, "candidateCount": 2}}
    assert refusal("generate_content", gemini, ON) == "n"
    gemini["generationConfig"]["candidateCount"] = 1
    assert refusal("generate_content", gemini, ON) is None


@pytest.mark.parametrize("temperature", [0.7, 1, 2.0, "0", None, False, -0.1])
def test_a_sampled_call_is_refused_unless_the_plan_allows_it(temperature: object) -> None:
    assert refusal("chat", {**CHAT, "temperature": temperature}, ON) == "temperature"
    assert refusal("chat", {**CHAT, "temperature": temperature}, SAMPLING) is None


def test_an_absent_temperature_is_the_providers_default_which_samples() -> None:
    body = {k: v for k, v in CHAT.items() if k != "temperature"}
    assert refusal("chat", body, ON) == "temperature"
    assert refusal("messages", body, ON) == "temperature"
    assert refusal("generate_content", {"generationConfig": {}}, ON) == "temperature"
    assert refusal("generate_content", {"generationConfig": {"temperature": 0}}, ON) is None


def test_embeddings_and_moderations_do_not_sample() -> None:
    assert refusal("embeddings", {"model": "text-embedding-3-small", "input": "hi"}, ON) is None
    assert refusal("moderations", {"input": "hi"}, ON) is None


def test_background_responses_and_conversations_are_refused() -> None:
    assert refusal("responses", {**CHAT, "background": True}, ON) == "background"
    assert refusal("responses", {**CHAT, "background": False}, ON) is None
    assert refusal("responses", {**CHAT, "conversation": "conv_1"}, ON) == "conversation"


def test_a_tool_the_operator_marks_is_refused_in_every_wire_shape() -> None:
    marked = frozenset({"send_email", "web_search"})
    shapes: list[dict[str, Any]] = [
        {"type": "function", "function": {"name": "send_email"}},  # chat
        {"type": "function", "name": "send_email"},  # responses
        {"name": "send_email", "input_schema": {}},  # anthropic
        {"type": "web_search"},  # a built-in tool, by type
        {"functionDeclarations": [{"name": "other"}, {"name": "send_email"}]},  # gemini
    ]
    for tool in shapes:
        body = {**CHAT, "tools": [{"type": "function", "function": {"name": "ok"}}, tool]}
        assert refusal("chat", body, ON, side_effect_tools=marked) == "tools_with_side_effects"
    harmless = {**CHAT, "tools": [{"type": "function", "function": {"name": "lookup"}}]}
    assert refusal("chat", harmless, ON, side_effect_tools=marked) is None
    assert refusal("chat", {**CHAT, "tools": "nonsense"}, ON, side_effect_tools=marked) is None
    assert refusal("chat", {**CHAT, "tools": [None, 3]}, ON, side_effect_tools=marked) is None
