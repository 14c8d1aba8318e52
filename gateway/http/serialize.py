"""JSON shapes of accounts, keys and ledger entries, shared by every API that shows them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from gateway.stores.records import HotBalance, Row


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def json_object(value: object) -> dict[str, Any]:
    """A jsonb object column (tags) as asyncpg gives it (text) or decoded, by name (jsonb
    keeps its own order); {} for none."""
    decoded = json.loads(value) if isinstance(value, str) else value
    return dict(sorted(decoded.items())) if isinstance(decoded, dict) else {}


def account_json(row: Row, hot: HotBalance | None) -> dict[str, Any]:
    balance, held, available = hot if hot is not None else (None, None, None)
    return {
        "id": row["id"],
        "object": "account",
        "name": row["name"],
        "plan": row["plan"],
        "mode": row["mode"],
        "billing_ready": row["billing_ready"],
        "balance_micros": balance,
        "held_micros": held,
        "available_micros": available,
        "ledger_balance_micros": row["balance_micros"],
        "external_id": row.get("external_id"),
        "markup_bps": row.get("markup_bps"),  # its own; None follows its plan's
        "credit_line_micros": row.get("credit_line_micros", 0),  # the floor is minus it
        "created_at": _iso(row["created_at"]),
    }


def key_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "api_key",
        "account_id": row["account_id"],
        "name": row["name"],
        "prefix": row["key_prefix"],
        "scopes": list(row["scopes"]),
        "models": list(row["models"]),
        "providers": list(row["providers"]),
        "quotas": json.loads(row["quotas"]),
        "tags": json_object(row.get("tags")),
        "on_insufficient": row["on_insufficient"],
        "expires_at": _iso(row["expires_at"]),
        "revoked": row["revoked_at"] is not None,
        "revoked_at": _iso(row["revoked_at"]),
        "created_at": _iso(row["created_at"]),
    }


def key_use_json(row: Row) -> dict[str, Any]:
    """A key with its use, from the rollups: as fresh as the last settlement."""
    return {
        **key_json(row),
        "rotated_from": row["rotated_from"],
        "last_used_at": _iso(row["last_used_at"]),
        "spend_this_month_micros": row["month_spend_micros"],
    }


def entry_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "amount_micros": row["amount_micros"],
        "request_id": row["request_id"],
        "idempotency_key": row["idempotency_key"],
        "key_id": row["key_id"],
        "model": row["model"],
        "provider": row["provider"],
        "input_tokens": row["input_tokens"],
        "cached_input_tokens": row["cached_input_tokens"],
        "cache_write_tokens": row["cache_write_tokens"],
        "output_tokens": row["output_tokens"],
        "reasoning_tokens": row["reasoning_tokens"],
        "usage_source": row["usage_source"],
        "reason": row["reason"],
        "occurred_at": _iso(row["occurred_at"]),
        "meter": row.get("meter"),
        "quantity": row.get("quantity"),
        "service": row.get("service"),
        "metadata": row.get("metadata"),
        "end_user": row.get("end_user"),
        "tags": row.get("tags"),
        **prices_json(row),
    }


def prices_json(row: Row) -> dict[str, Any]:
    """What priced a debit: its rate card's version, the provider's cost and the amount
    charged (the provider cost marked up; a debit written before markups has no provider
    cost of its own: it was the charge), and the priced dimensions beyond the columns."""
    debit = row["kind"] == "debit"
    charged = -row["amount_micros"] if debit else None
    provider = row.get("provider_cost_micros")
    return {
        "price_version": row.get("price_version"),
        "provider_cost_micros": charged if debit and provider is None else provider,
        "charged_micros": charged,
        "usage_detail": row.get("usage_detail"),
    }
