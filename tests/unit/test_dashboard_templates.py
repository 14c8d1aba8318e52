"""Every dashboard template renders with what its pages can hand it: datetimes as the stores
return them (aware and naive) and as the APIs' strings, nulls in every optional field, names
hundreds of characters long, hundreds of rows. A template that pipes a value into a filter
that cannot take it (the Organization page's `signed_in_at | when`) fails here, not as a 500
in front of a person.

The contexts are built by hand from what the handlers pass; `test_every_template_is_drawn`
keeps the list complete when a template is added.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from billing.money.receipts import Receipt, Seller, receipt_facts, receipt_lines, seller_lines
from billing.proof.audit_words import KINDS
from billing.roles import ROLE_SCOPES
from gateway.errors import InternalError, NotFound, PermissionDenied
from gateway.http.dashboard.error_page import words
from gateway.http.dashboard.grants_view import GrantsView
from gateway.http.dashboard.keys import SCOPE_GROUPS
from gateway.http.dashboard.people.session import Session
from gateway.http.dashboard.web import ASSETS, environment
from gateway.http.principal import Principal

LONG = "a-very-long-name-" * 20  # 340 characters, no spaces to wrap at
MANY = 120
AWARE = datetime(2026, 11, 25, 23, 59, 59, tzinfo=UTC)
NAIVE = datetime(2026, 11, 25, 12, 0, 0)  # as a `timestamp` column comes back
TEXT = "2026-11-25T23:59:59Z"  # as the APIs' JSON carries an instant
NULL_SHOWN = re.compile(r'(>|=")None(<|")|\bNone\b(?!:)')
TEMPLATES = sorted(p.name for p in (ASSETS / "templates").glob("*.html"))
PARTIALS = {
    "_chart.html",
    "_chart_switch.html",
    "_org_nav.html",
    "_quota_rows.html",
    "_windows.html",
}
PARTIALS |= {"base.html"}


def _own_key(i: int) -> dict[str, Any]:
    """An own provider key as /v1/account/byok lists it (http/shared/contracts/byok.py)."""
    return {
        "object": "byok_key",
        "upstream": f"{LONG}{i}",
        "hint": "...WXYZ",
        "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-01-02T00:00:00+00:00",
        "failing_since": ("2026-01-03T00:00:00+00:00", None)[i % 2],
    }


def _anomaly(i: int) -> dict[str, Any]:
    """A spend anomaly as /v1/account/anomalies lists it (http/shared/trust/anomalies.py)."""
    return {
        "id": i, "scope": ("key", "team", "account")[i % 3], "scope_id": f"{LONG}{i}",
        "summary": f"requests of {10**9} this hour, against a median of 6 over 12 like hours",
        "window_start": "2026-11-27T19:00:00+00:00", "window_end": "2026-11-27T19:14:03+00:00",
        "request_ids": [f"req_{i}_{n}" for n in range(i % 6)], "paused": i % 2 == 0, "rule": "rate",
    }  # fmt: skip


def _owner() -> Session:
    who = Principal("acct_1", "user", ROLE_SCOPES["owner"], role="owner", member_id="m1")
    return Session(LONG, "csrf-token", who, True)


def _quota(metric: str = "spend_micros") -> dict[str, Any]:
    return {"window": "day", "metric": metric, "limit": 5_000_000}


def _window(i: int) -> dict[str, Any]:
    return {
        "scope": f"team {LONG}",
        "window": "day",
        "metric": ("spend_micros", "requests")[i % 2],
        "used": 9_999_992 if i % 2 == 0 else 50,
        "limit": 10_000_000 if i % 2 == 0 else 50,
        "resets_at": (AWARE, TEXT, None)[i % 3],
    }


def _limit(i: int) -> dict[str, Any]:
    """A limit of GET /v1/account's `limits`: every level, an end-user default unused."""
    level = ("end_user", "key", "team", "account")[i % 4]
    used = None if level == "end_user" else _window(i)["used"]
    return _window(i) | {"level": level, "name": LONG, "id": "x", "used": used,
                         "blocks": used is not None and i % 3 == 0}  # fmt: skip


def _series(metric: str) -> dict[str, Any]:
    days = [f"2026-11-{d:02d}" for d in range(1, 29)]
    parts = [{"label": f"{LONG}{i}", "values": [i * 7 for _ in days]} for i in range(4)]
    return {
        "metric": metric,
        "granularity": "day",
        "days": days,
        "values": [1 for _ in days],
        "series": parts,
    }


