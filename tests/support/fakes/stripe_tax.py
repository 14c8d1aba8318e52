"""Stripe Tax's calculations (docs.stripe.com/api/tax/calculations/create), for the fake
Stripe's front (stripe_stack.py): Stripe's parameters and its refusals of them, and its
answer's shape, for a seller established in Germany and registered to collect tax in
Germany, France and the United Kingdom (what a Stripe account's tax registrations say).

The rules are Stripe Tax's for digital services: a customer where the seller has no
registration is `not_collecting` (no tax); a business in another EU country (an `eu_vat`
tax id) is `reverse_charge`; anyone else in a registered country is `standard_rated` at
that country's rate. Tax is rounded half away from zero to the minor unit, per line.
"""

from __future__ import annotations

import re
import secrets
import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from aiohttp import web

HOME = "DE"
REGISTERED = {"DE": ("vat", "19.0"), "FR": ("vat", "20.0"), "GB": ("vat", "20.0")}
EU = frozenset(
    ("AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
     "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE")
)  # fmt: skip
TAX_ID_TYPES = frozenset(
    ("eu_vat", "gb_vat", "ch_vat", "no_vat", "au_abn", "nz_gst", "in_gst", "jp_trn",
     "sg_gst", "za_vat", "ca_bn", "us_ein")
)  # fmt: skip
TAX_CODE = re.compile(r"txcd_[0-9]{8}")


class Refused(Exception):
    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def _refused(exc: Refused) -> web.Response:
    error = {"type": "invalid_request_error", "message": str(exc), "param": exc.param}
    return web.json_response({"error": error}, status=400)


def _amount(item: dict[str, Any], i: int) -> int:
    raw = item.get("amount")
    if raw is None:
        raise Refused("Missing required param: line_items[0][amount].", f"line_items[{i}][amount]")
    if not re.fullmatch(r"-?[0-9]+", str(raw)) or int(raw) < 0:
        raise Refused("Invalid non-negative integer", f"line_items[{i}][amount]")
    code = item.get("tax_code")
    if code is not None and not TAX_CODE.fullmatch(code):
        raise Refused(f"Invalid tax code: {code}", f"line_items[{i}][tax_code]")
    return int(raw)


def _customer(form: dict[str, Any]) -> tuple[str, bool]:
    """The customer's country and whether a business tax id names it a business."""
    details = form.get("customer_details")
    if not isinstance(details, dict) or not isinstance(details.get("address"), dict):
        raise Refused(
            "You must provide either a customer or customer_details[address].",
            "customer_details",
        )
    if details.get("address_source") not in ("billing", "shipping"):
        raise Refused(
            "Missing required param: customer_details[address_source].",
            "customer_details[address_source]",
        )
    country = str(details["address"].get("country", ""))
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise Refused("Invalid country", "customer_details[address][country]")
    ids = details.get("tax_ids") or []
    for i, tax_id in enumerate(ids):
        if not isinstance(tax_id, dict) or tax_id.get("type") not in TAX_ID_TYPES:
            raise Refused("Invalid tax id type", f"customer_details[tax_ids][{i}][type]")
        if not tax_id.get("value"):
            raise Refused("Missing tax id value", f"customer_details[tax_ids][{i}][value]")
    business = any(t["type"] == "eu_vat" for t in ids)
    return country, business


def _rate(country: str, business: bool) -> tuple[str, str | None, str]:
    """(percentage_decimal, tax_type, taxability_reason) for one customer."""
    if country not in REGISTERED:
        return "0.0", None, "not_collecting"
    kind, percent = REGISTERED[country]
    if business and country in EU and country != HOME:
        return "0.0", kind, "reverse_charge"
    return percent, kind, "standard_rated"


def calculate(form: dict[str, Any]) -> web.Response:
    """POST /v1/tax/calculations, its form already unflattened."""
    try:
        currency = form.get("currency")
        if not isinstance(currency, str) or not re.fullmatch(r"[a-z]{3}", currency):
            raise Refused("Missing required param: currency.", "currency")
        items = form.get("line_items")
        if not isinstance(items, list) or not items:
            raise Refused("Missing required param: line_items.", "line_items")
        amounts = [_amount(item, i) for i, item in enumerate(items)]
        country, business = _customer(form)
    except Refused as exc:
        return _refused(exc)
    percent, kind, reason = _rate(country, business)
    taxable = sum(amounts)
    tax = sum(
        int((Decimal(a) * Decimal(percent) / 100).quantize(Decimal(1), ROUND_HALF_UP))
        for a in amounts
    )
    details = {"country": country, "percentage_decimal": percent, "state": None,
               "tax_type": kind}  # fmt: skip
    return web.json_response(
        {
            "id": "taxcalc_" + secrets.token_hex(12),
            "object": "tax.calculation",
            "amount_total": taxable + tax,
            "currency": currency,
            "customer": None,
            "customer_details": form["customer_details"],
            "expires_at": int(time.time()) + 90 * 86400,
            "livemode": False,
            "tax_amount_exclusive": tax,
            "tax_amount_inclusive": 0,
            "tax_breakdown": [
                {
                    "amount": tax,
                    "inclusive": False,
                    "tax_rate_details": None if kind is None else details,
                    "taxability_reason": reason,
                    "taxable_amount": taxable if kind else 0,
                }
            ],
            "tax_date": int(time.time()),
        }
    )
