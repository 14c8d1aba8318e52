# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Money is an integer count of USD micros (1 USD = 1_000_000 micros); no float ever holds one.

Prices are quoted per million tokens, so a price is held as *rate units*: micro-USD per
1M tokens. A request's cost is the exact integer sum of tokens x rate over every usage field,
divided by 1_000_000 once and rounded up (ceiling). Rounding once per request, never per
field, keeps a request's cost within one micro of the exact value and never below it.
"""

from __future__ import annotations

from decimal import Context, Decimal, Inexact, InvalidOperation

MICROS_PER_USD = 1_000_000
# JSON carries amounts as numbers: above this a client's double stops holding every micro.
MAX_EXACT = 2**53 - 1
# The largest credit line an operator may give an account (a billion dollars): far inside
# the exact integers of the Lua scripts' doubles, whatever the balance.
MAX_CREDIT_LINE_MICROS = 10**15
TOKENS_PER_RATE = 1_000_000
# Multiplying by 10**6 must be exact: the default context would silently round a 29th digit
# or underflow "1e-999999999" to zero; a bounded exponent also keeps the int small.
_EXACT = Context(prec=64, Emax=40, Emin=-64, traps=[InvalidOperation, Inexact])


class MoneyFormatError(ValueError):
    """A decimal string that cannot be held exactly in micros."""


def parse_usd(text: object) -> int:
    """Parse a decimal USD string ("0.15") into micros, refusing anything inexact. ASCII
    only: `Decimal` would read '٣' as 3 and '1_000' as 1000, which no person means. Any
    other value (a JSON number, null) is refused as money too, in both builds: it is
    typed `object` so that the compiled one does not refuse it as a TypeError first."""
    if not isinstance(text, str):
        raise MoneyFormatError(f"not a decimal amount: {text!r}")
    try:
        if not text.isascii() or "_" in text:
            raise InvalidOperation
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise MoneyFormatError(f"not a decimal amount: {text!r}") from exc
    if not value.is_finite():
        raise MoneyFormatError(f"not a finite amount: {text!r}")
    try:
        micros = _EXACT.multiply(value, MICROS_PER_USD)
    except Inexact as inexact:
        raise MoneyFormatError(f"{text!r} cannot be held exactly in micros") from inexact
    if micros != micros.to_integral_value():
        raise MoneyFormatError(f"{text!r} has more precision than one micro-dollar")
    return int(micros)


def format_usd(micros: int) -> str:
    """Render micros as a plain USD string with six decimals ("0.000150")."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), MICROS_PER_USD)
    return f"{sign}{whole}.{frac:06d}"


def ceil_div(numerator: int, denominator: int) -> int:
    """Integer ceiling division for non-negative numerators."""
    return -(-numerator // denominator)


# A priced sum is held exactly as an integer over COST_SCALE: the least common multiple of
# every price unit's `per` (1M tokens, 1k calls, 3,600 seconds, 1G pixels), so a rate of
# micro-USD per `per` units scales to a whole number per unit.
COST_SCALE = 9_000_000_000
BPS = 10_000  # basis points in one


def charge(numerator: int, markup_bps: int = 0) -> int:
    """Micros charged for an exact cost of `numerator / COST_SCALE` micros marked up by
    `markup_bps`: the request's one upward rounding, taken after the markup."""
    return ceil_div(numerator * (BPS + markup_bps), COST_SCALE * BPS)


def marked_up(micros: int, markup_bps: int) -> int:
    """Whole micros marked up, rounded up: a reservation's worst case and a debit's ceiling
    (reserve.lua computes the same, in integers exact below 2^53). It never falls short of
    `charge` for a cost of at most `micros`."""
    return ceil_div(micros * (BPS + markup_bps), BPS)


def within(micros: int, markup_bps: int) -> int:
    """The largest whole-micros cost whose markup (`marked_up`) fits in `micros`: what a
    balance affords before the account's markup."""
    return micros * BPS // (BPS + markup_bps)


def rate_cost(rate_units: int) -> int:
    """Micros for a total already expressed in tokens x rate units, rounded up once."""
    return ceil_div(rate_units, TOKENS_PER_RATE)
