"""Bring your own key's pure parts (billing/pricing/byok.py) and its encryption
(services/contracts/byok.py):
the platform fee is the exact list price's share plus the fixed fee, rounded up once, never
above what its reservation holds; a stored key decrypts only for its own row and key."""

from __future__ import annotations

import secrets
from fractions import Fraction
from math import ceil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.money.micros import COST_SCALE
from billing.pricing.byok import (
    ByokFee,
    FeeInvalid,
    KeyShapeInvalid,
    checked_fee,
    checked_key,
    hint,
)
from gateway.services.contracts.byok import seal, unseal

FEES = st.builds(ByokFee, st.integers(0, 10_000), st.integers(0, 1_000_000_000))


def test_five_percent_of_450_micros_is_23() -> None:
    assert ByokFee(500, 0).charged(450 * COST_SCALE) == 23  # 22.5, rounded up once
    assert ByokFee(500, 7).charged(450 * COST_SCALE) == 30  # 29.5, not 23 + 7 rounded twice
    assert ByokFee(0, 0).charged(450 * COST_SCALE) == 0


@given(FEES, st.integers(0, 10**15))
def test_the_fee_is_the_exact_share_rounded_up_once(fee: ByokFee, numerator: int) -> None:
    exact = Fraction(numerator, COST_SCALE) * Fraction(fee.bps, 10_000) + fee.fixed_micros
    assert fee.charged(numerator) == ceil(exact)


@given(FEES, st.integers(0, 10**9), st.integers(0, 10**9))
def test_the_hold_covers_any_cost_within_the_worst_case(
    fee: ByokFee, worst: int, below: int
) -> None:
    numerator = max(worst * COST_SCALE - below, 0)  # any exact cost at most `worst` micros
    assert fee.charged(numerator) <= fee.worst(worst)


@pytest.mark.parametrize(
    ("bps", "fixed", "field"),
    [(-1, 0, "percent_bps"), (10_001, 0, "percent_bps"), (True, 0, "percent_bps"),
     (1.5, 0, "percent_bps"), (0, -1, "fixed_micros"), (0, 10**9 + 1, "fixed_micros"),
     (0, "5", "fixed_micros")],
)  # fmt: skip
def test_a_fee_out_of_bounds_is_refused_naming_its_field(
    bps: object, fixed: object, field: str
) -> None:
    with pytest.raises(FeeInvalid) as refused:
        checked_fee(bps, fixed)
    assert refused.value.field == field


@pytest.mark.parametrize(
    "text", [None, 42, "short", "x" * 513, "has space1", "nul\x00inside", "ünï-cödé-key"]
)
def test_a_key_no_provider_issues_is_refused_without_repeating_it(text: object) -> None:
    with pytest.raises(KeyShapeInvalid) as refused:
        checked_key(text)
    assert not isinstance(text, str) or text not in str(refused.value)


def test_only_the_last_four_characters_are_shown() -> None:
    assert hint("sk-own-1234567890WXYZ") == "...WXYZ"


def test_a_sealed_key_opens_only_for_its_own_row_and_key() -> None:
    key = secrets.token_bytes(32)
    sealed = seal(key, "acct_a", "openai", "own-key-0123456789")
    assert b"own-key" not in sealed
    assert unseal(key, "acct_a", "openai", sealed) == "own-key-0123456789"
    assert unseal(key, "acct_b", "openai", sealed) is None  # copied to another account
    assert unseal(key, "acct_a", "anthropic", sealed) is None  # or another upstream
    assert unseal(secrets.token_bytes(32), "acct_a", "openai", sealed) is None
    assert unseal(key, "acct_a", "openai", sealed[:-1] + bytes([sealed[-1] ^ 1])) is None
    assert seal(key, "acct_a", "openai", "own-key-0123456789") != sealed  # a fresh nonce
