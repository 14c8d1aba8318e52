"""OpenAPI paths of spend anomalies: the flags, lifting a key's pause, opting in to pauses."""

from __future__ import annotations

from gateway.http.openapi.paths.operator import ADMIN, USER
from gateway.http.openapi.paths.organization import ACCOUNT_ID, KEY_ID
from gateway.http.openapi.schemas import INT, STR, array, nullable, obj, op, query

_ANOMALY = obj(
    ("id", "object", "account_id", "scope", "scope_id", "rule", "summary", "paused"),
    id=INT,
    object={"const": "spend_anomaly"},
    account_id=STR,
    key_id=nullable("string"),
    scope={"enum": ["key", "team", "account"]},
    scope_id=STR,
    rule={"enum": ["rate", "pricier_model", "new_network", "repeated_request"]},
    summary=STR,
    figures={"type": "object"},
    window_start=STR,
    window_end=STR,
    request_ids=array(STR),
    paused={"type": "boolean"},
    detected_at=STR,
)
_LIST = obj(("object", "data"), object={"const": "list"}, data=array(_ANOMALY))
_RESUMED = obj(
    ("id", "object", "paused", "resumed"),
    id=STR,
    object={"const": "api_key_pause"},
    paused={"const": False},
    resumed={"type": "boolean"},
)
_CHOICE = obj(("pause",), pause={"type": ["boolean", "null"]}, key_id=STR)
_CHOSEN = obj(
    ("object", "pause", "keys"),
    object={"const": "anomaly_pause"},
    pause={"type": "boolean"},
    keys={"type": "object", "additionalProperties": {"type": "boolean"}},
)

LIST_ANOMALIES = op("The account's newest 100 spend anomalies", "account", USER, ok=_LIST)
ADMIN_LIST_ANOMALIES = op(
    "The newest 100 spend anomalies, of one account or of all",
    "admin",
    ADMIN,
    ok=_LIST,
    params=(query("account_id", STR, "only this account's"),),
)
RESUME_KEY = op(
    "Lift a key's pause after a spend anomaly", "account", USER, ok=_RESUMED, params=(KEY_ID,)
)
ADMIN_RESUME_KEY = op(
    "Lift a key's pause after a spend anomaly", "admin", ADMIN, ok=_RESUMED, params=(KEY_ID,)
)
SET_PAUSE = op(
    "Pause keys automatically on a spend anomaly: the account's choice or one key's",
    "account",
    USER,
    ok=_CHOSEN,
    body=_CHOICE,
)
ADMIN_SET_PAUSE = op(
    "Pause an account's keys automatically on a spend anomaly, or one key's",
    "admin",
    ADMIN,
    ok=_CHOSEN,
    params=(ACCOUNT_ID,),
    body=_CHOICE,
)
