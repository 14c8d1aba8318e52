"""What a cache hit costs, and the operator's cache policy for a plan or an account.

A hit is billed by the operator's choice, never by the gateway's guess: `free`, `full` (what
the call would cost at the current card), a percentage of that in basis points, or a fixed
fee. Money is integer USD micros (billing/money/micros.py); a percentage rounds up exactly
once, in integers, so a hit never costs less than the exact share and at most one micro more.
A hit's ledger entry has its own kind (`HIT_KIND`), so statements and exports tell it apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from billing.cache.scope import SCOPES, ScopeKind
from billing.money.micros import BPS, MAX_EXACT, ceil_div
from billing.names import one_of

HitKind = Literal["free", "full", "percent", "fixed"]
HIT_KINDS: tuple[HitKind, ...] = ("free", "full", "percent", "fixed")
HIT_KIND = "cache_hit"  # the ledger kind of a hit's debit
_ARGUMENT = re.compile(r"(percent|fixed):([0-9]{1,16})")


class CachePolicyError(ValueError):
    """An operator's cache policy (or one of its values) is malformed."""


@dataclass(frozen=True, slots=True)
class HitPolicy:
    """How a hit is billed. `amount` is basis points (0..10000) for `percent`, micros (>= 0)
    for `fixed`, and 0 for `free` and `full`, so two equal policies are one value."""

    kind: HitKind = "full"
    amount: int = 0

    def __post_init__(self) -> None:
        if not one_of(self.kind, HIT_KINDS):
            raise CachePolicyError(f"unknown cache hit policy: {self.kind!r}")
        top = {"percent": BPS, "fixed": MAX_EXACT}.get(self.kind, 0)
        if not 0 <= self.amount <= top:
            raise CachePolicyError(f"cache hit policy {self.kind!r} cannot take {self.amount}")

    def __str__(self) -> str:
        """The text `parse_hit_policy` reads back."""
        return f"{self.kind}:{self.amount}" if self.kind in ("percent", "fixed") else self.kind


_PLAIN = {"free": HitPolicy("free"), "full": HitPolicy("full")}


def parse_hit_policy(text: object) -> HitPolicy:
    """Read "free", "full", "percent:<bps>" or "fixed:<micros>" as an operator writes it in a
    plan or a setting; anything else (a JSON number included) is refused with the bad value
    named, so a typo fails the change instead of billing hits as something nobody chose."""
    if one_of(text, _PLAIN):
        return _PLAIN[text]
    found = _ARGUMENT.fullmatch(text) if isinstance(text, str) else None
    if found is None:
        raise CachePolicyError(f"not a cache hit policy: {text!r}")
    kind: HitKind = "percent" if found[1] == "percent" else "fixed"
    return HitPolicy(kind, int(found[2]))


def hit_cost_micros(policy: HitPolicy, full_cost_micros: int) -> int:
    """What a hit costs, given what the call would cost at the current card. A percentage is
    ceil(full * bps / 10000) in integers: one upward rounding, never a float."""
    if full_cost_micros < 0:
        raise ValueError(f"a call's cost cannot be negative: {full_cost_micros}")
    if policy.kind == "free":
        return 0
    if policy.kind == "full":
        return full_cost_micros
    if policy.kind == "percent":
        return ceil_div(full_cost_micros * policy.amount, BPS)
    return policy.amount


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """The operator's cache policy for a plan or an account.

    Off unless the operator turns it on. Hits bill `full` by default, so turning the cache on
    never lowers the operator's revenue until they choose to pass the saving on. A hit always
    counts against request quotas; it counts tokens only when `count_tokens_on_hit` says so
    (off by default: token quotas guard the provider's capacity and spend, which a hit does
    not use). Entries live at most `max_ttl_s`; one entry holds at most `max_entry_bytes`
    and one account's entries at most `account_bytes`.
    """

    enabled: bool = False
    scope: ScopeKind = "account"
    hit: HitPolicy = field(default_factory=HitPolicy)
    allow_nonzero_temperature: bool = False
    max_ttl_s: int = 3600
    max_entry_bytes: int = 1 << 20
    account_bytes: int = 64 << 20
    count_tokens_on_hit: bool = False

    def __post_init__(self) -> None:
        if not one_of(self.scope, SCOPES):
            raise CachePolicyError(f"unknown cache scope: {self.scope!r}")
        for name in ("max_ttl_s", "max_entry_bytes", "account_bytes"):
            if getattr(self, name) <= 0:
                raise CachePolicyError(f"cache {name} must be positive: {getattr(self, name)}")
        if self.max_entry_bytes > self.account_bytes:
            raise CachePolicyError("cache max_entry_bytes exceeds the account's account_bytes")
