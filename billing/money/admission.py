# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""What the reserve step decided, as plain values the HTTP layer turns into answers.

The hot store returns exactly one of these per request (it decodes the reserve script's
reply in gateway/stores/redis/wire/replies.py); nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, final

from billing.values import Value


@final
class RateWindow(Value):
    """The tightest window for a metric family, for x-ratelimit-* headers."""

    def __init__(self, limit: int, remaining: int, reset_at_ms: int) -> None:
        self.limit: Final = limit
        self.remaining: Final = remaining
        self.reset_at_ms: Final = reset_at_ms


@final
class Admitted(Value):
    def __init__(
        self,
        request_id: str,
        account_id: str,
        key_id: str,
        shard: int,
        held_micros: int,
        now_ms: int,
        requests: RateWindow | None,
        tokens: RateWindow | None,
        plan: str,
        markup_bps: int = 0,
        byok_version: int = 0,
    ) -> None:
        self.request_id: Final = request_id
        self.account_id: Final = account_id
        self.key_id: Final = key_id
        self.shard: Final = shard
        self.held_micros: Final = held_micros
        self.now_ms: Final = now_ms
        self.requests: Final = requests
        self.tokens: Final = tokens
        self.plan: Final = plan
        # The account's markup over provider cost (its own, else its plan's)
        self.markup_bps: Final = markup_bps
        # The account's BYOK version in the hot store (its `bk`; 0 none): services/contracts/byok.py
        self.byok_version: Final = byok_version


@dataclass(frozen=True, slots=True)
class KeyRefused:
    reason: str  # key_invalid | key_revoked | key_paused | key_expired | account_pending


@dataclass(frozen=True, slots=True)
class EndUserInvalid:
    """An end-user budget applies and the request's end user id is out of bounds."""


@dataclass(frozen=True, slots=True)
class EndUsersFull:
    """A new end user, and the account already has `limit` end users with live windows."""

    limit: int
    plan: str
    now_ms: int


@dataclass(frozen=True, slots=True)
class NotReady:
    """Redis is not known to hold the ledger's state (flushed, or never rebuilt)."""


@dataclass(frozen=True, slots=True)
class DuplicateRequest:
    """A reservation with this request id is already open: the same request twice."""

    request_id: str


@dataclass(frozen=True, slots=True)
class QuotaRefused:
    scope: str  # "key", "team", "account" or "end_user"
    window: str
    metric: str
    limit: int
    used: int
    requested: int
    resets_at_ms: int | None
    plan: str
    now_ms: int  # the store's clock when it refused: Retry-After is measured from here
    scope_id: str = ""  # the key's, the account's or the end user's id
    scope_name: str = ""  # its name as people know it (filled on the refusal path)


def output_room(refusal: QuotaRefused, input_tokens: int) -> int | None:
    """The output tokens a full token window still has room for beside `input_tokens`
    (its `tokens` counts both, `output_tokens` the output only); None for a window that
    counts no output: lowering a call's cap cannot make it fit."""
    room = refusal.limit - refusal.used
    if refusal.metric == "tokens":
        return room - input_tokens
    return room if refusal.metric == "output_tokens" else None


@dataclass(frozen=True, slots=True)
class BalanceRefused:
    reason: str  # insufficient_balance | no_payment_method | commitment_exhausted
    available_micros: int
    plan: str
    markup_bps: int = 0  # the account's markup: the spend it was refused was marked up by it


Decision = (
    Admitted
    | KeyRefused
    | NotReady
    | QuotaRefused
    | BalanceRefused
    | DuplicateRequest
    | EndUserInvalid
    | EndUsersFull
)
