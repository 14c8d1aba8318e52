"""OpenAPI paths of invoices and credit notes (gateway/http/shared/contracts/invoices.py)."""

from __future__ import annotations

from billing.contracts.currency import MINOR_UNITS
from billing.contracts.invoices import SECTIONS
from billing.contracts.statements import MONTH_PATTERN
from gateway.http.bodies import NO_NUL_PATTERN
from gateway.http.openapi.paths.operator import ADMIN, USER
from gateway.http.openapi.schemas import (
    INT,
    JSON_OBJECT,
    MICROS,
    STR,
    TEXT,
    Schema,
    array,
    nullable,
    obj,
    op,
    path_param,
    query,
)

_PARTY = obj(
    ("name", "address", "country", "tax_id"), name=STR, address=array(STR), country=STR, tax_id=STR
)
_LINE = obj(
    ("position", "section", "key", "label", "entries", "requests", "quantities", "unit_price",
     "amount_micros", "amount_minor", "amount", "credits_position"),
    position=INT,
    section={"enum": list(SECTIONS)},
    key=STR,
    label=STR,
    entries=INT,
    requests=INT,
    quantities=JSON_OBJECT,
    unit_price=nullable("string"),
    amount_micros=MICROS,
    amount_minor=INT,
    amount=STR,
    credits_position=nullable("integer"),
)  # fmt: skip
_DELIVERY = obj(
    ("provider", "provider_invoice_id", "url", "sent_at", "paid_at", "status"),
    provider=STR,
    provider_invoice_id=STR,
    url=nullable("string"),
    sent_at=STR,
    paid_at=nullable("string"),
    status={"enum": ["sent", "paid"]},
)
INVOICE: Schema = obj(
    ("object", "number", "kind", "account_id", "month", "period_start", "period_end",
     "issued_at", "currency", "minor_units", "rate", "rate_source", "group_by", "issuer",
     "customer", "tax", "lines", "usage_micros", "subtotal_minor", "tax_minor",
     "total_minor", "total", "credits", "reason", "delivery"),
    object={"const": "invoice"},
    number=STR,
    kind={"enum": ["invoice", "credit_note"]},
    account_id=STR,
    month=STR,
    period_start=STR,
    period_end=STR,
    issued_at=STR,
    currency=STR,
    minor_units=INT,
    rate=STR,
    rate_source=STR,
    group_by=STR,
    issuer=_PARTY,
    customer=_PARTY,
    tax=obj(("name", "percent", "mention", "reverse_charge", "source"), name=STR, percent=STR,
            mention=STR, reverse_charge={"type": "boolean"},
            source={"type": "string", "description": "table (config/tax.toml), or Stripe Tax"
                    " and its calculation's id"}),
    lines=array(_LINE),
    usage_micros=MICROS,
    subtotal_minor=INT,
    tax_minor=INT,
    total_minor=INT,
    total=STR,
    credits=STR,
    reason=STR,
    delivery={"anyOf": [_DELIVERY, {"type": "null"}]},  # where it was sent; null: not sent
)  # fmt: skip
_LIST = obj(("object", "data"), object={"const": "list"}, data=array(INVOICE))
CUSTOMER: Schema = obj(
    ("account_id", "legal_name", "address", "country", "tax_id", "currency", "rate",
     "rate_source", "group_by", "email"),
    account_id=STR,
    legal_name=STR,
    address=array(STR),
    country=STR,
    tax_id=STR,
    currency=STR,
    rate=nullable("string"),
    rate_source=STR,
    group_by=STR,
    email=STR,
)  # fmt: skip
# One address or none; surrounding blanks are trimmed (services/contracts/invoices.py).
EMAIL_PATTERN = r"^\s*([^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+)?\s*$"
# What the handlers take (billing/contracts/invoices.py, billing/contracts/currency.py): a
# grouping, an ISO 4217 code with a minor unit, a positive exact decimal rate, texts of at
# most 200 characters.
_GROUP_BY = {"type": "string", "pattern": "^(model|team|key|tag:.{1,64})$"}
_CURRENCY = {"enum": sorted(MINOR_UNITS)}
_RATE = {"type": "string", "pattern": r"^(?=.*[1-9])[0-9]{1,12}(\.[0-9]{1,12})?$"}
_TEXT = {"type": "string", "maxLength": 200, "pattern": NO_NUL_PATTERN}  # PostgreSQL keeps no NUL
# The same details, each optional (those left out keep their values).
_CUSTOMER_BODY = obj(
    (),
    legal_name=_TEXT,
    address=array({"type": "string", "pattern": NO_NUL_PATTERN}),
    country={"type": "string", "pattern": "^([A-Za-z]{2})?$"},
    tax_id=_TEXT,
    currency=_CURRENCY,
    rate={"anyOf": [_RATE, {"type": "null"}]},
    rate_source=_TEXT,
    group_by=_GROUP_BY,
    email={"type": "string", "maxLength": 254, "pattern": EMAIL_PATTERN},
)
_ISSUE = obj(
    ("month",),
    month={"type": "string", "pattern": MONTH_PATTERN},
    group_by=_GROUP_BY,
    currency=_CURRENCY,
    rate=_RATE,
    rate_source=TEXT,
)
_NUMBER = path_param("number")
_ACCOUNT = path_param("account_id")
_FORMAT = query("format", {"enum": ["json", "pdf"]}, "pdf, or send Accept: application/pdf")
_PDF = {"200": {"description": "OK", "content": {"application/json": {"schema": INVOICE},
                                                  "application/pdf": {"schema": STR}}}}  # fmt: skip

