"""The demo's answer to a request for JSON: the smallest value its schema allows.

Clients that ask for structured output (Gemini CLI's model router asks for a JSON object
with a score) parse the reply and retry when it does not parse; echoing the prompt would
make every such call fail, so the demo answers with a value of the schema instead."""

from __future__ import annotations

from typing import Any


def schema_instance(schema: object) -> Any:
    """A value of `schema` (JSON Schema, or Gemini's Schema with upper-case types): every
    declared property, each at its first enum value, minimum, `false`, `[]` or "demo"."""
    if not isinstance(schema, dict):
        return {}
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "object")
    kind = str(kind[0] if isinstance(kind, list) and kind else kind).lower()
    if kind == "object":
        props = schema.get("properties")
        fields = props if isinstance(props, dict) else {}
        return {name: schema_instance(value) for name, value in fields.items()}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    return False if kind == "boolean" else "demo"
