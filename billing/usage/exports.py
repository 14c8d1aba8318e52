"""What a settled ledger debit looks like to an external billing system, and when to retry.

Pure: the identifier of an export is derived from the ledger row alone (its request id and
kind), so a resend after a crash carries the same identifier and the receiver drops it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

STRIPE_HORIZON = timedelta(days=35)  # Stripe refuses meter events older than 35 days
STRIPE_MARGIN = timedelta(hours=1)  # ...measured on its clock: keep clear of the edge
RETRY_BASE_S, RETRY_MAX_S = 30, 6 * 3600


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One debit to export, and the account's id at the receiving system."""

    entry_id: int
    account_id: str
    request_id: str
    cost_micros: int
    occurred_at: datetime
    customer: str  # Stripe customer id, or Lago external subscription id
    meter: str | None = None
    quantity: int | None = None
    model: str | None = None
    metadata: dict[str, Any] | None = None  # what a metering service sent with the debit


@dataclass(frozen=True, slots=True)
class Outcome:
    entry_id: int
    delivered: bool  # accepted now, or already held by the receiver (a resend)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One batch: the rows that were due, the receiver's answer for those sent, and the ids
    of those too old to send. Recorded whole, each row with its debit."""

    rows: Sequence[ExportRow]
    outcomes: Sequence[Outcome]
    expired: Sequence[int]


def identifier(row: ExportRow) -> str:
    """Stable across resends and processes: the ledger's own unique request id."""
    return f"mw-debit-{row.request_id}"


def too_old_for_stripe(row: ExportRow, now: datetime) -> bool:
    return row.occurred_at < now - STRIPE_HORIZON + STRIPE_MARGIN


def stripe_meter_event(row: ExportRow, event_name: str) -> dict[str, str]:
    """Form fields of POST /v1/billing/meter_events; the value is the cost in USD micros."""
    return {
        "event_name": event_name,
        "identifier": identifier(row),
        "timestamp": str(int(row.occurred_at.timestamp())),
        "payload[stripe_customer_id]": row.customer,
        "payload[value]": str(row.cost_micros),
    }


def lago_event(row: ExportRow, code: str) -> dict[str, Any]:
    """One event of POST /api/v1/events/batch; Lago drops a repeated transaction_id."""
    properties: dict[str, Any] = {"cost_micros": row.cost_micros}
    if row.meter is not None:
        properties.update(meter=row.meter, quantity=row.quantity)
    if row.metadata:
        properties["metadata"] = row.metadata
    if row.model is not None:
        properties["model"] = row.model
    return {
        "transaction_id": identifier(row),
        "external_subscription_id": row.customer,
        "code": code,
        "timestamp": int(row.occurred_at.timestamp()),
        "properties": properties,
    }


def retry_delay_s(attempts: int) -> int:
    """Exponential from 30 s, capped at 6 h: a receiver that is down is not hammered."""
    return int(min(RETRY_BASE_S * 2 ** max(attempts - 1, 0), RETRY_MAX_S))
