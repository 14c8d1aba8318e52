"""The dashboard's pages in /openapi.json: HTML for people, not an API, but listed so the
document names every route. Forms post application/x-www-form-urlencoded with a `csrf` field.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.http.openapi.schemas import (
    STR,
    path_param,
)

_HTML = {"text/html": {"schema": STR}}
_ACCT = "/dashboard/operators/accounts/{account_id}"  # an account's Operators pages
_SESSION: list[dict[str, list[str]]] = [{"dashboardSession": []}]
PAGES = (
    ("get", "/dashboard", "Overview (or the Operators page for an operator session)"),
    ("get", "/dashboard/", "Overview"),
    ("get", "/dashboard/signin", "Sign-in form"),
    ("post", "/dashboard/signin", "Exchange an API key, token or admin key for a session"),
    ("get", "/dashboard/signin/oidc", "On to the identity provider (OpenID Connect)"),
    ("get", "/dashboard/signin/oidc/callback", "Back from the identity provider: a session"),
    ("post", "/dashboard/signin/email", "E-mail a one-use sign-in link (one answer for all)"),
    ("get", "/dashboard/signin/link/{secret}", "The page of an e-mailed link: a Sign in button"),
    ("post", "/dashboard/signin/link/{secret}", "Use an e-mailed link: a session, or choices"),
    ("get", "/dashboard/signin/choose", "After a sign-in: organizations to enter, invitations"),
    ("post", "/dashboard/signin/choose/{member_id}/enter", "Enter one of your organizations"),
    ("post", "/dashboard/signin/choose/{member_id}/accept", "Accept an invitation: a session"),
    ("post", "/dashboard/signin/choose/{member_id}/decline", "Decline an invitation"),
    ("get", "/dashboard/signin/invitation/{secret}", "An invitation's link: Accept, Decline"),
    ("post", "/dashboard/signin/invitation/{secret}", "Accept by the link, once: a session"),
    ("post", "/dashboard/signin/invitation/{secret}/decline", "Decline by the link"),
    ("post", "/dashboard/signout", "End the session"),
    ("get", "/dashboard/keys", "Keys"),
    ("post", "/dashboard/keys", "Create a key; the answer shows its secret once"),
    ("post", "/dashboard/keys/{key_id}/limits", "Set a key's limits"),
    ("post", "/dashboard/keys/{key_id}/rotate", "Rotate a key"),
    ("post", "/dashboard/keys/{key_id}/revoke", "Revoke a key"),
    ("post", "/dashboard/keys/{key_id}/team", "Put a key in a team, or in none"),
    ("get", "/dashboard/members", "Members: invite, change roles, remove"),
    ("post", "/dashboard/members", "Invite someone by e-mail with a role"),
    ("post", "/dashboard/members/{member_id}/role", "Change a member's role"),
    ("post", "/dashboard/members/{member_id}/remove", "Remove a member"),
    ("get", "/dashboard/teams", "Teams, their keys and their limits"),
    ("post", "/dashboard/teams", "Create a team"),
    ("post", "/dashboard/teams/{team_id}/quotas", "Set a team's limits"),
    ("get", "/dashboard/end-users", "End-user budgets: the organization's default, one's own"),
    ("post", "/dashboard/end-users", "Set or remove an end-user budget"),
    ("get", "/dashboard/billing", "Billing: balance, method, auto top-up, plans, payments"),
    ("post", "/dashboard/billing/topup", "Top up: on to the provider's payment page"),
    ("post", "/dashboard/billing/setup", "Save or change the payment method (provider page)"),
    ("post", "/dashboard/billing/portal", "On to the provider's billing portal"),
    ("post", "/dashboard/billing/auto-topup", "Save or turn off auto top-up"),
    ("post", "/dashboard/billing/plan", "Change plan (a checkout page when no card is on file)"),
    ("post", "/dashboard/billing/cancel", "Cancel the subscription at the end of its period"),
    ("post", "/dashboard/billing/alert-add", "Add an alert (a webhook's secret is shown once)"),
    ("post", "/dashboard/billing/alert-remove", "Remove an alert"),
    ("get", "/dashboard/billing/receipts/{receipt_id}", "A payment's receipt, printable"),
    ("get", "/dashboard/billing/receipts/{receipt_id}/pdf", "A payment's receipt as a PDF"),
    ("get", "/dashboard/usage", "Usage report with filters"),
    ("get", "/dashboard/usage/export", "The usage report as a CSV download"),
    ("get", "/dashboard/usage/requests/{request_id}", "A request's ledger rows and its price"),
    ("get", "/dashboard/statements", "The month picker's target: to that month's statement"),
    ("get", "/dashboard/statements/{month}", "A month's statement, printable (Print to PDF)"),
    ("get", "/dashboard/statements/{month}/export", "A month's statement as a CSV download"),
    ("get", "/dashboard/operators/accounts/{account_id}/statements", "To an account's statement"),
    (
        "get",
        "/dashboard/operators/accounts/{account_id}/statements/{month}",
        "An account's statement of a month, printable",
    ),
    (
        "get",
        "/dashboard/operators/accounts/{account_id}/statements/{month}/export",
        "An account's statement of a month as a CSV download",
    ),
    (
        "get",
        "/dashboard/operators/accounts/{account_id}/receipts/{receipt_id}",
        "An account's receipt of a payment, printable",
    ),
    (
        "get",
        "/dashboard/operators/accounts/{account_id}/receipts/{receipt_id}/pdf",
        "An account's receipt of a payment as a PDF",
    ),
    ("get", "/dashboard/operators", "Accounts, search, health and settlement backlog"),
    ("get", "/dashboard/operators/accounts/{account_id}", "One account: credit, plan, keys"),
    (
        "get",
        "/dashboard/operators/accounts/{account_id}/confirm/{action}",
        "A credit, adjustment, refund, grant revocation or plan change read back, with Confirm",
    ),
    ("post", "/dashboard/operators/accounts/{account_id}/credit", "Credit an account once"),
    ("post", "/dashboard/operators/accounts/{account_id}/adjustment", "Adjust a balance once"),
    ("post", "/dashboard/operators/accounts/{account_id}/plan", "Change an account's plan"),
    ("post", "/dashboard/operators/accounts/{account_id}/refund", "Refund a top-up once"),
    ("post", "/dashboard/operators/accounts/{account_id}/revoke-grant", "Revoke a credit grant"),
    ("get", "/dashboard/operators/new", "Open an account: plan, opening credit, external id"),
    ("post", "/dashboard/operators/accounts", "Open the account and fund its opening credit once"),
    ("get", f"{_ACCT}/people", "An account's members, keys, teams, budgets"),
    (
        "get",
        f"{_ACCT}/people/confirm/{{action}}",
        "A removal, revocation or rotation read back, with Confirm",
    ),
    ("post", f"{_ACCT}/members", "Invite someone; the accept link is shown"),
    ("post", f"{_ACCT}/members/{{member_id}}/role", "Change a member's role"),
    ("post", f"{_ACCT}/members/{{member_id}}/remove", "Remove a member"),
    ("post", f"{_ACCT}/keys", "Issue a key; its secret is shown once"),
    ("post", f"{_ACCT}/keys/{{key_id}}/rotate", "Rotate a key"),
    ("post", f"{_ACCT}/keys/{{key_id}}/revoke", "Revoke a key"),
    ("post", f"{_ACCT}/teams", "Create a team with its budget"),
    ("post", f"{_ACCT}/teams/{{team_id}}/quotas", "Set a team's budget"),
    ("post", f"{_ACCT}/end-users", "Set or remove an end-user budget"),
    ("get", "/dashboard/system", "Readiness, tasks, upstreams, backlog, dead letters, exporters"),
    ("get", "/dashboard/audit", "The organization's audit log (owners)"),
    ("get", "/dashboard/operators/audit", "Every account's audit log (operators)"),
    ("get", "/dashboard/static/{name}", "A static file shipped with the package"),
    ("get", "/dashboard/signup", "Sign-up form (SIGNUP_POLICY open or approval)"),
    ("post", "/dashboard/signup", "Sign up: e-mail a verification link and code"),
    ("post", "/dashboard/signup/code", "Verify by the e-mailed code: the new owner's session"),
    ("get", "/dashboard/signup/verify/{secret}", "A verification link's page: a Verify button"),
    ("post", "/dashboard/signup/verify/{secret}", "Verify by the link, once: a session"),
    ("get", "/dashboard/device", "Approve a `meterway login`: its code and scopes"),
    ("post", "/dashboard/device", "Approve or deny a `meterway login` code"),
    ("get", "/dashboard/operators/signups", "Sign-ups: the pending ones with Approve, Reject"),
    ("post", "/dashboard/operators/signups/{account_id}/approve", "Approve a pending sign-up"),
    ("post", "/dashboard/operators/signups/{account_id}/reject", "Reject a pending sign-up"),
)


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


def dashboard_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for method, path, summary in PAGES:
        paths.setdefault(path, {})[method] = _page(summary, path)
    return paths
