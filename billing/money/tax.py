"""Tax on an invoice, by the operator's rate table (config/tax.toml), with no I/O.

The table names the issuer's country, the EU member states, and a rate per customer country
(percent, an exact decimal string). One rule decides an invoice's rate:

1. a business customer in an EU country other than the issuer's, the issuer being in the
   EU too, whose tax id is a valid VAT number of that member state (format and check
   digit, by python-stdnum): 0%, with the legal mention "Reverse charge";
2. otherwise the customer's country's rate from the table (VAT, GST...);
3. a country the table does not list: the table's `default` rate (0% unless set), with its
   `default_mention` (e.g. "Outside the scope of VAT").

With INVOICE_TAX=stripe, Stripe Tax decides the rate instead (`from_stripe`): its tax
calculation for the customer's country and tax id, read back as one rate and a mention. The
invoice applies that rate by its own one rounding rule either way.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError
from stdnum.util import get_cc_module

REVERSE_CHARGE = "Reverse charge"
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_PERCENT = re.compile(r"^[0-9]{1,2}(\.[0-9]{1,4})?$")


class InvalidTaxTable(ValueError):
    """config/tax.toml is not a table this module can apply."""


class InvalidTaxId(ValueError):
    """A customer's tax id that is not a valid number of its country."""


@dataclass(frozen=True, slots=True)
class Rate:
    percent: Decimal
    name: str  # what the customer's tax authority calls it: VAT, GST, JCT


@dataclass(frozen=True, slots=True)
class TaxTable:
    issuer_country: str = ""
    eu: frozenset[str] = frozenset()
    rates: Mapping[str, Rate] = field(default_factory=dict)
    default: Rate = Rate(Decimal(0), "Tax")
    default_mention: str = ""


@dataclass(frozen=True, slots=True)
class Tax:
    """The tax an invoice applies: its rate in percent, its name, any legal mention, and who
    decided it (`source`: empty for the operator's table, else Stripe Tax's calculation)."""

    percent: Decimal
    name: str
    mention: str = ""
    source: str = ""

    @property
    def reverse_charge(self) -> bool:
        return self.mention == REVERSE_CHARGE


def country(text: str, what: str) -> str:
    code = text.strip().upper()
    if not _COUNTRY.fullmatch(code):
        raise InvalidTaxTable(f"{what}: '{text}' is not an ISO 3166 two-letter country code")
    return code


def _rate(raw: Any, where: str) -> Rate:
    if not isinstance(raw, dict) or not isinstance(raw.get("rate"), str):
        raise InvalidTaxTable(f'{where}: give {{ rate = "19", name = "VAT" }} (rate as a string)')
    if not _PERCENT.fullmatch(raw["rate"]):
        raise InvalidTaxTable(f"{where}: rate '{raw['rate']}' is not a percent like \"19\"")
    return Rate(Decimal(raw["rate"]), str(raw.get("name", "VAT")))


def parse_table(doc: Mapping[str, Any]) -> TaxTable:
    """The table from its TOML document (format: docs/guides/invoices.md)."""
    rates = doc.get("rates", {})
    if not isinstance(rates, dict):
        raise InvalidTaxTable("[rates] must be a table of countries")
    issuer = doc.get("issuer_country", "")
    default = doc.get("default", {"rate": "0", "name": "Tax"})
    return TaxTable(
        issuer_country=country(issuer, "issuer_country") if issuer else "",
        eu=frozenset(country(c, "eu") for c in doc.get("eu", [])),
        rates={country(c, "rates"): _rate(r, f"rates.{c}") for c, r in rates.items()},
        default=_rate(default, "default"),
        default_mention=str(doc.get("default_mention", "")),
    )


def read_table(path: Path) -> TaxTable:
    """config/tax.toml, or an empty table (0% everywhere) when there is none."""
    if not path.is_file():
        return TaxTable()
    try:
        return parse_table(tomllib.loads(path.read_text()))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidTaxTable(f"{path}: {exc}") from exc


def vat_country(tax_id: str) -> str | None:
    """The member state whose valid VAT number `tax_id` is (GR for Greece's EL prefix), or
    None for anything else."""
    try:
        number = eu_vat.validate(tax_id)
    except ValidationError:
        return None
    prefix = number[:2].upper()
    return "GR" if prefix == "EL" else prefix


