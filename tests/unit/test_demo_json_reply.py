"""The demo upstream answers a request for JSON with a value its schema allows."""

from __future__ import annotations

from gateway.devtools.demo_upstream.json_reply import schema_instance

ROUTER = {  # Gemini CLI's model router asks for this
    "type": "object",
    "properties": {
        "complexity_reasoning": {"type": "string"},
        "complexity_score": {"type": "integer", "minimum": 1, "maximum": 100},
    },
    "required": ["complexity_reasoning", "complexity_score"],
}


def test_every_property_gets_a_value_of_its_type() -> None:
    assert schema_instance(ROUTER) == {"complexity_reasoning": "demo", "complexity_score": 1}


def test_gemini_schemas_enums_arrays_and_booleans() -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "next": {"type": "STRING", "enum": ["user", "model"]},
            "items": {"type": "ARRAY"},
            "done": {"type": ["boolean", "null"]},
        },
    }
    assert schema_instance(schema) == {"next": "user", "items": [], "done": False}
    assert schema_instance(None) == {}
