"""A customer's tax id, checked by python-stdnum (billing/money/tax.py): only a valid VAT
number of the customer's own member state makes a sale reverse charged, whatever was stored."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.money.tax import (
    REVERSE_CHARGE,
    InvalidTaxId,
    checked_tax_id,
    read_table,
    stripe_tax_id_type,
    tax_for,
)
from gateway.config.settings import DEFAULT_CONFIG_DIR

TABLE = read_table(DEFAULT_CONFIG_DIR / "tax.toml")  # issuer DE, FR at 20%


@pytest.mark.parametrize(
    "tax_id", ["!!! not a VAT id ???", "FR40303265046", "DE136695976", "FR1", "XI980780684"]
)
def test_a_tax_id_that_is_not_a_valid_french_vat_number_leaves_french_vat(tax_id: str) -> None:
    """However it was stored (a record from before ids were checked, a direct write)."""
    tax = tax_for(TABLE, "FR", tax_id)
    assert (tax.percent, tax.mention, tax.reverse_charge) == (Decimal(20), "", False)


def test_a_valid_vat_number_of_the_customers_member_state_is_reverse_charged() -> None:
    for tax_id in ("FR40303265045", "FR 40 303 265 045", "fr40303265045"):
        tax = tax_for(TABLE, "FR", tax_id)
        assert (tax.percent, tax.mention) == (Decimal(0), REVERSE_CHARGE)
    assert tax_for(TABLE, "GR", "EL094259216").mention == REVERSE_CHARGE  # Greece is EL
    assert tax_for(TABLE, "DE", "DE136695976").percent == 19  # the issuer's own country


def test_checked_tax_ids() -> None:
    assert checked_tax_id("  ", "FR") == ""
    assert checked_tax_id("FR 40 303 265 045", "FR") == "FR40303265045"
    assert checked_tax_id("40303265045", "fr") == "FR40303265045"  # the prefix left off
    assert checked_tax_id("094259216", "GR") == "EL094259216"
    assert checked_tax_id(" GB 980 7806 84", "GB") == "GB 980 7806 84"
    assert checked_tax_id("12-3456789", "US") == "12-3456789"  # no rule known: as written
    for tax_id, country in [("!!! not a VAT id ???", "FR"), ("DE136695976", "FR"),
                            ("FR40303265046", "FR"), ("GB980780685", "GB")]:  # fmt: skip
        with pytest.raises(InvalidTaxId):
            checked_tax_id(tax_id, country)


def test_a_swiss_business_is_named_by_its_uid_or_its_vat_number() -> None:
    """invoices.md: CH UID. The UID alone, or with MWST/TVA/IVA (the VAT number); Stripe
    is told which (`ch_uid`, `ch_vat`)."""
    assert checked_tax_id("CHE-113.690.319", "CH") == "CHE-113.690.319"
    assert checked_tax_id("CHE-113.690.319 MWST", "CH") == "CHE-113.690.319 MWST"
    with pytest.raises(InvalidTaxId):
        checked_tax_id("CHE-113.690.318", "CH")  # check digit
    assert stripe_tax_id_type("CH", "CHE-113.690.319") == "ch_uid"
    assert stripe_tax_id_type("CH", "CHE-113.690.319 TVA") == "ch_vat"
    assert stripe_tax_id_type("FR", "FR40303265045") == "eu_vat"
    assert stripe_tax_id_type("US", "12-3456789") == ""