def checked_tax_id(tax_id: str, customer_country: str) -> str:
    """`tax_id` checked by python-stdnum against the customer's country: in the EU a VAT
    number of that member state (its prefix may be left off), kept in its compact form;
    elsewhere the country's own number where python-stdnum knows it (GB VAT, CH UID, AU
    ABN, JP corporate number...), kept as written, as is one no rule is known for, since
    it decides no rate there. '' stays ''. InvalidTaxId otherwise."""
    text = tax_id.strip()
    where = customer_country.strip().upper()
    if not text:
        return ""
    if where in EU_COUNTRIES:
        for asked in (text, f"{'EL' if where == 'GR' else where}{text}"):
            if vat_country(asked) == where:
                return str(eu_vat.compact(asked))
        raise InvalidTaxId(f"'{text}' is not a valid VAT number of {where} (format, check digit).")
    if not _COUNTRY.fullmatch(where):
        return text
    names = ("vat", *ALSO_ACCEPTED.get(where, ()))
    modules = [m for m in (get_cc_module(where.lower(), n) for n in names) if m is not None]
    if not modules:
        return text
    if not any(m.is_valid(text) for m in modules):
        raise InvalidTaxId(f"'{text}' is not a valid tax number of {where}.")
    return text


# A country whose business number is written two ways: Switzerland's UID (CHE-123.456.789)
# is its VAT number with MWST, TVA or IVA after it; either names the business.
ALSO_ACCEPTED: dict[str, tuple[str, ...]] = {"CH": ("uid",)}


def tax_for(table: TaxTable, customer_country: str, customer_tax_id: str) -> Tax:
    """The one rule of the module docstring."""
    where = customer_country.upper()
    issuer = table.issuer_country
    business = vat_country(customer_tax_id) == where
    if business and issuer in table.eu and where in table.eu and where != issuer:
        return Tax(Decimal(0), "VAT", REVERSE_CHARGE)
    found = table.rates.get(where)
    if found is not None:
        return Tax(found.percent, found.name)
    return Tax(table.default.percent, table.default.name, table.default_mention)


# Stripe Tax (docs.stripe.com/api/tax/calculations): the names of its tax types, the
# mention a reason that taxes nothing needs on the invoice, and the type of a business's tax
# id by its country (a tax id of another country has no type here: it is refused, not
# guessed, since it decides whether the sale is business to business).
STRIPE_TAX_NAMES = {
    "vat": "VAT", "gst": "GST", "hst": "HST", "pst": "PST", "qst": "QST", "rst": "RST",
    "jct": "JCT", "igst": "IGST", "sales_tax": "Sales tax",
}  # fmt: skip
STRIPE_MENTIONS = {
    "reverse_charge": REVERSE_CHARGE,
    "not_subject_to_tax": "Not subject to tax",
    "customer_exempt": "Customer exempt from tax",
    "product_exempt": "Exempt from tax",
    "zero_rated": "Zero rated",
}
EU_COUNTRIES = frozenset(
    ("AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
     "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE")
)  # fmt: skip
STRIPE_TAX_ID_TYPES = {
    **dict.fromkeys(EU_COUNTRIES, "eu_vat"),
    "GB": "gb_vat", "CH": "ch_vat", "NO": "no_vat", "AU": "au_abn", "NZ": "nz_gst",
    "IN": "in_gst", "JP": "jp_trn", "SG": "sg_gst", "ZA": "za_vat", "CA": "ca_bn",
}  # fmt: skip


def stripe_tax_id_type(country: str, tax_id: str) -> str:
    """Stripe's type of a customer's tax id ('' when it has none for the country). A Swiss
    number is a VAT number (`ch_vat`) with MWST, TVA or IVA after it, else a UID (`ch_uid`)."""
    if country == "CH" and not tax_id.rstrip().upper().endswith(("MWST", "TVA", "IVA")):
        return "ch_uid"
    return STRIPE_TAX_ID_TYPES.get(country, "")


def from_stripe(parts: list[tuple[Decimal, str, str]], calculation_id: str) -> Tax:
    """The invoice's tax from Stripe Tax's breakdown: each part's (percent, tax type,
    taxability reason). The rates add up (a state's and a county's sales tax); a sale taxed
    at nothing carries the mention its reason needs (reverse charge...)."""
    percent = sum((p for p, _, _ in parts), Decimal(0))
    names: list[str] = []
    for _, kind, _ in parts:
        name = STRIPE_TAX_NAMES.get(kind, kind.replace("_", " ").capitalize() or "Tax")
        if name not in names:
            names.append(name)
    mention = ""
    if percent == 0:
        mention = next((STRIPE_MENTIONS[r] for _, _, r in parts if r in STRIPE_MENTIONS), "")
    return Tax(percent, " + ".join(names) or "Tax", mention, f"Stripe Tax ({calculation_id})")
