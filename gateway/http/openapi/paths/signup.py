"""OpenAPI paths of signing up and `meterway login` (/v1/auth), and the operator's sign-ups."""

from __future__ import annotations

from gateway.http.bodies import NO_NUL_PATTERN
from gateway.http.openapi.paths.operator import ADMIN, USER
from gateway.http.openapi.schemas import (
    BOOL,
    INT,
    STR,
    array,
    nullable,
    obj,
    op,
    path_param,
    query,
)

_PUBLIC: list[dict[str, list[str]]] = []
_EMAIL = {"type": "string", "format": "email", "maxLength": 254}
_TOKEN = obj(
    ("access_token", "token_type", "expires_in", "scope", "key_id", "account_id"),
    access_token=STR,
    token_type={"const": "Bearer"},
    expires_in=INT,
    scope=STR,
    key_id=STR,
    account_id=STR,
)
# space-separated scope names, at least one
_SCOPES = {"type": "string", "minLength": 1, "maxLength": 1000, "pattern": "[!-~]"}
_TTL = {"type": "integer", "minimum": 60, "maximum": 366 * 86400}
_CODE = {"type": "string", "pattern": "^[0-9]{6}$"}
_STATUS = {"enum": ["pending", "active", "rejected"]}
SIGNUP = obj(
    ("account_id", "email", "status"),
    object=STR,
    account_id=STR,
    email=STR,
    status=_STATUS,
    via={"enum": ["e-mail", "oidc"]},
    plan=STR,
    created_at=STR,
    decided_at=nullable("string"),
    decided_by=nullable("string"),
    trial=BOOL,
    trial_state={"enum": ["given", "revoked", "waiting_for_card", "withheld", "unchecked", "none"]},
    refused_by={"enum": ["disposable", "network", "device", "card", "operator", None]},
)


REGISTER = op(
    "Sign up: e-mail a verification link and code (202 for any allowed address)",
    "auth",
    _PUBLIC,
    status="202",
    ok=obj(("email", "status"), object=STR, email=STR, status=STR, expires_in=INT),
    body=obj(("email",), email=_EMAIL),
)
VERIFY = op(
    "Verify the e-mailed code: the organization, and a one-use sign-in link",
    "auth",
    _PUBLIC,
    ok=obj(
        ("account_id", "status", "signin_url"),
        object=STR,
        account_id=STR,
        status=_STATUS,
        signin_url=STR,
        trial={
            "type": ["object", "null"],
            "description": "null while it waits for approval or its plan gives none; else"
            " `given`, and when false the one `trial_withheld` error object",
        },
    ),
    body=obj(
        ("email", "code"),
        email=_EMAIL,
        code={"type": "string", "pattern": "^[0-9]{6}$"},
    ),
)
DEVICE_START = op(
    "Start `meterway login`: a device code and a user code (RFC 8628)",
    "auth",
    _PUBLIC,
    ok=obj(
        ("device_code", "user_code", "verification_uri", "expires_in", "interval"),
        device_code=STR,
        user_code=STR,
        verification_uri=STR,
        verification_uri_complete=STR,
        expires_in=INT,
        interval=INT,
    ),
    body=obj((), scope=STR),
    body_required=False,
)
DEVICE_TOKEN = op(
    "Poll with the device code: 400 authorization_pending until approved, then the token, once",
    "auth",
    _PUBLIC,
    ok=_TOKEN,
    body=obj(("device_code",), device_code=STR),
)
WHOAMI = op(
    "Who the presented key or token is: organization, person, scopes, expiry",
    "auth",
    USER,
    ok=obj(
        ("account_id", "scopes"),
        object=STR,
        account_id=STR,
        organization=nullable("string"),
        status=_STATUS,
        email=nullable("string"),
        role=nullable("string"),
        kind=STR,
        key_id=nullable("string"),
        scopes=array(STR),
        expires_at=nullable("string"),
    ),
)
TOKENS = op(
    "A new token no wider than the caller (and its person's role)",
    "auth",
    USER,
    status="201",
    ok=_TOKEN,
    body=obj(("scope",), scope=_SCOPES, expires_in=_TTL),
)
LOGOUT = op(
    "The presented key revokes itself",
    "auth",
    USER,
    ok=obj(("key_id", "revoked"), object=STR, key_id=STR, revoked={"const": True}),
)
LIST_SIGNUPS = op(
    "Sign-ups, newest first",
    "admin",
    ADMIN,
    ok=obj(("data",), object=STR, data=array(SIGNUP)),
    params=(query("status", _STATUS),),
)
APPROVE = op(
    "Approve a pending sign-up: its keys served, its trial given, the person e-mailed",
    "admin",
    ADMIN,
    ok=SIGNUP,
    params=(path_param("account_id"),),
)
REJECT = op(
    "Reject a pending sign-up: its keys stay refused, the person e-mailed",
    "admin",
    ADMIN,
    ok=SIGNUP,
    params=(path_param("account_id"),),
)
_FARM_ACCOUNT = obj(
    ("account_id", "email", "trial"),
    account_id=STR,
    email=STR,
    status=nullable("string"),
    trial={"enum": ["given", "revoked", "waiting_for_card", "withheld", "unchecked", "none"]},
    refused_by={"enum": ["disposable", "network", "device", "card", "operator", None]},
    created_at=STR,
)
FARM = obj(
    ("accounts", "shared"),
    object=STR,
    shared=obj(card=array(STR), network=array(STR), mailbox=array(STR)),
    accounts=array(_FARM_ACCOUNT),
)
LIST_FARMS = op(
    "Suspected farms: sign-ups of the last 30 days sharing a card, a network or a mailbox",
    "admin",
    ADMIN,
    ok=obj(("data",), object=STR, data=array(FARM)),
)
REVOKE_TRIALS = op(
    "Take back the sign-up trials of these accounts: each trial grant revoked, its rest"
    " written off by an `expire` entry",
    "admin",
    ADMIN,
    ok=obj(
        ("data",),
        object=STR,
        data=array(
            obj(("account_id", "revoked_grants"), account_id=STR, revoked_grants=array(INT))
        ),
    ),
    body=obj(
        ("account_ids",),
        account_ids={
            **array(
                {"type": "string", "minLength": 1, "maxLength": 200, "pattern": NO_NUL_PATTERN}
            ),
            "minItems": 1,
            "maxItems": 500,
        },
    ),
)
