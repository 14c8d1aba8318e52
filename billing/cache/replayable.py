"""Whether a call may be answered from the cache (or stored in it): only one whose answer a
replay would not betray.

`refusal` answers None, or a short machine reason naming the option that forbids it, which
the gateway logs and shows in its cache header. The rules, and why:

- "disabled": the plan's or account's policy has the cache off.
- a route ("realtime", "batch", "files"): a Realtime session is a conversation, not a call;
  a batch and a background Response are settled later by their own meters; a route that
  uploads files (image edits, audio, the Files API) has a body no JSON key can hold.
- "user": a call naming an end user (`user`, OpenAI's `safety_identifier`, Anthropic's
  `metadata.user_id`, or Meterway's end-user header) is never cached, at any scope. No scope
  is bound to an end user: one key or account serves all of a product's end users, so an
  answer one of them got could be served to another.
- "n": more than one choice (`n`, Gemini's `candidateCount`) asks for variety a replay
  would not give; anything but an absent or 1 `n` is refused.
- "temperature": a sampled answer is not *the* answer. An absent temperature is the
  provider's default, which is 1 for OpenAI, Anthropic and Gemini, so it counts as non-zero;
  only 0 is deterministic, unless the operator allows sampling per plan. Embeddings and
  moderations do not sample, and have no temperature to read.
- "background": a background Response is polled and settled later.
- "conversation": a Responses call in a stored conversation reads state that changes.
- "tools_with_side_effects": a tool the operator marks (by its name, or a built-in tool's
  type) must run each time, so a call offering one is never replayed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from billing.cache.policy import CachePolicy

ROUTES_REFUSED: Mapping[str, str] = {
    "realtime": "realtime",
    "batches": "batch",
    "files": "files",
    "uploads": "files",
    "image_edits": "files",
    "image_variations": "files",
    "transcriptions": "files",
    "translations": "files",
}
UNSAMPLED_ROUTES = frozenset({"embeddings", "moderations"})
_GENERATION_CONFIGS = ("generationConfig", "generation_config")


def refusal(
    route: str,
    body: Mapping[str, object],
    policy: CachePolicy,
    *,
    end_user: str = "",
    side_effect_tools: frozenset[str] = frozenset(),
) -> str | None:
    """None when the call may be cached, else why not (see the module's docstring).

    `route` is the endpoint's name ("chat", "messages", "responses", "realtime"...), `body`
    the JSON the client sent, `end_user` the end-user header's value, `side_effect_tools`
    the tool names (or built-in tool types) the operator marks as having side effects.
    """
    if not policy.enabled:
        return "disabled"
    if route in ROUTES_REFUSED:
        return ROUTES_REFUSED[route]
    checks = (
        ("user", end_user or _names_end_user(body)),
        ("n", _many_choices(body)),
        ("temperature", route not in UNSAMPLED_ROUTES and _samples(body, policy)),
        ("background", body.get("background") is True),
        ("conversation", body.get("conversation") not in (None, "")),
        ("tools_with_side_effects", not side_effect_tools.isdisjoint(_tool_names(body))),
    )
    return next((reason for reason, refused in checks if refused), None)


def _names_end_user(body: Mapping[str, object]) -> bool:
    metadata = body.get("metadata")
    named = [body.get("user"), body.get("safety_identifier")]
    named.append(metadata.get("user_id") if isinstance(metadata, Mapping) else None)
    return any(value not in (None, "") for value in named)


def _generation_config(body: Mapping[str, object]) -> Mapping[str, object]:
    for name in _GENERATION_CONFIGS:
        config = body.get(name)
        if isinstance(config, Mapping):
            return config
    return {}


def _is(value: object, number: int) -> bool:
    """Whether a JSON value is the number `number` (true and false are not numbers)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value == number


def _many_choices(body: Mapping[str, object]) -> bool:
    config = _generation_config(body)
    n = body["n"] if "n" in body else config.get("candidateCount", config.get("candidate_count"))
    return not (n is None or _is(n, 1))


def _samples(body: Mapping[str, object], policy: CachePolicy) -> bool:
    """Whether the call samples and the policy forbids caching a sampled call."""
    if policy.allow_nonzero_temperature:
        return False
    return not _is(body.get("temperature", _generation_config(body).get("temperature")), 0)


def _tool_names(body: Mapping[str, object]) -> Iterator[str]:
    """Each name and built-in type the tools offered carry, in any wire's shape."""
    tools = body.get("tools")
    for tool in tools if isinstance(tools, list) else ():
        if isinstance(tool, Mapping):
            yield from _names_of(tool)


def _names_of(tool: Mapping[str, object]) -> Iterator[str]:
    """A chat tool's `function.name`, a Responses or Anthropic tool's `name` and `type`, a
    Gemini tool's `functionDeclarations[].name`."""
    function = tool.get("function")
    declared = tool.get("functionDeclarations", tool.get("function_declarations"))
    found = [tool.get("name"), tool.get("type")]
    if isinstance(function, Mapping):
        found.append(function.get("name"))
    if isinstance(declared, list):
        found += [d.get("name") for d in declared if isinstance(d, Mapping)]
    yield from (name for name in found if isinstance(name, str))
