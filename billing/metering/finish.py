# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Why a model stopped, as its answer says: OpenTelemetry's `gen_ai.response.finish_reasons`,
one per choice or candidate, in the provider's own words (`stop`, `end_turn`, `STOP`,
`max_output_tokens`). Pure: read off a plain answer already parsed for its usage."""

from __future__ import annotations

from typing import Any


def _each(items: object, field: str) -> tuple[str, ...]:
    if not isinstance(items, list):
        return ()
    out = []
    for item in items:  # a loop, not a generator: most answers have one choice
        if isinstance(item, dict) and (reason := item.get(field)):
            out.append(str(reason))
    return tuple(out)


def finish_reasons(answer: dict[str, Any]) -> tuple[str, ...]:
    """Chat and completions' `choices[].finish_reason`, Anthropic's `stop_reason`, Gemini's
    `candidates[].finishReason`, a Response's `incomplete_details.reason` (else its
    `status`); () for an answer that has none (embeddings, images)."""
    choices = answer.get("choices")
    if choices is not None:
        if type(choices) is list and len(choices) == 1 and type(choices[0]) is dict:
            reason = choices[0].get("finish_reason")  # one choice: no loop, no list
            return (str(reason),) if reason else ()
        return _each(choices, "finish_reason")
    if "candidates" in answer:
        return _each(answer["candidates"], "finishReason")
    stop = answer.get("stop_reason")
    if isinstance(stop, str):
        return (stop,)
    if answer.get("object") == "response":
        details = answer.get("incomplete_details")
        if isinstance(details, dict) and isinstance(details.get("reason"), str):
            return (details["reason"],)
        status = answer.get("status")
        return (status,) if isinstance(status, str) else ()
    return ()
