"""OpenAPI paths of billing: /v1/account/billing, provider webhooks, the local provider's pages."""

from __future__ import annotations

from typing import Any

from gateway.http.openapi.paths.operator import OPEN, USER
from gateway.http.openapi.schemas import (
    BOOL,
    JSON_OBJECT,
    MICROS,
    NEXT_STEP,
    STR,
    array,
    micros,
    nullable,
    obj,
    op,
    path_param,
    ref,
)

_PAGE = obj(("url",), url=STR, id=STR)
# Where the person goes back to: an absolute URL on PUBLIC_URL's origin or RETURN_URL_ORIGINS.
_RETURN = {"type": "string", "format": "uri", "maxLength": 2000}
_BACK = obj((), return_url=_RETURN)
_HTML = {"text/html": {"schema": STR}}
_ID = path_param("id")
_AUTO = obj(
    ("threshold_micros", "amount_micros", "monthly_cap_micros"),
    threshold_micros=micros(),
    amount_micros=ref("TopupAmount"),
    monthly_cap_micros=micros(description="at least amount_micros"),
)
_BILLING = obj(
    ("plan", "mode", "balance_micros", "payment_method_on_file", "next"),
    plan=STR,
    mode=STR,
    billing_ready=BOOL,
    balance_micros=MICROS,
    held_micros=MICROS,
    payment_method_on_file=BOOL,
    subscription={
        "type": ["object", "null"],
        "properties": {
            "id": STR,
            "plan": STR,
            "status": nullable("string"),
            "current_period_end": nullable("string"),
            "renews_at": nullable("string"),
            "cancels_at": nullable("string"),
            "pending_plan": nullable("string"),
        },
    },
    card={
        "type": ["object", "null"],
        "properties": {
            "brand": STR,
            "last4": STR,
            "exp_month": nullable("integer"),
            "exp_year": nullable("integer"),
        },
    },
    auto_topup=nullable("object"),
    grace_period=nullable("object"),
    next=NEXT_STEP,
)

_INVOICE = obj(
    ("id", "amount_micros", "status", "created"),
    id=STR,
    number=nullable("string"),
    amount_micros=MICROS,
    status=STR,
    created={"type": "string", "format": "date-time"},
    url=nullable("string"),
)
_SCHEDULED = obj(("status", "plan"), status=STR, plan=STR, url=STR, effective_at=nullable("string"))
_PAYMENT = obj(
    ("id", "purpose", "amount_micros", "refunded_micros", "status", "created_at"),
    id=STR,
    purpose={"enum": ["topup", "auto_topup"]},
    amount_micros=MICROS,
    refunded_micros=MICROS,
    status={"enum": ["succeeded", "failed"]},
    failure=nullable("string"),
    created_at={"type": "string", "format": "date-time"},
)


def _page(summary: str, *, form: bool = False) -> dict[str, Any]:
    out = op(summary, "billing pages", OPEN, ok=JSON_OBJECT, params=(_ID,))
    out["responses"]["200"]["content"] = _HTML
    if form:
        out["requestBody"] = {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": JSON_OBJECT}},
        }
    return out


def _control(summary: str) -> dict[str, Any]:
    return op(summary, "billing pages", OPEN, ok=obj(("events",)), params=(_ID,))


_BASE = "/v1/account/billing"
OVERVIEW = op("Plan, balance, method on file, grace, next step", "billing", USER, ok=_BILLING)
PAYMENTS = op(
    "Your payments (top-ups), newest first",
    "billing",
    USER,
    ok=obj(("data",), object=STR, data=array(_PAYMENT)),
)
INVOICES = op(
    "Your plan's invoices from the provider, newest first",
    "billing",
    USER,
    ok=obj(("data",), object=STR, data=array(_INVOICE)),
)
CANCEL = op(
    "Cancel the subscription: the plan stays until the period ends, then the default",
    "billing",
    USER,
    ok=_SCHEDULED,
)
SETUP = op(
    "A page that saves a payment method",
    "billing",
    USER,
    ok=_PAGE,
    body=_BACK,
    body_required=False,
)
TOPUPS = op(
    "A page that pays a one-off top-up",
    "billing",
    USER,
    ok=_PAGE,
    status="201",
    body=obj(("amount_micros",), amount_micros=ref("TopupAmount"), return_url=_RETURN),
)
SUBSCRIPTION = op(
    "Change plan: upgrade now, downgrade at period end, or a checkout page",
    "billing",
    USER,
    ok=_SCHEDULED,
    body=obj(("plan",), plan=ref("PlanForSale"), return_url=_RETURN),
)
PORTAL = op(
    "The provider's billing portal",
    "billing",
    USER,
    ok=_PAGE,
    body=_BACK,
    body_required=False,
)
AUTO_TOPUP = op(
    "Auto top-up settings (null turns it off)",
    "billing",
    USER,
    ok=obj(("auto_topup",), auto_topup=nullable("object")),
    body=_AUTO,
)
RECEIPT_HEADER = op(
    "Each call's signed receipt on its answer (header x-meterway-receipt; a stream's as a"
    " comment line), on or off",
    "billing",
    USER,
    ok=obj(("receipt_header",), receipt_header=BOOL),
    body=obj(("enabled",), enabled=BOOL),
)
RECEIVE = op(
    "Provider events (signature verified; 400 when forged or stale)",
    "billing",
    OPEN,
    ok=obj(("received",), received=BOOL, id=STR, result=STR),
    params=(path_param("provider"),),
    body=JSON_OBJECT,
)
CHECKOUT_PAGE = _page("Local provider: checkout page (Pay / Fail / Cancel)")
CHECKOUT_SUBMIT = _page("Local provider: submit the checkout", form=True)
DONE_PAGE = _page("Local provider: checkout result")
AUTHENTICATE_PAGE = _page("Local provider: card authentication step")
AUTHENTICATE_SUBMIT = _page("Local provider: pass or fail authentication", form=True)
PORTAL_PAGE = _page("Local provider: payments and method")
PORTAL_CARD = _page("Local provider: save a card", form=True)
RENEW = _control("Local provider: bill the next period now")
REFUND = _control("Local provider: refund what a payment has left")
