# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Leases: a slice of an account's headroom a gateway process may spend without asking Redis.

A lease is a reservation of several requests' worth at once (RFC 4006's granted units): Redis
holds it exactly as it holds one request's worst case, in the balance and in every quota
window the key counts in, so the leases of all processes together never exceed what is free.
The process then admits each request against its own `Pool`, with that request's worst case,
and appends what the request used; the lease's record in Redis is brought up to date from
those appends in batches, and what is left of it is given back when it ends.

This module holds the arithmetic both sides agree on:
- `Unit`: one request's worst case; a lease is `count` units (`grant_count`).
- `Pool`: what is left of a lease in the process: a request is admitted only when every
  amount it may use fits, so the requests a lease admits never exceed what it holds.
- `Rate` and `wanted_count`: how many units to ask for, from the key's recent rate. A key
  that sees fewer than `MIN_UNITS` requests in a lease's horizon is not leased at all: its
  calls take the per-request path, which costs Redis less for them.
- `lease_end_ms`: when a lease stops admitting. A lease never outlives the 5-second granule
  it was granted in (so a sliding window counts its requests in the granule they were made
  in, as a per-request reservation does), nor the instant anything it was priced by changes
  (a scheduled markup, the key's expiry, a grant's end), nor `MAX_LIFE_MS`: a revocation or
  a lowered limit therefore holds on every process within `MAX_LIFE_MS` at worst.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, final

GRANULE_MS: Final = 5_000  # the minute window's granule (reserve.lua: SLIDE.mi / GRANULES)
MAX_LIFE_MS: Final = 1_000  # the longest a lease admits requests
HORIZON_MS: Final = 250  # a lease holds about this much of the key's recent traffic
MIN_UNITS: Final = 4  # fewer expected in the horizon: not worth a lease
MAX_UNITS: Final = 512
SHARE_BPS: Final = 2_500  # at most a quarter of any headroom (balance or window) per lease
BPS: Final = 10_000


@dataclass(frozen=True, slots=True)
class Unit:
    """One request's worst case: the amounts a lease holds `count` of. Made per lease, not
    per call: not a hot value (billing/values.py)."""

    input_tokens: int
    output_tokens: int
    spend_micros: int

    def per_metric(self) -> dict[str, int]:
        """The unit by reserve.lua's metric codes (billing/money/quotas.py)."""
        i, o = self.input_tokens, self.output_tokens
        return {"r": 1, "i": i, "o": o, "t": i + o, "s": self.spend_micros}


def grant_count(asked: int, unit: Unit, rooms: dict[str, int], share_bps: int = SHARE_BPS) -> int:
    """How many units a lease takes: at most `asked`, and at most `share_bps` of each room
    (`r` requests, `i` `o` `t` tokens, `s` spend micros: the least headroom of every window
    and of the balance that counts it); 0 when that is under `MIN_UNITS` (the headroom is
    small: the account takes the per-request path). reserve.lua computes the same."""
    per = unit.per_metric()
    count = asked
    for metric, room in rooms.items():
        each = per.get(metric, 0)
        if each > 0:
            count = min(count, max(0, room) * share_bps // BPS // each)
    return count if count >= MIN_UNITS else 0


def lease_end_ms(now_ms: int, *changes_ms: int) -> int:
    """The instant a lease granted at `now_ms` stops admitting: the end of its granule, or
    `MAX_LIFE_MS` on, or the first of `changes_ms` still to come (0: none), if sooner."""
    end = min(now_ms + MAX_LIFE_MS, (now_ms // GRANULE_MS + 1) * GRANULE_MS)
    for at in changes_ms:
        if now_ms < at < end:
            end = at
    return end


@final
class Pool:
    """What a lease has left in its process. Not a value: admissions take from it and
    releases give back, on one event loop."""

    __slots__ = ("input_tokens", "output_tokens", "requests", "spend_micros")

    def __init__(self, requests: int, input_tokens: int, output_tokens: int, spend: int) -> None:
        self.requests = requests
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.spend_micros = spend

    @classmethod
    def of(cls, count: int, unit: Unit, spend_micros: int) -> Pool:
        """A lease of `count` units, whose spend Redis held as `spend_micros` (marked up)."""
        return cls(count, count * unit.input_tokens, count * unit.output_tokens, spend_micros)

    def take(self, input_tokens: int, output_tokens: int, spend_micros: int) -> bool:
        """Admit one request whose worst case fits every amount left; False takes nothing."""
        if (
            self.requests < 1
            or input_tokens > self.input_tokens
            or output_tokens > self.output_tokens
            or spend_micros > self.spend_micros
        ):
            return False
        self.requests -= 1
        self.input_tokens -= input_tokens
        self.output_tokens -= output_tokens
        self.spend_micros -= spend_micros
        return True

    def give_back(
        self, input_tokens: int, output_tokens: int, spend_micros: int, request: bool = True
    ) -> None:
        """Return a request's worst case it will not use (`request` False: the request was
        forwarded and stays counted)."""
        self.requests += 1 if request else 0
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.spend_micros += spend_micros

    def low(self, count: int) -> bool:
        """Whether under a quarter of the `count` requests granted is left: time to top up."""
        return self.requests * 4 < count


@final
class Rate:
    """A key's recent request rate: requests counted per `HORIZON_MS` bucket, the last full
    bucket's count kept (no clock per request beyond the caller's)."""

    __slots__ = ("_bucket", "_count", "last")

    def __init__(self) -> None:
        self._bucket = -1
        self._count = 0
        self.last = 0  # requests in the last full horizon

    def seen(self, now_ms: int) -> None:
        bucket = now_ms // HORIZON_MS
        if bucket != self._bucket:
            self.last = self._count if bucket == self._bucket + 1 else 0
            self._bucket, self._count = bucket, 0
        self._count += 1

    def quiet(self, now_ms: int) -> bool:
        """Nothing seen in the last two horizons: the key is not busy."""
        return now_ms // HORIZON_MS > self._bucket + 1

    def current(self) -> int:
        """The busier of the last full horizon and the one under way."""
        return max(self.last, self._count)


def wanted_count(rate: Rate) -> int:
    """Units to ask a lease for: the key's traffic over one horizon, doubled so a lease
    outlasts a top-up's round trip, up to `MAX_UNITS`; 0 (no lease) under `MIN_UNITS`."""
    seen = rate.current()
    return 0 if seen < MIN_UNITS else min(MAX_UNITS, 2 * seen)