def _entry(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "occurred_at": (AWARE, NAIVE)[i % 2],
        "kind": "debit",
        "model": (LONG, None)[i % 2],
        "meter": (None, "gpu_seconds")[i % 2],
        "reason": (None, LONG)[i % 2],
        "key_id": (f"key_{i}", None)[i % 2],
        "request_id": (f"req_{i}", None)[i % 2],
        "input_tokens": (1_000_000, None)[i % 2],
        "output_tokens": (None, 5)[i % 2],
        "amount_micros": -1_654,
        "provider_cost_micros": (1_323, None)[i % 2],
        "price_version": ("v1", None)[i % 2],
    }


def _key(i: int) -> dict[str, Any]:
    return {
        "id": f"key_{i}",
        "name": f"{LONG}{i}",
        "prefix": "mw_live_ab",
        "expired": i % 2 == 0,
        "revoked": i % 3 == 0,
        "previous": ({"prefix": "mw_live_cd", "expires_at": (AWARE, TEXT)[i % 2]}, None)[i % 2],
        "scopes": ["chat", "embeddings"] if i % 2 else [],
        "models": ["gpt-4o"] if i % 2 else [],
        "quotas": [_quota(), _quota("requests")] if i % 2 else [],
        "spend_this_month_micros": 9_894,
        "last_used_at": (AWARE, None, TEXT)[i % 3],
        "expires_at": (None, NAIVE, TEXT)[i % 3],
        "team_id": ("team_1", None)[i % 2],
    }


def _member(i: int) -> dict[str, Any]:
    return {
        "id": f"m{i}",
        "email": (f"{LONG}@example.com", None)[i % 2],
        "subject": f"sub-{i}",
        "account": LONG,
        "role": "viewer",
        "accepted_at": (AWARE, None, NAIVE)[i % 3],
        "signed_in_at": (AWARE, NAIVE, None, TEXT)[i % 4],  # the 500
        "editable": i % 2 == 0,
    }


def _section(lines: int) -> dict[str, Any]:
    rows = [{"label": f"{LONG}{i}", "entries": 3, "amount_micros": 9_999_992} for i in range(lines)]
    return {"entries": lines, "total_micros": -9_999_992, "lines": rows}


def _statement(lines: int) -> dict[str, Any]:
    usage = _section(lines) | {"requests": 12_345, "model": _section(lines)["lines"]}
    usage |= {"key": _section(lines)["lines"]}
    return {
        "month": "2026-11",
        "account_id": LONG,
        "from": AWARE,
        "to": TEXT,
        "final": lines == 0,
        "complete": lines == 0,
        "missing_archives": ["ledger_2026_11"],
        "ledger_checkpoint": None
        if lines == 0
        else {"seq": 12, "head": "ab" * 32, "sealed_through_id": 99, "sealed_at": AWARE},
        "opening_balance_micros": 9_999_992,
        "closing_balance_micros": 1,
        "credits": _section(lines),
        "usage": usage,
        "expiries": _section(lines),
        "refunds": _section(lines),
        "adjustments": _section(lines),
        "other": _section(lines),
    }


def _readiness(tasks: int) -> dict[str, Any]:
    return {
        "status": "not_ready",
        "postgres": True,
        "redis": True,
        "redis_consistent": False,
        "price_catalogue": "v1",
        "error": LONG,
        "warning": LONG,
        "settlement_backlog": 1_000_000,
        "settlement_lag_ms": 12_345,
        "settlement_dead_letters": 3,
        "tasks": {
            f"{LONG}{i}": {
                "healthy": i % 2 == 0,
                "running": i % 3 == 0,
                "crashes": i,
                "last_error": None,
            }
            for i in range(tasks)
        },
        "upstreams": {
            f"up{i}": {
                "state": ("up", "cooling")[i % 2],
                "cooling_for_s": 30,
                "cooling_until": AWARE,
            }
            for i in range(tasks)
        },
    }


def _price_change(i: int, status: str) -> dict[str, Any]:
    """A price change as the Prices page shows it (http/dashboard/operators/prices.py)."""
    move = {"account_id": f"{LONG}{i}", "calls": 3, "before": "$0.002000", "after": "$0.004000",
            "change_percent": "100.0%"}  # fmt: skip
    return {
        "id": i, "status": status, "models": {"house": {}} if i % 2 else {},
        "markup": None if i % 2 else {"account_id": LONG, "markup_bps": 500},
        "plan_markup": {"plan": LONG, "markup_bps": 1500} if i % 4 == 1 else None,
        "effective_at": "2026-12-01T00:00:00+00:00", "note": (LONG, "")[i % 2],
        "diff": [f"~ {LONG} [default] input_mtok: 1.000000 -> 3.000000 USD"] * (i % 3),
        "preview": {"days": 30}, "largest_move_percent": "100.0%", "proposed_by": LONG,
        "decided_by": None if status == "pending" else LONG,
        "total": {"before_micros": "$0.002000", "after_micros": "$0.004000",
                  "change_micros": "$0.002000"},
        "moves": [move] * (i % 6), "more_accounts": i % 4, "needs_confirm": bool(i % 2),
    }  # fmt: skip


