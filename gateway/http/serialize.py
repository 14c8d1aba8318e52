"""JSON shapes of accounts, keys and ledger entries, shared by every API that shows them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from gateway.stores.records import HotBalance, Row


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def json_object(value: object) -> dict[str, Any]:
    """A jsonb object column (tags) as asyncpg gives it (text) or decoded, by name (jsonb
    keeps its own order); {} for none."""
    decoded = json.loads(value) if isinstance(value, str) else value
    return dict(sorted(decoded.items())) if isinstance(decoded, dict) else {}


def _markup_now(row: Row) -> int | None:
    """The account's own markup in force now: a scheduled one from its effective time, before
    the price desk's clock folds it in (services/proof/price_changes.py)."""
    at = row.get("next_markup_at")
    due = at is not None and at <= datetime.now(UTC)
    return row.get("next_markup_bps") if due else row.get("markup_bps")


def _next_markup(row: Row) -> dict[str, Any] | None:
    """A reviewed markup change approved and not in force yet."""
    at = row.get("next_markup_at")
    if at is None or at <= datetime.now(UTC):
        return None
    return {
        "markup_bps": row.get("next_markup_bps"),
        "effective_at": at.isoformat(),
        "price_change": row.get("next_markup_change"),
    }


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
        "markup_bps": _markup_now(row),  # its own; None follows its plan's
        "next_markup": _next_markup(row),
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
    """What priced a debit: its rate card's version, the provider's cost, the amount charged
    (the provider cost under the account's price book, marked up; a debit written before
    markups has no provider cost of its own: it was the charge) and the margin between them,
    and the priced dimensions beyond the columns (`book`: the price book that priced it)."""
    debit = row["kind"] == "debit"
    charged = -row["amount_micros"] if debit else None
    provider = row.get("provider_cost_micros")
    provider = charged if debit and provider is None else provider
    return {
        "price_version": row.get("price_version"),
        "provider_cost_micros": provider,
        "charged_micros": charged,
        # The call's margin (a price book's or a markup's): the operator's alone (reseller)
        "gross_margin_micros": None if charged is None or provider is None else charged - provider,
        "usage_detail": row.get("usage_detail"),
    }
