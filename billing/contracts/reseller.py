"""A reseller's view: what the gateway's customers see of its own economics.

An operator who resells provider traffic with a markup keeps the markup, the provider's
cost and the margin to itself: the account API, the dashboard and the CLI of an account
drop them unless the operator turns them on (SHOW_PROVIDER_COST=1). The operator's own
surfaces (admin API, operator pages) always show them. Pure: the surfaces call these.
"""

from __future__ import annotations

from typing import Any

from billing import audience
from billing.pricing.explain import EXACT_COST

# Fields that tell a customer what the operator pays and keeps: billing/audience.py's.
PRIVATE = audience.OPERATOR_ONLY


def for_customer(body: Any, show_cost: bool) -> Any:
    """`body` (a JSON-able value) without the operator's private fields, at any depth,
    unless the operator shows them."""
    return body if show_cost else audience.for_customer(body)


def columns_for_customer(columns: tuple[str, ...], show_cost: bool) -> tuple[str, ...]:
    """A report's columns (a CSV's header) without the private ones, unless shown."""
    return columns if show_cost else audience.customer_columns(columns)


def arithmetic_for_customer(
    lines: list[str] | None, charged: int, provider_cost: int | None, show_cost: bool
) -> list[str] | None:
    """A debit's price arithmetic as its customer may read it. The rate card is the
    provider's: where the debit was marked up, it and the provider's cost would give the
    markup away, so the customer reads only what was charged; without a markup the card is
    the customer's price too, and the last line says what was debited."""
    if show_cost or lines is None:
        return lines
    if provider_cost is not None and provider_cost != charged:
        return [*lines[:1], f"  charged {charged:,} micros"]
    said = [line.replace(EXACT_COST, "exact cost") for line in lines[:-1]]
    return [*said, f"  debited {charged:,} micros"]