def _signup(i: int, status: str) -> dict[str, Any]:
    """A sign-up as the operator's page lists it: created_at as a timestamp column gives it."""
    return {
        "account_id": f"acct_{i}",
        "email": f"{LONG}{i}@example.com",
        "created_at": (AWARE, NAIVE)[i % 2],
        "status": status,
        "trial": bool(i % 2),
        "trial_state": ("given", "withheld", "waiting_for_card")[i % 3],
        "refused_by": (None, "network", None)[i % 3],
    }


def _farm(n: int) -> dict[str, Any]:
    """A suspected farm as the operator's page lists it (services/trial_gate.suspected)."""
    accounts = [
        {"account_id": f"acct_{i}", "email": f"{LONG}{i}@example.com", "status": "active",
         "trial": "given", "refused_by": (None, "card")[i % 2], "created_at": "2026-11-25"}
        for i in range(n)
    ]  # fmt: skip
    return {"shared": {"card": [LONG], "network": ["203.0.113.0/24"]}, "accounts": accounts}


def _receipt() -> Receipt:
    seller = Seller(LONG, (LONG, "Springfield"), "GB123")
    return Receipt("pi_1", "auto_topup", 9_999_992, AWARE, "acct_1", LONG, seller)


def full() -> dict[str, Any]:
    """Every optional field filled, every list long."""
    billing = {
        "next": {
            "action": "top_up",
            "reason": LONG,
            "url": "/dashboard/billing#topup",
            "cta": "Top up",
        },
        "balance_micros": 9_999_992,
        "held_micros": 9_894,
        "available_micros": 9_894,
        "plan": LONG,
        "mode": "prepaid",
        "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030},
        "payment_method_on_file": True,
        "provider": "stripe",
        "subscription": {
            "plan": LONG,
            "status": "active",
            "renews_at": None,
            "cancels_at": None,
            "pending_plan": "pro",
            "current_period_end": NAIVE,
        },
        "grace_period": {"ends_at": AWARE},
        "auto_topup": {
            "off_reason": "card_declined",
            "enabled": True,
            "threshold_micros": 5_000_000,
            "amount_micros": None,
            "monthly_cap_micros": 100_000_000,
        },
    }
    keys = [_key(i) for i in range(MANY)]
    view = {"granularity": "day", "stack": "model"}
    return {
        "session": _owner(),
        "nav": "overview",
        "csrf": "csrf-token",
        "title": LONG,
        "notice": "invited",
        "error": LONG,
        "typed": {"amount": "0.50"},
        "accept_url": "https://gw.example/dashboard/signin/invitation/" + "x" * 43,
        "next": billing["next"],
        "account": {
            "id": "acct_1",
            "balance_micros": 9_999_992,
            "held_micros": None,
            "available_micros": 9_894,
            "ledger_balance_micros": -1,
            "plan": LONG,
            "mode": "prepaid",
            "billing_ready": True,
            "windows": [_window(i) for i in range(12)],
            "limits": [_limit(i) for i in range(8)],
        },
        "billing": billing,
        "forecast": {"words": "At this week's pace the balance lasts about 3 days."},
        "spend": {
            "since": "2026-10-27",
            "total": 9_999_992,
            "view": view,
            "daily": _series("spend_micros"),
            "tokens": _series("tokens"),
            "by_model": [
                {"model": (LONG, None)[i % 2], "requests": 10**9, "spend_micros": 1}
                for i in range(MANY)
            ],
            "by_key": [
                {"key": (f"key_{i}", None)[i % 2], "requests": 3, "spend_micros": 9_894}
                for i in range(MANY)
            ],
            "key_names": {f"key_{i}": f"{LONG}{i}" for i in range(0, MANY, 4)},
        },
        "granularities": ["day", "week", "month"],
        "stacks": ["none", "model", "key"],
        "keys": keys,
        "teams": {"team_1": LONG, "team_2": "research"},
        "can_write": True,
        "can_team": True,
        "can_org": True,
        "paused": {k["id"] for k in keys},
        "pause_on_anomaly": True,
        "anomalies": [_anomaly(i) for i in range(MANY)],
        "own_keys": [_own_key(i) for i in range(MANY)],
        "byok_fee": {"object": "byok_fee", "percent_bps": 250, "fixed_micros": 1_500},
        "byok_upstreams": [f"{LONG}{i}" for i in range(MANY)],
        "byok": {
            "data": [_own_key(i) | {"account_id": f"acct_{i}"} for i in range(MANY)],
            "fee": {"object": "byok_fee", "percent_bps": 10_000, "fixed_micros": 10**9},
        },
        "can_keys": True,
        "can_pay": True,
        "scopes": sorted(ROLE_SCOPES["owner"]),
        "quota_rows": 3,
        "windows": ["minute", "hour", "day", "month", "total"],
        "metrics": ["requests", "tokens", "spend_micros", "input_tokens"],
        "members": [_member(i) for i in range(MANY)],
        "roles": ["owner", "admin", "billing", "member", "viewer"],
        "default": {"quotas": [_quota(), _quota("requests")]},
        "budgets": [
            {
                "end_user": (f"{LONG}{i}", None)[i % 2],
                "key_id": (None, f"key_{i}")[i % 2],
                "quotas": [_quota()],
            }
            for i in range(MANY)
        ],
        "team_keys": {"team_1": keys[:5]},
        "entries": [_entry(i) for i in range(MANY)],
        "key_names": {f"key_{i}": f"{LONG}{i}" for i in range(0, MANY, 2)},
        "team_names": {"team_1": LONG},
        "arithmetic": ["1,000 input tokens x 2.5 = 2,500", LONG],
        "debit": {
            "price_version": "v1",
            "meter": "gpu_seconds",
            "quantity": None,
            "amount_micros": -1_654,
        },
        "key": {"name": LONG, "key": "mw_live_" + "s" * 40, "previous": {"expires_at": NAIVE}},
        "fresh": False,
        "link": None,
        "oidc_name": LONG,
        "saml_name": LONG,
        "email_links": True,
        "invitation": {"account": LONG, "role": "admin"},
        "secret": "x" * 43,
        "declined": None,
        "person": LONG,
        "pending": [{"id": f"m{i}", "account": LONG, "role": "viewer"} for i in range(MANY)],
        "may_accept": False,
        "plans": [LONG, "free", "pro"],
        "form_tokens": {"credit": "k1", "adjustment": "k2", "plan": "k3"},
        "grant_kinds": ["paid", "promotional"],
        "payments": [
            {
                "created_at": (AWARE, NAIVE)[i % 2],
                "id": f"pay_{LONG}",
                "amount_micros": 10_000_000,
                "refunded_micros": (0, 2_500_000, 10_000_000)[i % 3],
                "form_token": "rk",
                "dollars": "10.00",
            }
            for i in range(MANY)
        ],
        "grants": [
            {
                "id": i,
                "kind": "promotional",
                "amount_micros": 2_500_000,
                "remaining_micros": 1,
                "priority": 10,
                "expires_at": (AWARE, None, TEXT)[i % 3],
                "status": ("active", "spent")[i % 2],
                "form_token": "rk",
            }
            for i in range(MANY)
        ],
        "credit": GrantsView([_grant(i) for i in range(MANY)], [_grant(0)]),
        "expiring": [_grant(i) for i in range(3)],
        "trial": {"given": False, "error": {"message": LONG, "code": "trial_withheld"}},
        "next_before": 17,
        "health": _readiness(MANY) | {"status": "ready"},
        "settled": 10**9,
        "q": LONG,
        "plan": "pro",
        "accounts": [
            {
                "id": f"acct_{i}",
                "name": LONG,
                "plan": "pro",
                "mode": "prepaid",
                "ledger_balance_micros": 9_894,
                "created_at": (AWARE, NAIVE, TEXT)[i % 3],
            }
            for i in range(MANY)
        ],
        "next_after": "acct_9",
        "account_id": "acct_1",
        "action": "credit",
        "what": {
            "summary": LONG,
            "amount_micros": 2_500_000,
            "reason": LONG,
            "form_token": "k",
            "payment_id": "pay_1",
            "grant_id": 3,
            "kind": "promotional",
            "expires": "2026-12-31",
            "priority": 10,
            "plan": "pro",
        },
        "balance": 9_999_992,
        "report": {
            "readiness": _readiness(MANY),
            "ledger_rows_written": 10**9,
            "dead_letters": [
                {
                    "parked_at": (AWARE, TEXT)[i % 2],
                    "reason": LONG,
                    "request_id": "r",
                    "account_id": ("a", None)[i % 2],
                    "id": "1-0",
                }
                for i in range(MANY)
            ],
            "exporters": [
                {
                    "target": "s3",
                    "configured": True,
                    "task": {"running": True, "crashes": 2},
                    "rows": {"sent": 10**6, "failed": 1},
                },
                {"target": "bigquery", "configured": False, "task": None, "rows": {}},
            ],
        },
        "s": _statement(MANY),
        "previous": "2026-10",
        "following": "2026-12",
        "export": "/dashboard/statements/2026-11.csv",
        "views": {"model": "By model", "key": "By key"},
        "filters": {
            "from": "2026-11-01",
            "to": None,
            "key_id": "key_0",
            "team_id": "",
            "kind": "",
            "metric": "spend_micros",
            "ledger_kind": "debit",
            "model": LONG,
        },
        "start": "2026-11-01",
        "end": "2026-12-01",
        "text_filters": {"model": "Model"},
        "kinds": {"llm": "LLM calls", "meter": "Meters"},
        "groups": ["model", "key", "end_user"],
        "group_by": "key",
        "chart": _series("spend_micros") | view,
        "rows": [
            {
                "key": (f"key_{i}", None)[i % 2],
                "requests": 10**9,
                "input_tokens": 10**12,
                "output_tokens": 0,
                "images": (3, None)[i % 2],
                "audio_seconds": 0,
                "characters": 12,
                "spend_micros": (9_894, 0, 10**12)[i % 3],
            }
            for i in range(MANY)
        ],
        "label": lambda v: v or "—",
        "totals": {
            "requests": 1,
            "input_tokens": 2,
            "output_tokens": 3,
            "images": 0,
            "audio_seconds": 61,
            "characters": 0,
            "spend_micros": 9_894,
        },
        "ledger_kinds": ["debit", "credit"],
        "upgrade": "pro",
        "alert_secret": "whsec_" + "z" * 30,
        "alerts": [
            {
                "id": f"al{i}",
                "kind": ("balance_below", "spend_above")[i % 2],
                "amount_micros": 9_894,
                "period": "month",
                "email": (LONG + "@example.com", None)[i % 2],
                "webhook_url": ("https://h.example/x", None)[i % 3 == 0],
            }
            for i in range(MANY)
        ],
        "invoices": [
            {
                "created": (AWARE, TEXT)[i % 2],
                "url": ("https://pay.example/i", None)[i % 2],
                "number": (None, "INV-1")[i % 2],
                "id": "in_1",
                "amount_micros": 9_894,
                "status": "paid",
            }
            for i in range(MANY)
        ],
        "issued": [
            {
                "number": f"INV-{i:06d}",
                "kind": ("invoice", "credit note")[i % 2],
                "month": "2026-11",
                "issued_at": (AWARE, NAIVE)[i % 2],
                "currency": ("EUR", "USD")[i % 2],
                "total": ("€1,234.56", "$1.00")[i % 2],
                "usd_micros": (1_337_000, None)[i % 2],
                "rate": "0.9231",
                "status": ("issued", "sent", "paid")[i % 3],
                "url": (None, "https://invoice.stripe.com/i/x")[i % 2],
            }
            for i in range(MANY)
        ],
        "history": [
            {
                "created_at": (AWARE, NAIVE)[i % 2],
                "id": f"pi_{i}",
                "purpose": "top_up",
                "amount_micros": 10_000_000,
                "refunded_micros": (0, 2_500_000)[i % 2],
                "status": ("failed", "succeeded")[i % 2],
                "failure": (LONG, None)[i % 2],
            }
            for i in range(MANY)
        ],
        "checkout": "success",
        "r": _receipt(),
        "seller": seller_lines(_receipt().seller),
        "facts": receipt_facts(_receipt()),
        "lines": receipt_lines(_receipt()),
        "audit_kinds": KINDS,
        "paid_plan": None,
        "pdf": "/dashboard/billing/receipts/pi_1/pdf",
        "back": "/dashboard/billing",
        "hosted": "http://pay.example.test/checkout/" + LONG,
        "said": words(PermissionDenied("x"), "viewer", "user"),
        "signin": False,
        "zone": "Europe/Paris",
        "scope_groups": SCOPE_GROUPS,
        "operator_view": True,
        "page": {"data": [_record(i) for i in range(MANY)], "has_more": True, "next_before": 7},
    }


