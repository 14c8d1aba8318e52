"""Amounts in a customer's currency: ISO 4217 minor units and the one conversion rule.

The ledger stays in USD micros; an invoice converts each of its lines once, at a rate fixed
on the invoice (units of the currency per 1 USD, an exact decimal, never a float), and
rounds the result to the currency's minor unit **half away from zero** (Decimal's
ROUND_HALF_UP). docs/concepts/money.md states the rule; billing/contracts/invoices.py applies it.

`MINOR_UNITS` is ISO 4217 List One (the maintenance agency's "Current currency & funds"
table, SIX Financial Information, amendment 179 of 2025), written once here because the
domain imports no package that carries it; tests/unit/test_currency.py checks it against the
CLDR table Babel ships, naming each place the two standards differ.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

MICROS_PER_USD = 1_000_000

_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_FOUR = "CLF UYW"
_TWO = (
    "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN"
    " BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP"
    " GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT"
    " LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN"
    " NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE"
    " SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES"
    " WST XCD XCG YER ZAR ZMW ZWG"
)
MINOR_UNITS: dict[str, int] = {
    code: digits
    for digits, codes in ((0, _ZERO), (2, _TWO), (3, _THREE), (4, _FOUR))
    for code in codes.split()
}
_RATE = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,12})?$")


class InvalidCurrency(ValueError):
    """Not an ISO 4217 currency with a minor unit, or not a usable exchange rate."""


def minor_units(currency: str) -> int:
    """The currency's number of decimal places (JPY 0, EUR 2, KWD 3)."""
    try:
        return MINOR_UNITS[currency.upper()]
    except KeyError:
        raise InvalidCurrency(f"'{currency}' is not an ISO 4217 currency code.") from None


def parse_rate(text: str) -> Decimal:
    """An exchange rate as written (units of the currency per 1 USD): a positive exact
    decimal with at most 12 places, given as a string so no float ever holds it."""
    if not isinstance(text, str) or not _RATE.fullmatch(text):
        raise InvalidCurrency(f"The rate '{text}' must be a decimal string like \"0.92\".")
    try:
        rate = Decimal(text)
    except InvalidOperation:
        raise InvalidCurrency(f"The rate '{text}' is not a number.") from None
    if rate <= 0:
        raise InvalidCurrency("The rate must be above zero.")
    return rate


def exact_minor(micros: int, rate: Decimal, digits: int) -> Decimal:
    """USD micros in the currency's minor units, exactly (before rounding)."""
    with localcontext() as ctx:
        ctx.prec = 80
        return Decimal(micros) * rate * (Decimal(10) ** digits) / MICROS_PER_USD


def round_half_up(value: Decimal) -> int:
    """To a whole number, a half away from zero (2.5 -> 3, -2.5 -> -3)."""
    with localcontext() as ctx:
        ctx.prec = 80
        return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_minor(micros: int, rate: Decimal, digits: int) -> int:
    """USD micros converted at `rate` and rounded once to the minor unit: the one rule."""
    return round_half_up(exact_minor(micros, rate, digits))


def show(minor: int, currency: str) -> str:
    """An amount in minor units as people read it: "1,234.56 EUR", "1,235 JPY"."""
    digits = minor_units(currency)
    sign, whole = ("-" if minor < 0 else ""), abs(minor)
    if digits == 0:
        return f"{sign}{whole:,} {currency.upper()}"
    units, rest = divmod(whole, 10**digits)
    return f"{sign}{units:,}.{rest:0{digits}d} {currency.upper()}"


RATE_PLACES = 8  # a rate derived from a source's table is rounded to this many places


def per_usd(per_eur: dict[str, Decimal], currency: str) -> Decimal:
    """Units of `currency` per 1 USD from a table of units per 1 EUR (the ECB's reference
    rates): rate(currency) / rate(USD), EUR itself being 1; rounded once, half away from
    zero, to RATE_PLACES places, since a quotient of two rates is rarely exact. The invoice
    records the rounded rate and converts by it exactly. Raises InvalidCurrency when the
    table has no rate for either."""
    table = {"EUR": Decimal(1), **per_eur}
    code = currency.upper()
    if "USD" not in table or code not in table:
        missing = "USD" if "USD" not in table else code
        raise InvalidCurrency(f"The rate source has no rate for {missing}.")
    with localcontext() as ctx:
        ctx.prec = 80
        rate = (table[code] / table["USD"]).quantize(
            Decimal(1).scaleb(-RATE_PLACES), rounding=ROUND_HALF_UP
        )
    if rate <= 0:
        raise InvalidCurrency(f"The rate source's rate for {code} is not above zero.")
    return rate
