"""Exchange rates from the source the operator configures (FX_RATES_URL), read when an
invoice needs one and no operator rate is set (docs/guides/invoices.md, "Currency"): a
document in the European Central Bank's daily reference-rate format (eurofxref-daily.xml:
units of each currency per 1 EUR, with the day they are of). Never on a call's path."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import aiohttp

from billing.contracts.currency import RATE_PLACES, InvalidCurrency, per_usd
from gateway.config.egress_rules import EgressPolicy
from gateway.outbound.egress import egress_session

_CUBE = "{http://www.ecb.int/vocabulary/2002-08-01/eurofxref}Cube"
MAX_BYTES = 256 * 1024  # the ECB's daily file is about 2 KB
TIMEOUT_S = 10


class RateSourceFailed(Exception):
    """The source did not answer, or not with a reference-rate document."""


@dataclass(frozen=True, slots=True)
class ReferenceRates:
    day: str  # YYYY-MM-DD, the day the rates are of
    per_eur: dict[str, Decimal]


def parse_ecb(body: bytes) -> ReferenceRates:
    """The day and the rates of an ECB reference-rate document; InvalidCurrency for one
    that is not (a DTD is refused: the format has none)."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise InvalidCurrency("The rate source's document declares a DTD; it is refused.")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise InvalidCurrency(f"The rate source's document is not XML: {exc}.") from None
    days = [c for c in root.iter(_CUBE) if c.get("time")]
    if not days:
        raise InvalidCurrency("The rate source's document holds no day of rates.")
    newest = max(days, key=lambda c: str(c.get("time")))
    rates: dict[str, Decimal] = {}
    for cube in newest.iter(_CUBE):
        code, rate = cube.get("currency"), cube.get("rate")
        if code and rate:
            try:
                value = Decimal(rate)
            except InvalidOperation:
                value = Decimal("NaN")
            if not value.is_finite() or value <= 0:
                raise InvalidCurrency(f"The rate source's rate for {code} is not a rate.")
            rates[code.upper()] = value
    return ReferenceRates(str(newest.get("time")), rates)


async def fetch_rate(url: str, egress: EgressPolicy, currency: str) -> tuple[Decimal, str]:
    """Units of `currency` per USD from the source, and the source as the invoice records it.
    Read through the egress-checked client, a redirect not followed: the operator's URL
    reaches no address the rules refuse (a metadata service, this machine). A source that
    cannot be read, or answers no document, is RateSourceFailed (503); a document without
    the currency is InvalidCurrency."""
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    try:
        async with (
            egress_session(egress, timeout=timeout) as http,
            http.get(url, allow_redirects=False) as r,
        ):
            if r.status != 200:
                raise RateSourceFailed(f"The rate source answered {r.status}; no rate was read.")
            body = await r.content.read(MAX_BYTES + 1)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RateSourceFailed(f"The rate source could not be read ({exc}).") from exc
    if len(body) > MAX_BYTES:
        raise RateSourceFailed("The rate source's document is too large.")
    try:
        rates = parse_ecb(body)
    except InvalidCurrency as exc:
        raise RateSourceFailed(str(exc)) from exc
    rate = per_usd(rates.per_eur, currency)
    return (
        rate,
        f"ECB reference rates of {rates.day} ({url}), crossed through EUR, {RATE_PLACES} places",
    )
