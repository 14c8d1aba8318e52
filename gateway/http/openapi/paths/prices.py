"""OpenAPI operations of the operator's price changes (http/admin/prices.py)."""

from __future__ import annotations

from billing.money.plans import MAX_MARKUP_BPS
from gateway.http.bodies import NO_NUL_PATTERN
from gateway.http.openapi.paths.operator import ADMIN
from gateway.http.openapi.schemas import (
    INT,
    STR,
    array,
    nullable,
    obj,
    op,
    path_param,
    query,
    whole,
)

CHANGE_ID = {
    "name": "change_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,17}$"},
}
_MODELS = {
    "type": "object",
    "description": "model name -> pricing.toml fields: rates (USD per 1M tokens, per call);"
    " a model not served yet also its provider and max_output_tokens",
}
_BOOKS = {
    "type": "object",
    "description": "price books (docs/guides/price-books.md): book name -> {parent, adjust_bps,"
    " until_ms, note, rules: [{model | family, dimension, rate | adjust_bps}]}; a change sets"
    " `models` or books (`books`, `assign`), never both",
}
_ASSIGN = {
    "type": "object",
    "description": '{"accounts": {ID: BOOK | null}, "plans": {PLAN: BOOK | null}}',
}
_WHEN = {"type": "string", "format": "date-time", "description": "RFC 3339, in the future"}
_NOTE = {"type": "string", "maxLength": 2000, "pattern": NO_NUL_PATTERN}
_MARKUP = {
    "anyOf": [
        obj(
            ("account_id", "markup_bps"),
            account_id=STR,
            markup_bps={"anyOf": [INT, {"type": "null"}]},
        ),
        {"type": "null"},
    ],
    "description": "an account's markup change (models is then empty); null for model prices",
}
_PLAN_MARKUP = {
    "anyOf": [
        obj(("plan", "markup_bps"), plan=STR, markup_bps=INT),
        {"type": "null"},
    ],
    "description": "a plan's markup change (config/plans.toml moved it; models is then empty):"
    " every account on the plan without a markup of its own, and those opened on it later",
}
_PREVIEW = obj(
    ("days", "accounts", "total"),
    days=INT,
    accounts=array({"type": "object"}),
    total={"type": "object"},
)
_REVIEW = obj(
    ("diff", "preview", "largest_move_percent"),
    diff=array(STR),
    preview=_PREVIEW,
    largest_move_percent=STR,
)
_CHANGE = obj(
    ("id", "status", "effective_at", "diff", "preview", "largest_move_percent"),
    id=INT,
    status={"enum": ["pending", "approved", "rejected"]},
    models=_MODELS,
    books=_BOOKS,
    assign=_ASSIGN,
    markup=_MARKUP,
    plan_markup=_PLAN_MARKUP,
    effective_at=_WHEN,
    note=STR,
    diff=array(STR),
    preview=_PREVIEW,
    largest_move_percent=STR,
    proposed_by=STR,
    proposed_at=STR,
    decided_by=nullable("string"),
    decided_at=nullable("string"),
)
_PROPOSAL = obj(
    ("effective_at",),
    models=_MODELS,
    books=_BOOKS,
    assign=_ASSIGN,
    effective_at=_WHEN,
    note=_NOTE,
)
_BOOK = obj(
    ("name", "version", "status", "effective_at", "rules"),
    name=STR,
    version={"type": "integer", "description": "the price change that defined it"},
    status={"enum": ["in_force", "scheduled", "ended"]},
    parent=nullable("string"),
    adjust_bps=nullable("integer"),
    effective_at=STR,
    until=nullable("string"),
    note=STR,
    rules=array({"type": "object"}),
)
BOOKS = op(
    "Price books: every version (in force, scheduled, ended) and every dated assignment",
    "admin",
    ADMIN,
    ok=obj(
        ("object", "data", "assignments"),
        object=STR,
        data=array(_BOOK),
        assignments=array(
            obj(
                ("kind", "id", "book", "effective_at"),
                kind={"enum": ["account", "plan"]},
                id=STR,
                book=nullable("string"),
                effective_at=STR,
            )
        ),
    ),
)

PREVIEW = op(
    "What a price change would move: its diff, and the last 30 days of usage re-priced per account",
    "admin",
    ADMIN,
    ok=_REVIEW,
    body=_PROPOSAL,
)
PROPOSE = op(
    "Propose a price change: pending until approved, in force from its effective time",
    "admin",
    ADMIN,
    ok=_CHANGE,
    status="201",
    body=_PROPOSAL,
)
LIST = op(
    "Price changes, newest first",
    "admin",
    ADMIN,
    ok=obj(("object", "data"), object=STR, data=array(_CHANGE)),
    params=(query("status", {"enum": ["pending", "approved", "rejected"]}),),
)
GET = op("One price change", "admin", ADMIN, ok=_CHANGE, params=(CHANGE_ID,))
APPROVE = op(
    "Approve a pending price change (another operator's, when PRICE_CHANGE_APPROVERS=2)",
    "admin",
    ADMIN,
    ok=_CHANGE,
    params=(CHANGE_ID,),
    body=obj((), confirm={"type": "string", "description": "the largest move, e.g. 12.5%"}),
    body_required=False,
)
REJECT = op("Reject a pending price change", "admin", ADMIN, ok=_CHANGE, params=(CHANGE_ID,))
UNPRICED = op(
    "Models refused for want of a price in the last 30 days, with their calls and accounts",
    "admin",
    ADMIN,
    ok=obj(
        ("object", "data"),
        object=STR,
        data=array(
            obj(
                ("model", "calls", "accounts", "first_seen", "last_seen", "price_with"),
                model=STR,
                calls=INT,
                accounts=INT,
                first_seen=STR,
                last_seen=STR,
                price_with={"type": "object", "description": "the price change that serves it"},
            )
        ),
    ),
)
PROPOSE_MARKUP = op(
    "Propose the account's own markup over provider cost (null: its plan's) as a price change:"
    " pending until approved, in force from its effective time (default: a day ahead)",
    "admin",
    ADMIN,
    ok=_CHANGE,
    status="202",
    params=(path_param("account_id"),),
    body=obj(
        ("markup_bps",),
        markup_bps={"anyOf": [whole(0, MAX_MARKUP_BPS), {"type": "null"}]},
        effective_at=_WHEN,
        note=_NOTE,
    ),
)
