"""The dashboard's pages in /openapi.json: HTML for people, not an API, but listed so the
document names every route; each page's route record gives `page(summary)`. Forms post
application/x-www-form-urlencoded with a `csrf` field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any

from gateway.http.openapi.schemas import (
    STR,
    Operation,
    path_param,
)

_HTML = {"text/html": {"schema": STR}}
_ACCT = "/dashboard/operators/accounts/{account_id}"  # an account's Operators pages
_SESSION: list[dict[str, list[str]]] = [{"dashboardSession": []}]


def _public(path: str) -> bool:
    return any(part in path for part in ("/signin", "/signup", "/static/"))


def _page(summary: str, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "summary": summary,
        "tags": ["dashboard"],
        "security": [] if _public(path) else _SESSION,
        "responses": {
            "200": {"description": "a page", "content": _HTML},
            "default": {"description": "an error page", "content": _HTML},
        },
    }
    params = [path_param(name) for name in re.findall(r"{(\w+)}", path)]
    if params:
        out["parameters"] = params
    return out


def page(summary: str) -> Callable[[str], Operation]:
    """A page's operation, made for its route's path (public or a session's, its
    parameters)."""
    return partial(_page, summary)
