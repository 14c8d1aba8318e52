"""OpenAPI paths of the metering API (/v1/metering) and its operator endpoints."""

from __future__ import annotations

from gateway.http.bodies import NO_NUL_PATTERN
from gateway.http.fields import EXPORT_ID_MAX
from gateway.http.openapi.paths.operator import ADMIN
from gateway.http.openapi.schemas import (
    INT,
    STR,
    Security,
    array,
    micros,
    obj,
    op,
    path_param,
    ref,
)
from gateway.services.keys.service import SERVICE_NAME

SERVICE: Security = [{"serviceKey": []}]
SERVICE_KEY_SCHEME = {
    "type": "apiKey",
    "in": "header",
    "name": "X-API-Key",
    "description": "a service key, mws-..., sent with X-Service-Name",
}
_AUTH_ID = path_param("auth_id")
_TIME = {"type": ["string", "null"], "format": "date-time"}
_AUTHORIZATION = obj(
    ("id", "account_id", "meter", "max_quantity", "held_micros"),
    id=STR, object=STR, account_id=STR, meter=STR, max_quantity=INT, held_micros=INT,
    expires_at=_TIME, idempotent_replay={"type": "boolean"},
)  # fmt: skip
_CLOSED = obj(
    ("id", "status", "quantity", "cost_micros"),
    id=STR, status={"enum": ["settled", "released", "voided"]}, quantity=INT, cost_micros=INT,
    idempotent_replay={"type": "boolean"},
)  # fmt: skip
# Stored with the ledger row (a jsonb column) and returned by ledger reads and Lago exports.
METADATA = {"type": "object", "description": "At most 4,096 bytes as JSON; no NUL characters."}
_EVENT = obj(
    ("account_id", "meter", "quantity", "idempotency_key", "occurred_at"),
    account_id=STR, meter=STR, quantity=INT, idempotency_key=STR,
    occurred_at={"type": "string", "format": "date-time"}, metadata=METADATA,
)  # fmt: skip
_EVENT_RESULT = obj(
    ("idempotency_key", "status", "cost_micros"),
    idempotency_key=STR, status={"enum": ["debited", "duplicate", "refused"]}, cost_micros=INT,
    error={"type": "object"},
)  # fmt: skip
_NEW_AUTH = obj(
    ("meter", "max_quantity", "idempotency_key"),
    account_id=STR, api_key=STR, meter=STR, max_quantity=INT, idempotency_key=STR,
    ttl_s=INT, metadata=METADATA,
)  # fmt: skip
_SERVICE = obj(("id", "name", "meters"), id=STR, name=STR, prefix=STR, meters=array(STR),
               revoked={"type": "boolean"}, key=STR)  # fmt: skip

_EXPORT_ID = {
    "anyOf": [
        {"type": "string", "minLength": 1, "maxLength": EXPORT_ID_MAX, "pattern": NO_NUL_PATTERN},
        {"type": "null", "description": "not exported"},
    ]
}


_AUTH = "/v1/metering/authorizations/{auth_id}"
AUTHORIZE = op(
    "Hold credit for metered work",
    "metering",
    SERVICE,
    ok=_AUTHORIZATION,
    status="201",
    body=_NEW_AUTH,
)
EXTEND = op(
    "Keep an authorization alive, or grow it",
    "metering",
    SERVICE,
    ok=_AUTHORIZATION,
    params=(_AUTH_ID,),
    body=obj(("ttl_s",), ttl_s=INT, max_quantity=INT),
)
SETTLE = op(
    "Debit the quantity used",
    "metering",
    SERVICE,
    ok=_CLOSED,
    params=(_AUTH_ID,),
    body=obj(("quantity", "idempotency_key"), quantity=INT, idempotency_key=STR),
)
RELEASE = op("Give the hold back", "metering", SERVICE, ok=_CLOSED, params=(_AUTH_ID,))
EVENTS = op(
    "Report usage after the fact (up to 1,000 events)",
    "metering",
    SERVICE,
    ok=obj(("data",), data=array(_EVENT_RESULT), debited=INT, duplicate=INT, refused=INT),
    body=obj(("events",), events=array(_EVENT)),
)


_USAGE = obj(
    ("meters",),
    account_id=STR,
    meters=array(
        obj(
            ("meter", "quantity", "cost_micros"),
            meter=STR,
            quantity=INT,
            cost_micros=INT,
            debits=INT,
        )
    ),
)
CREATE_SERVICE = op(
    "Issue a service key (shown once)",
    "admin",
    ADMIN,
    ok=_SERVICE,
    status="201",
    body=obj(
        ("name", "meters"),
        name={"type": "string", "pattern": SERVICE_NAME.pattern},
        meters={**array(ref("MeterName")), "minItems": 1},
    ),
)
DELETE_SERVICE = op(
    "Revoke a service key",
    "admin",
    ADMIN,
    ok=_SERVICE,
    params=(path_param("service_id"),),
)
EXPORT_IDS = op(
    "The account's ids at Stripe and Lago (usage exports)",
    "admin",
    ADMIN,
    ok=obj(("account_id",), account_id=STR),
    params=(path_param("account_id"),),
    body=obj((), stripe_customer_id=_EXPORT_ID, lago_subscription_id=_EXPORT_ID),
)
ALERTS = op(
    "The account's balance.low threshold",
    "admin",
    ADMIN,
    ok=obj(("account_id", "balance_low_micros"), account_id=STR, balance_low_micros=INT),
    params=(path_param("account_id"),),
    body=obj(("balance_low_micros",), balance_low_micros=micros()),
)
LIST_METERS = op(
    "The meters of config/meters.toml",
    "admin",
    ADMIN,
    ok=obj(("data",), data=array({"type": "object"})),
)
METER_USAGE = op(
    "Metered debits grouped by meter", "admin", ADMIN, ok=_USAGE, params=(path_param("account_id"),)
)
