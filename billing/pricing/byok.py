# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Bring your own key: the platform fee a call made with a customer's own provider key is
charged instead of the provider's price, and what a stored key may look like.

The fee is the operator's one setting (docs/guides/byok.md): `bps` basis points of the
call's list price (what it would have cost with the operator's key, before any markup) plus
`fixed_micros` per call. It is worked out from the exact priced cost, `numerator /
COST_SCALE` micros, and rounded up once: `ceil(list x bps / 10_000 + fixed)`. A call's
reservation holds `worst` of its worst case, which is never less than what `charged` can
debit for a cost within that worst case. No markup applies to a fee: it is the operator's
own price, not a provider's cost resold.
"""

from __future__ import annotations

from typing import Final, final

from billing.money.micros import BPS, COST_SCALE, MAX_EXACT, ceil_div
from billing.values import Value

# A fee of at most 100 % of the list price and $1,000 a call: anything above is a typo.
MAX_FEE_BPS = BPS
MAX_FIXED_MICROS = 1_000_000_000
# A provider key is printable ASCII without spaces, of a sane length.
MIN_KEY_CHARS = 8
MAX_KEY_CHARS = 512
HINT_CHARS = 4


class FeeInvalid(ValueError):
    """A platform fee outside what an operator may set; `field` names the one at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class KeyShapeInvalid(ValueError):
    """A provider key no provider issues (empty, too short or long, not printable)."""


@final
class ByokFee(Value):
    """The platform fee of a BYOK call: `bps` of the list price plus `fixed_micros`."""

    def __init__(self, bps: int, fixed_micros: int) -> None:
        self.bps: Final = bps
        self.fixed_micros: Final = fixed_micros

    def charged(self, numerator: int) -> int:
        """Micros debited for a call whose list price is `numerator / COST_SCALE` micros:
        the request's one upward rounding."""
        exact = numerator * self.bps + self.fixed_micros * COST_SCALE * BPS
        return ceil_div(exact, COST_SCALE * BPS)

    def worst(self, list_micros: int) -> int:
        """The fee of a call whose list price is at most `list_micros` (whole micros): what
        its reservation holds and its debit is capped at."""
        return ceil_div(list_micros * self.bps, BPS) + self.fixed_micros


NO_FEE = ByokFee(0, 0)


def checked_fee(bps: object, fixed_micros: object) -> ByokFee:
    """A fee from an operator's input, or FeeInvalid naming the field at fault."""
    if not isinstance(bps, int) or isinstance(bps, bool) or not 0 <= bps <= MAX_FEE_BPS:
        raise FeeInvalid(
            "percent_bps", f"'percent_bps' must be a whole number from 0 to {MAX_FEE_BPS}."
        )
    if (
        not isinstance(fixed_micros, int)
        or isinstance(fixed_micros, bool)
        or not 0 <= fixed_micros <= min(MAX_FIXED_MICROS, MAX_EXACT)
    ):
        raise FeeInvalid(
            "fixed_micros", f"'fixed_micros' must be a whole number from 0 to {MAX_FIXED_MICROS}."
        )
    return ByokFee(bps, fixed_micros)


def checked_key(text: object) -> str:
    """A provider key as a customer pasted it, or KeyShapeInvalid (which never repeats it)."""
    if not isinstance(text, str):
        raise KeyShapeInvalid("'api_key' must be a string.")
    if not MIN_KEY_CHARS <= len(text) <= MAX_KEY_CHARS:
        raise KeyShapeInvalid(
            f"'api_key' must be {MIN_KEY_CHARS} to {MAX_KEY_CHARS} characters long."
        )
    if not text.isascii() or not text.isprintable() or " " in text:
        raise KeyShapeInvalid("'api_key' must be printable ASCII without spaces.")
    return text


def hint(key: str) -> str:
    """The only part of a stored key ever shown again: its last four characters."""
    return "..." + key[-HINT_CHARS:]
