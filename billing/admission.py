"""What the reserve step decided, as plain values the HTTP layer turns into answers.

The hot store returns exactly one of these per request; nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from billing.quotas import METRIC_BY_CODE, WINDOW_BY_CODE


@dataclass(frozen=True, slots=True)
class RateWindow:
    """The tightest window for a metric family, for x-ratelimit-* headers."""

    limit: int
    remaining: int
    reset_at_ms: int


@dataclass(frozen=True, slots=True)
class Admitted:
    request_id: str
    account_id: str
    key_id: str
    shard: int
    held_micros: int
    now_ms: int
    requests: RateWindow | None
    tokens: RateWindow | None
    plan: str


@dataclass(frozen=True, slots=True)
class KeyRefused:
    reason: str  # key_invalid | key_revoked | key_expired


@dataclass(frozen=True, slots=True)
class NotReady:
    """Redis is not known to hold the ledger's state (flushed, or never rebuilt)."""


@dataclass(frozen=True, slots=True)
class QuotaRefused:
    scope: str  # "key" or "account"
    window: str
    metric: str
    limit: int
    used: int
    requested: int
    resets_at_ms: int | None
    plan: str
    now_ms: int  # the store's clock when it refused: Retry-After is measured from here


@dataclass(frozen=True, slots=True)
class BalanceRefused:
    reason: str  # insufficient_balance | no_payment_method
    available_micros: int
    plan: str


Decision = Admitted | KeyRefused | NotReady | QuotaRefused | BalanceRefused


def _window(limit: int, remaining: int, reset: int) -> RateWindow | None:
    return None if limit < 0 else RateWindow(limit, max(0, remaining), reset)


def decode_reply(
    reply: list[object], request_id: str, account_id: str, key_id: str, shard: int, held: int
) -> Decision:
    """Turn the reserve script's flat reply into a typed decision."""
    values = [v.decode() if isinstance(v, bytes) else v for v in reply]
    if values[0] == 1:
        n = [int(str(v)) for v in values[1:8]]
        return Admitted(
            request_id,
            account_id,
            key_id,
            shard,
            held,
            n[0],
            _window(n[1], n[2], n[3]),
            _window(n[4], n[5], n[6]),
            str(values[8]),
        )
    reason = str(values[1])
    if reason == "quota":
        scope, window, metric = str(values[2]), str(values[3]), str(values[4])
        limit, used, requested, reset = (int(str(v)) for v in values[5:9])
        return QuotaRefused(
            "key" if scope == "k" else "account",
            WINDOW_BY_CODE[window],
            METRIC_BY_CODE[metric],
            limit,
            used,
            requested,
            None if reset < 0 else reset,
            str(values[9]),
            int(str(values[10])),
        )
    if reason == "balance":
        return BalanceRefused(str(values[2]), int(str(values[3])), str(values[4]))
    if reason == "not_ready":
        return NotReady()
    if reason == "duplicate":
        raise ValueError(f"request id {request_id} is already reserved")
    return KeyRefused(reason)
