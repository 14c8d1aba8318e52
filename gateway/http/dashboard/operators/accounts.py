"""The Operators pages: find accounts, look at one (credit, grants, plan, keys, ledger),
and the System page (readiness, tasks, upstreams, settlement backlog, dead letters,
exporters). For the ADMIN_API_KEY or a token with the `admin` scope, the same operators
the admin API lets in; each page calls what its /admin/v1 route calls.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from billing import authority
from billing.money.micros import format_usd
from gateway.errors import NotFound, PermissionDenied
from gateway.http.appkeys import DIRECTORY, LEDGER, PAYMENTS, PLANS, STORE
from gateway.http.dashboard.account import spend_section
from gateway.http.dashboard.charts import GRANULARITIES, STACKS
from gateway.http.dashboard.form_tokens import mint
from gateway.http.dashboard.people.session import BASE, SESSION
from gateway.http.dashboard.web import render
from gateway.http.openapi.paths import dashboard as dashboard_doc
from gateway.http.ops.health import readiness
from gateway.http.principal import ACCOUNT_READ, KEYS_READ, USAGE_READ, Principal
from gateway.http.routing import Route, declare
from gateway.http.serialize import account_json, entry_json, key_use_json
from gateway.http.shared.contracts.byok import holders_json
from gateway.http.shared.credit_grants import grants_of
from gateway.http.shared.operator.accounts import account_windows
from gateway.http.shared.operator.system import system_report
from gateway.http.shared.trust.anomalies import anomalies_json, paused_keys
from gateway.http.shared.usage.reports import query_text
from gateway.http.whole import parse_whole
from gateway.stores.records import Row

OPS = f"{BASE}/operators"
PAGE = 50
GRANT_KINDS = ("paid", "promotional", "trial")  # offered first; any lower-case word is taken


def operator(request: web.Request) -> None:
    if not request[SESSION].operator:
        raise PermissionDenied("Operators only: sign in with the admin key or an admin token.")


async def accounts(request: web.Request) -> web.Response:
    operator(request)
    # the API's reading of the query (a NUL is a 400 naming the field, not a 500)
    q, plan = (query_text(request, "q") or "").strip(), query_text(request, "plan") or ""
    rows = await request.config_dict[DIRECTORY].search_accounts(
        query=q or None, plan=plan or None, after=query_text(request, "after"), limit=PAGE + 1
    )
    return render(
        request,
        "ops_accounts.html",
        title="Operators",
        nav="operators",
        accounts=[account_json(r, None) for r in rows[:PAGE]],
        next_after=rows[PAGE - 1]["id"] if len(rows) > PAGE else None,
        q=q,
        plan=plan,
        plans=list(request.config_dict[PLANS].plans),
        health=await readiness(request),
        settled=await request.config_dict[STORE].settled_total(),
    )


async def target_row(request: web.Request) -> Row:
    row = await request.config_dict[LEDGER].get_account(request.match_info["account_id"])
    if row is None:
        raise NotFound("No such account.")
    return row


async def _before(request: web.Request) -> int | None:
    """The ledger page's `before`; none when absent or empty (a 400 naming it otherwise)."""
    raw = request.query.get("before", "")
    return parse_whole(raw, "before", minimum=1) if raw else None


def reading(account_id: str) -> Principal:
    """How an operator reads an account's usage: as its owner would, read-only."""
    return Principal(account_id, "user", frozenset({ACCOUNT_READ, USAGE_READ, KEYS_READ}))


async def account(request: web.Request, *, status: int = 200, **extra: Any) -> web.Response:
    operator(request)
    row = await target_row(request)
    app = request.config_dict
    entries = await app[LEDGER].entries(row["id"], before=await _before(request), limit=PAGE + 1)
    keys = await app[DIRECTORY].keys_of(row["id"], include_revoked=True)
    payments, grants = await _refundable(request, row["id"]), await grants_of(request, row["id"])
    tokens = await _tokens(request, row["id"], len(payments), len(grants))
    return render(
        request,
        "ops_account.html",
        status=status,
        title=f"Account {row['name']}",
        nav="operators",
        account=account_json(row, await app[STORE].money(row["id"])),
        windows=await account_windows(request, row["id"]),
        keys=[key_use_json(k) for k in keys],
        entries=[entry_json(e) for e in entries[:PAGE]],
        next_before=entries[PAGE - 1]["id"] if len(entries) > PAGE else None,
        plans=list(app[PLANS].plans),
        form_tokens=dict(zip(FORMS, tokens, strict=False)),
        payments=_with(payments, tokens[len(FORMS) :]),
        grants=_with(grants, tokens[len(FORMS) + len(payments) :]),
        grant_kinds=GRANT_KINDS,
        spend=await spend_section(request, reading(row["id"])),
        anomalies=(await anomalies_json(request, row["id"]))["data"][:20],
        paused=await paused_keys(request, [k["id"] for k in keys]),
        granularities=GRANULARITIES,
        stacks=STACKS,
        **extra,
    )


FORMS = ("credit", "adjustment", "plan")


async def _tokens(request: web.Request, account_id: str, payments: int, grants: int) -> list[str]:
    """One single-use token per money form of the page (dashboard/form_tokens.py), in the
    order the page draws them: its three forms, each payment's refund, each grant's revocation."""
    path = f"{OPS}/accounts/{account_id}/"
    actions = [path + form for form in FORMS]
    actions += [path + "refund"] * payments + [path + "revoke-grant"] * grants
    return await mint(request, actions)


def _with(rows: list[dict[str, Any]], tokens: list[str]) -> list[dict[str, Any]]:
    return [row | {"form_token": token} for row, token in zip(rows, tokens, strict=False)]


async def _refundable(request: web.Request, account_id: str) -> list[dict[str, Any]]:
    """The account's succeeded top-ups, with the dollars their refund forms start from:
    what each has left to refund."""
    payments = request.config_dict.get(PAYMENTS)
    if payments is None:
        return []
    done = [p for p in await payments.history(account_id) if p["status"] == "succeeded"]
    # the refund field's value: what is left to refund, in dollars parse_usd reads back
    # exactly (no thousands comma)
    return [p | {"dollars": format_usd(p["amount_micros"] - p["refunded_micros"])} for p in done]


async def system(request: web.Request) -> web.Response:
    operator(request)
    report = await system_report(request)
    return render(
        request,
        "ops_system.html",
        title="System",
        nav="system",
        report=report,
        byok=await holders_json(request, None),
        notice=request.query.get("notice", ""),
    )


async def account_page(request: web.Request) -> web.Response:
    return await account(request, notice=request.query.get("notice", ""))


def add_routes(dash: web.Application) -> None:
    r = dash.router
    declare(
        r,
        Route(
            "GET",
            "/operators",
            accounts,
            authority.OPERATOR_PAGE,
            doc=dashboard_doc.page("Accounts, search, health and settlement backlog"),
        ),
        Route(
            "GET",
            "/operators/accounts/{account_id}",
            account_page,
            authority.OPERATOR_PAGE,
            doc=dashboard_doc.page("One account: credit, plan, keys"),
        ),
        Route(
            "GET",
            "/system",
            system,
            authority.OPERATOR_PAGE,
            doc=dashboard_doc.page("Readiness, tasks, upstreams, backlog, dead letters, exporters"),
        ),
    )
