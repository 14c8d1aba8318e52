"""OpenAPI paths of commitments: an account's contracted spend per period
(billing/contracts/commitments.py)."""

from __future__ import annotations

from typing import Any

from billing.contracts.commitments import (
    BILLINGS,
    MAX_OVERAGE_BPS,
    MAX_ROLLOVER_PERIODS,
    PERIODS,
    POLICIES,
)
from billing.money.micros import BPS, MAX_EXACT
from gateway.http.openapi.paths.operator import ADMIN, USER
from gateway.http.openapi.schemas import (
    STR,
    TIME,
    array,
    micros,
    nullable,
    obj,
    op,
    path_param,
    whole,
)

_AMOUNT = MAX_EXACT // 16
_TERMS: dict[str, Any] = {
    "period": {"enum": list(PERIODS), "description": "UTC calendar month, quarter or year"},
    "amount_micros": micros(1, _AMOUNT, description="the spend committed per period"),
    "billing": {
        "enum": list(BILLINGS),
        "description": "prepaid (credited at each period's "
        "open) or arrears (postpaid accounts: the shortfall billed at its end)",
    },
    "discount_bps": whole(0, BPS - 1, description="off the account's price while it lasts"),
    "on_exhausted": {
        "enum": list(POLICIES),
        "description": "once used up: priced at the "
        "overage rate, refused (402), or charged to the balance at the usual price",
    },
    "overage_bps": whole(0, MAX_OVERAGE_BPS, description="over the account's price, in overage"),
    "rollover_bps": whole(0, BPS, description="the share of the unused commitment rolled over"),
    "rollover_cap_micros": micros(0, _AMOUNT, description="the most one period rolls over"),
    "rollover_periods": whole(1, MAX_ROLLOVER_PERIODS, description="periods a rollover lives"),
}
_PUT = {**obj(("period", "amount_micros"), **_TERMS), "additionalProperties": False}
_PERIOD = obj(
    ("starts_at", "ends_at", "committed_micros"),
    starts_at=STR,
    ends_at=STR,
    committed_micros=micros(),
    rolled_in_micros=micros(),
    allowance_micros=micros(),
    drawn_micros={**nullable("integer"), "description": "closed periods; the open one: live"},
    held_micros=micros(),
    left_micros=micros(
        description="the open period: what calls may still draw at the commitment's price"
        " (its allowance, less what it drew and what running calls hold)"
    ),
    charged_micros=nullable("integer"),
    rolled_out_micros=nullable("integer"),
    expired_micros=nullable("integer"),
    closed_at=TIME,
)
_COMMITMENT = obj(
    ("object", "account_id", "active", "ends_at", "current_period"),
    object={"const": "commitment"},
    account_id=STR,
    active={"type": "boolean", "description": "false: no commitment (no terms shown)"},
    ends_at={**TIME, "description": "null: renews each period"},
    current_period={"anyOf": [_PERIOD, {"type": "null"}]},
    periods=array(_PERIOD),
    **_TERMS,
)
_ACCOUNT = path_param("account_id")

PUT_COMMITMENT = op(
    "Commit the account to a spend per period (new terms apply now, a new amount from "
    "the next period)", "admin", ADMIN, ok=_COMMITMENT, params=(_ACCOUNT,), body=_PUT,
)  # fmt: skip
GET_COMMITMENT = op(
    "The account's commitment, its open period and its past ones", "admin", ADMIN,
    ok=_COMMITMENT, params=(_ACCOUNT,),
)  # fmt: skip
END_COMMITMENT = op(
    "End the account's commitment with its open period", "admin", ADMIN,
    ok=_COMMITMENT, params=(_ACCOUNT,),
)  # fmt: skip
OWN_COMMITMENT = op(
    "Your account's commitment: its terms, the open period's allowance with what it drew and"
    " holds now, and its past periods", "account", USER, ok=_COMMITMENT,
)  # fmt: skip