def _record(i: int) -> dict[str, Any]:
    """An audit record as GET /v1/account/audit answers it."""
    return {
        "id": i,
        "occurred_at": (TEXT, AWARE)[i % 2],
        "account_id": (LONG, None)[i % 2],
        "actor_kind": "key",
        "actor_id": LONG,
        "actor_via": ("oidc", None)[i % 2],
        "action": "key.create",
        "target_kind": "key",
        "target_id": LONG,
        "before": ({"quotas": [_quota()]}, None)[i % 2],
        "after": {"name": LONG},
        "client_address": ("203.0.113.9", None)[i % 2],
        "request_id": (LONG, None)[i % 2],
        "sentence": f"Key “{LONG}” created key “{LONG}”.",
    }


def _typed_key() -> dict[str, Any]:
    """The key form as a refused submit typed it."""
    rows = [{"window": "day", "metric": "spend_micros", "typed": LONG}]
    return {"name": LONG, "models": LONG, "expires": "2030-01-01", "team_id": "team_1"} | {
        "groups": ["usage"],
        "scopes": ["chat"],
        "rows": [*rows, {"window": "", "metric": "", "typed": ""}],
    }


def _grant(i: int) -> dict[str, Any]:
    """A grant as grant_json answers it: ISO strings for its dates."""
    expires = ("2026-12-01T00:00:00+00:00", None)[i % 2]
    return {"id": i, "kind": LONG, "amount_micros": 2_500_000, "remaining_micros": 1} | {
        "priority": 10,
        "expires_at": expires,
        "status": "active",
    }