ADMIN_CUSTOMER = op("An account's invoicing details", "admin", ADMIN, ok=CUSTOMER,
                    params=(_ACCOUNT,))  # fmt: skip
ADMIN_SET_CUSTOMER = op(
    "Set an account's invoicing details: legal name, address, country, tax id, currency,"
    " exchange rate and its source, how usage is grouped",
    "admin", ADMIN, ok=CUSTOMER, params=(_ACCOUNT,), body=_CUSTOMER_BODY,
)  # fmt: skip
ADMIN_ISSUE = op(
    "Issue an account's invoice of a month (UTC), up to now if the month is not over",
    "admin", ADMIN, ok=INVOICE, status="201", params=(_ACCOUNT,), body=_ISSUE,
)  # fmt: skip
ADMIN_LIST = op("An account's invoices and credit notes", "admin", ADMIN, ok=_LIST,
                params=(_ACCOUNT,))  # fmt: skip
ADMIN_ALL = op("Every invoice and credit note", "admin", ADMIN, ok=_LIST)
ADMIN_ONE = op("An invoice or credit note, as JSON or PDF", "admin", ADMIN, ok=INVOICE,
               params=(_NUMBER, _FORMAT), extra=_PDF)  # fmt: skip
ADMIN_CREDIT = op(
    "Issue a credit note cancelling lines of an invoice (all not yet credited, or those"
    " named): its own number, the lines negated",
    "admin", ADMIN, ok=INVOICE, status="201", params=(_NUMBER,),
    body=obj(
        ("reason",),
        reason=TEXT,
        lines={**array({"type": "integer", "minimum": 1, "maximum": 2**31 - 1}), "minItems": 1},
    ),
)  # fmt: skip
ACCOUNT_LIST = op("Your organization's invoices and credit notes", "account", USER, ok=_LIST)
ACCOUNT_ONE = op("One of your invoices or credit notes, as JSON or PDF", "account", USER,
                 ok=INVOICE, params=(_NUMBER, _FORMAT), extra=_PDF)  # fmt: skip
ADMIN_SEND = op(
    "Send an issued invoice to the customer's invoicing e-mail through Stripe Invoicing, its"
    " items and tax exactly as issued, or a credit note to Stripe against the invoice it"
    " corrects; sent already, its delivery is answered and nothing is sent again",
    "admin", ADMIN, ok=INVOICE, params=(_NUMBER,),
)  # fmt: skip
