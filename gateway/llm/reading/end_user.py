"""Reading a request's end user: the `x-meterway-end-user` header, else the body's own field
(`user` on OpenAI's wire, `metadata.user_id` on Anthropic's). The header wins so a client
can name its end user without changing the body the provider sees."""

from __future__ import annotations

from typing import Any

from billing.money.end_users import HEADER, end_user_id


def end_user_of(wire: str, body: dict[str, Any], header: str | None) -> tuple[str, str]:
    """(the id as `billing.money.end_users.end_user_id` gives it, where it came from)."""
    if header is not None:
        return end_user_id(header), HEADER
    if wire == "anthropic":
        meta = body.get("metadata")
        return end_user_id(meta.get("user_id") if isinstance(meta, dict) else None), (
            "metadata.user_id"
        )
    return end_user_id(body.get("user")), "user"
