"""redis-py's replies as the tests read them. Its client is typed for decoded and raw replies
alike (`bytes | str`) and for a missing key (`None`); the stores' client is raw, so a test
that reads Redis itself says here, once, that the reply is there and is bytes."""

from __future__ import annotations

from typing import Any, cast


def present(reply: object) -> bytes:
    """A GET / HGET reply that must be there."""
    assert isinstance(reply, bytes), reply
    return reply


def entries(reply: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """An XRANGE reply: each message's id and fields."""
    assert isinstance(reply, list), reply
    for message_id, fields in reply:
        assert isinstance(message_id, bytes) and isinstance(fields, dict), (message_id, fields)
    return cast(list[tuple[bytes, dict[bytes, bytes]]], reply)