def sparse() -> dict[str, Any]:
    """Every optional field null or empty, every list empty: a new account's first visit."""
    ctx = full()
    empty_lists = [
        k
        for k, v in ctx.items()
        if isinstance(v, list)
        and k not in ("windows", "metrics", "roles", "granularities", "stacks", "groups")
    ]
    ctx |= {k: [] for k in empty_lists}
    billing = ctx["billing"] | {
        "next": {"action": "none", "reason": "", "url": "/dashboard/", "cta": ""},
        "card": None,
        "payment_method_on_file": False,
        "subscription": None,
        "grace_period": None,
        "auto_topup": None,
    }
    spend = ctx["spend"] | {"by_model": [], "by_key": [], "key_names": {}}
    spend |= {"daily": _series("spend_micros") | {"days": [], "values": [], "series": []}}
    spend |= {"tokens": _series("tokens") | {"days": [], "values": [], "series": []}}
    ctx |= {
        "session": Session("viewer", "c", Principal("a", "key", frozenset()), False),
        "notice": "",
        "credit": GrantsView([], []),
        "next": None,
        "account": ctx["account"] | {"windows": [], "balance_micros": None},
        "billing": billing,
        "forecast": None,
        "spend": spend,
        "teams": {},
        "can_write": False,
        "can_team": False,
        "can_org": False,
        "paused": set(),
        "pause_on_anomaly": False,
        "anomalies": [],
        "own_keys": [],
        "byok_fee": None,
        "byok_upstreams": [],
        "byok": {"data": [], "fee": {"object": "byok_fee", "percent_bps": 0, "fixed_micros": 0}},
        "can_keys": False,
        "can_pay": False,
        "default": None,
        "team_keys": {},
        "key_names": {},
        "team_names": {},
        "arithmetic": None,
        "debit": None,
        "fresh": True,
        "oidc_name": None,
        "saml_name": None,
        "email_links": False,
        "invitation": None,
        "next_before": None,
        "next_after": None,
        "s": _statement(0),
        "following": None,
        "chart": ctx["chart"] | {"days": [], "values": [], "series": []},
        "checkout": "",
        "upgrade": None,
        "said": words(InternalError("x")),
        "signin": True,
        "operator_view": False,
        "page": {"data": [], "has_more": False, "next_before": None},
        "filters": {k: "" for k in ctx["filters"]} | {"metric": "requests"},
        "health": ctx["health"] | {"tasks": {}, "redis": False},
        "report": {
            "readiness": ctx["report"]["readiness"]
            | {"tasks": {}, "upstreams": {}, "redis": False},
            "ledger_rows_written": None,
            "dead_letters": [],
            "exporters": [],
        },
    }
    for k in ("error", "typed", "alert_secret", "accept_url", "hosted"):
        ctx.pop(k)
    return ctx


