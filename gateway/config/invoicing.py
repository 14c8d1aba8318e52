"""Who names an invoice's tax rate (docs/guides/invoices.md): the operator's table, or
Stripe Tax for the product's tax code."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from gateway.config.values import ConfigError


def invoice_tax_source(get: Callable[[str, Any], Any], provider: str) -> tuple[str, str]:
    """INVOICE_TAX and INVOICE_TAX_CODE: Stripe Tax needs Stripe as the payments provider."""
    source = str(get("INVOICE_TAX", "table") or "table").strip().lower()
    code = str(get("INVOICE_TAX_CODE", "txcd_10000000") or "").strip()
    if source not in ("table", "stripe"):
        raise ConfigError(f"INVOICE_TAX must be table or stripe, not '{source}'")
    if source == "stripe" and provider != "stripe":
        raise ConfigError("INVOICE_TAX=stripe needs PAYMENTS_PROVIDER=stripe (Stripe Tax)")
    if not re.fullmatch(r"txcd_[0-9]{8}", code):
        raise ConfigError(
            f"INVOICE_TAX_CODE must be a Stripe tax code like txcd_10000000, not '{code}'"
        )
    return source, code


def vies_url(get: Callable[[str, Any], Any]) -> str:
    """VIES_URL: VIES's REST interface, asked whether a customer's VAT number is registered
    when it is set (https://ec.europa.eu/taxation_customs/vies/rest-api); empty: not asked."""
    url = str(get("VIES_URL", "") or "").strip()
    if url and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url):
        raise ConfigError(f"VIES_URL must be an http(s) URL, not '{url}'")
    return url