# What a page hands a template under a name another page uses differently.
OVERRIDES: dict[str, dict[str, Any]] = {
    "ops_account.html": {
        "windows": [_window(i) for i in range(6)],
        "typed": {"form": "credit", "amount": LONG, "reason": LONG, "kind": "promotional"}
        | {"expires": "2031-03-31", "priority": "10"},
    },
    "org_teams.html": {
        "teams": [
            {"id": "team_1", "name": LONG, "keys": 1, "quotas": [_quota()]},
            {"id": "team_2", "name": "b", "keys": 0, "quotas": []},
        ]
    },
    "billing.html": {
        "plans": [
            {
                "name": n,
                "current": n == "free",
                "sales": n == LONG,
                "price_micros": 9_990_000,
                "mode": "prepaid",
                "quotas": [_quota()],
                "models": [],
            }
            for n in (LONG, "free", "pro")
        ],
        "commitment": {
            "active": True,
            "period": "quarter",
            "amount_micros": 10_000_000_000,
            "billing": "prepaid",
            "discount_bps": 1000,
            "on_exhausted": "overage",
            "overage_bps": 2000,
            "current_period": {
                "ends_at": "2027-01-01T00:00:00+00:00",
                "allowance_micros": 11_000_000_000,
                "rolled_in_micros": 1_000_000_000,
                "drawn_micros": None,  # Redis no longer knows the period: no held_micros
            },
        },
    },
    "statement.html": {"base": "/dashboard/statements"},
    "audit.html": {"filters": {"action": "key.create", "account_id": LONG}},  # the query's
    "signin.html": {"notice": LONG, "error": "", "signup_open": True},
    "signup.html": {
        "verify": "",
        "email": LONG + "@example.com",
        "policy": "approval",
        "error": "",
    },
    "device.html": {
        "done": "",
        "waiting": True,
        "code": "BCDF-GHJK",
        "scopes": LONG,
        "started": LONG,
        "error": "",
    },
    "ops_signups.html": {
        "pending": [_signup(i, "pending") for i in range(MANY)],
        "others": [_signup(i, ("approved", "rejected", "open")[i % 3]) for i in range(MANY)],
        "farms": [_farm(MANY), _farm(2)],
        "notice": LONG,
        "error": "",
    },
    "ops_prices.html": {
        "pending": [_price_change(i, "pending") for i in range(MANY // 4)],
        "scheduled": [_price_change(i, "approved") for i in range(3)],
        "decided": [_price_change(i, ("approved", "rejected")[i % 2]) for i in range(MANY // 4)],
        "unpriced": [
            {
                "model": f"{LONG}{i}",
                "calls": i,
                "accounts": 1,
                "first_seen": "2026-11-01T00:00:00+00:00",
                "last_seen": "2026-11-27T00:00:00+00:00",
            }
            for i in range(MANY)
        ],
        "approvers": 2,
        "notice": LONG,
        "error": "",
    },
    "ops_reconciliation.html": {
        "rows": [
            {
                "day": "2026-11-26",
                "credential": LONG,
                "model": ("", LONG)[i % 2],
                "kind": "cached_input",
                "class": "price_drift",
                "provider_tokens": 800,
                "ledger_tokens": 800,
                "provider_usd": ("—", "$0.000120")[i % 2],
                "ledger_usd": "$0.000060",
                "delta_usd": "$0.000060",
                "note": LONG,
                "valued_by": ("ledger_rates", "provider_bill")[i % 2],
                "failed_run_at": (None, "2026-11-27T02:00:00+00:00")[i % 2],
                "failed_run_error": (None, LONG)[i % 2],
            }
            for i in range(MANY)
        ],
        "runs": [
            {
                "day": "2026-11-26",
                "credential": LONG,
                "upstream": "openai",
                "checked_at": "2026-11-27T01:00:00+00:00",
                "differences": i,
                "error": (None, LONG)[i % 2],
                "compared_at": ("2026-11-27T01:00:00+00:00", None)[i % 2],
            }
            for i in range(MANY)
        ],
        "day": "2026-11-26",
        "error": "",
    },
    "ops_commitments.html": {
        "rows": [
            {
                "account_id": LONG,
                "period": ("month", "quarter", "year")[i % 3],
                "billing": ("prepaid", "arrears")[i % 2],
                "ends_at": "2027-01-01T00:00:00+00:00",
                "committed_micros": 10_000_000_000,
                "rolled_in_micros": i * 1_000,
                "drawn_micros": (0, 9_999_999_999)[i % 2],
                "held_micros": (None, 12_345)[i % 2],
                "left_micros": (None, 1)[i % 2],  # None: Redis no longer knows the period
                "discount_bps": 1000,
                "on_exhausted": ("overage", "refuse", "balance")[i % 3],
                "overage_bps": 500,
            }
            for i in range(MANY)
        ],
        "shown": MANY,
    },
    "ops_books.html": {
        "books": [
            {
                "name": LONG,
                "version": i,
                "status": ("in_force", "scheduled", "ended")[i % 3],
                "effective_at": "2026-11-27T00:00:00+00:00",
                "until": (None, "2027-01-01T00:00:00+00:00")[i % 2],
                "parent": (None, LONG)[i % 2],
                "adjust_bps": (None, -2000)[i % 2],
                "rules": [
                    {"family": LONG, "adjust_bps": -2000},
                    {"model": LONG, "dimension": "output", "rate_micros_per_unit": 500_000},
                ][: i % 3],
            }
            for i in range(MANY)
        ],
        "assignments": [
            {
                "kind": ("account", "plan")[i % 2],
                "id": LONG,
                "book": (None, LONG)[i % 2],
                "effective_at": "2026-11-27T00:00:00+00:00",
            }
            for i in range(MANY)
        ],
    },
    "invitations.html": {"members": [{"id": "m1", "account": LONG, "role": "owner"}]},
    "ops_people.html": {
        "teams": [
            {"id": "team_1", "name": LONG, "keys": 1, "quotas": [_quota()]},
            {"id": "team_2", "name": "b", "keys": 0, "quotas": []},
        ],
        "budgets": [
            {
                "applies_to": ("organization", "key", "end_user")[i % 3],
                "end_user": (None, None, f"{LONG}{i}")[i % 3],
                "key_id": (None, f"key_{i}", None)[i % 3],
                "quotas": [_quota(), _quota("requests")],
            }
            for i in range(MANY)
        ],
        "end_user_windows": ["minute", "hour", "day", "month"],
        "account": {"id": "acct_1", "name": LONG},
        "typed": _typed_key(),
    },
    "ops_console_confirm.html": {
        "summary": LONG,
        "action": "/dashboard/operators/accounts/a/keys/k/rotate",
        "rotate": True,
        "grace_default": 86_400,
        "max_grace": 604_800,
        "account": {"id": "acct_1", "name": LONG},
    },
    "keys.html": {"typed": _typed_key()},
    "ops_open_confirm.html": {
        "summary": LONG,
        "typed": {"name": LONG, "plan": "pro", "credit": "", "external_id": LONG},
        "form_token": LONG,
    },
    "ops_new_account.html": {
        "default_plan": "pro",
        "typed": {"name": LONG, "plan": "pro"},
        "form_token": LONG,
    },
}


def _render(name: str, ctx: dict[str, Any]) -> str:
    ctx = ctx | OVERRIDES.get(name, {})
    if name == "_windows.html" or name == "_quota_rows.html":
        ctx |= (
            {"windows": [_window(i) for i in range(6)]}
            if name == "_windows.html"
            else {"rows": [_quota()], "count": 3, "prefix": "p"}
        )
    if name == "_chart.html":
        ctx |= {"series": ctx["spend"]["daily"], "chart_id": "c", "chart_label": LONG}
    if name == "_chart_switch.html":
        ctx |= {"view": ctx["spend"]["view"], "base": {"q": LONG}}
    return environment().get_template(name).render(ctx)


@pytest.mark.parametrize("name", TEMPLATES)
@pytest.mark.parametrize("fill", [full, sparse])
def test_every_template_renders_filled_and_empty(name: str, fill: Any) -> None:
    text = _render(name, fill())
    assert not NULL_SHOWN.search(text)  # a null never reaches the page as "None"


def test_a_member_who_signed_in_reads_as_a_time_not_a_500() -> None:
    """The issue's crash: `signed_in_at` is a datetime from the store."""
    text = _render("org_members.html", full() | {"members": [_member(0) | {"signed_in_at": NAIVE}]})
    assert "2026-11-25 12:00 UTC" in text


def test_every_template_is_drawn() -> None:
    """Partials are drawn through the pages that include them and on their own above."""
    assert set(TEMPLATES) >= PARTIALS
    assert len(TEMPLATES) == len(set(TEMPLATES)) and TEMPLATES


def test_an_error_page_speaks_of_roles_not_scopes() -> None:
    for error in (
        PermissionDenied.lacking("billing:read", "This token lacks the 'billing:read' scope."),
        NotFound("x"),
    ):
        text = _render("error.html", full() | {"said": words(error, "viewer", "user")})
        assert "scope" not in text and "Back to the dashboard" in text


def test_usage_without_a_ledger_view_renders() -> None:
    assert "entries-h" not in _render("usage.html", sparse() | {"entries": None})


def test_a_date_renders_as_itself() -> None:
    assert "2026-12-31" in environment().from_string("{{ d | when }}").render(d=date(2026, 12, 31))
    assert Path(ASSETS / "templates" / "error.html").exists()
