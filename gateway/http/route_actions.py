"""The route table: every route of the app and the action it needs (billing/authority.py
decides who may do it). Data, so it can be printed (`python -m gateway.http.route_actions`)
and tested: tests/unit/test_authority.py walks the app's router and fails on a route this
table does not name (or names but the app lacks), and tests/e2e/test_authority_matrix.py
asks every kind of caller every account, billing, operator, metering and dashboard route
and checks each answer against `may`.

The account, billing and dashboard sub-apps check the action here before their handlers
run (`check`); a handler that touches one key or ledger row asks `may` again with it.
"""

from __future__ import annotations

from aiohttp import web

from billing.authority import ACTIONS, Action

_PROXY = """
POST /v1/chat/completions
POST /v1/completions
POST /v1/embeddings
POST /v1/moderations
POST /v1/messages
POST /v1/responses
POST /v1/images/generations
POST /v1/images/edits
POST /v1/images/variations
POST /openai/deployments/{deployment}/chat/completions
POST /openai/deployments/{deployment}/completions
POST /openai/deployments/{deployment}/embeddings
POST /openai/responses
POST /openai/v1/chat/completions
POST /openai/v1/completions
POST /openai/v1/embeddings
POST /openai/v1/responses
POST /v1/audio/transcriptions
POST /v1/audio/translations
POST /v1/audio/speech
POST /v1/models/{model}:generateContent
POST /v1/models/{model}:streamGenerateContent
POST /v1beta/models/{model}:generateContent
POST /v1beta/models/{model}:streamGenerateContent
GET /v1/models
GET /v1/responses/{response_id}
POST /v1/responses/{response_id}/cancel
GET /v1/responses/{response_id}/input_items
DELETE /v1/responses/{response_id}
POST /v1/files
GET /v1/files/{file_id}
GET /v1/files/{file_id}/content
POST /v1/batches
GET /v1/batches
GET /v1/batches/{batch_id}
POST /v1/batches/{batch_id}/cancel
POST /v1/messages/count_tokens
POST /v1/models/{model}:countTokens
POST /v1beta/models/{model}:countTokens
GET /v1/models/{model}
GET /v1/realtime
POST /v1/realtime/client_secrets
"""
# MCP servers' endpoints: a key, and per tool its scopes (billing/authority.py, may_call_tool).
_MCP = """
POST /mcp/{server}
GET /mcp/{server}
DELETE /mcp/{server}
"""
# Answered to anyone: health, documents, sign-in pages, and pages whose own secret (a
# webhook's signature, a local checkout's id) is the credential.
_PUBLIC = """
GET /
GET /api/ping
POST /webhooks/{provider}
GET /billing/local/checkout/{id}
POST /billing/local/checkout/{id}
GET /billing/local/checkout/{id}/done
GET /billing/local/authenticate/{id}
POST /billing/local/authenticate/{id}
GET /billing/local/portal/{id}
POST /billing/local/portal/{id}/card
POST /billing/local/subscriptions/{id}/renew
POST /billing/local/payments/{id}/refund
GET /healthz
GET /readyz
GET /openapi.json
GET /docs/api
GET /docs/api/{asset}
GET /dashboard/signin
POST /dashboard/signin
POST /v1/auth/register
POST /v1/auth/verify
POST /v1/auth/device
POST /v1/auth/device/token
GET /dashboard/signup
POST /dashboard/signup
POST /dashboard/signup/code
GET /dashboard/signup/verify/{secret}
POST /dashboard/signup/verify/{secret}
GET /dashboard/signin/oidc
GET /dashboard/signin/oidc/callback
POST /dashboard/signin/email
GET /dashboard/signin/link/{secret}
POST /dashboard/signin/link/{secret}
GET /dashboard/static/{name}
GET /dashboard/signin/choose
POST /dashboard/signin/choose/{member_id}/accept
POST /dashboard/signin/choose/{member_id}/decline
POST /dashboard/signin/choose/{member_id}/enter
GET /dashboard/signin/invitation/{secret}
POST /dashboard/signin/invitation/{secret}
POST /dashboard/signin/invitation/{secret}/decline
* /dashboard/{tail}
"""
_OPERATOR = """
GET /metrics
GET /admin/v1/signups
POST /admin/v1/signups/{account_id}/approve
POST /admin/v1/signups/{account_id}/reject
POST /admin/v1/accounts
GET /admin/v1/accounts/{account_id}
PUT /admin/v1/accounts/{account_id}/plan
PUT /admin/v1/accounts/{account_id}/markup
PUT /admin/v1/accounts/{account_id}/credit-line
GET /admin/v1/accounts/{account_id}/uncollected
GET /admin/v1/accounts/{account_id}/usage
GET /admin/v1/accounts/{account_id}/ledger
POST /admin/v1/keys
DELETE /admin/v1/keys/{key_id}
POST /admin/v1/keys/{key_id}/rotate
PUT /admin/v1/keys/{key_id}/quotas
GET /admin/v1/keys/{key_id}/usage
GET /admin/v1/accounts
PATCH /admin/v1/accounts/{account_id}
GET /admin/v1/accounts/{account_id}/keys
GET /admin/v1/accounts/{account_id}/usage/report
POST /admin/v1/users/{subject}/revoke-tokens
GET /admin/v1/accounts/{account_id}/members
POST /admin/v1/accounts/{account_id}/members
DELETE /admin/v1/accounts/{account_id}/members/{member_id}
PUT /admin/v1/accounts/{account_id}/members/{member_id}/role
GET /admin/v1/accounts/{account_id}/grants
POST /admin/v1/accounts/{account_id}/grants/{grant_id}/revoke
GET /admin/v1/accounts/{account_id}/statements/{month}
POST /admin/v1/accounts/{account_id}/credits
POST /admin/v1/accounts/{account_id}/adjustments
POST /admin/v1/accounts/{account_id}/payments/{payment_id}/refunds
GET /admin/v1/accounts/{account_id}/end-user-budgets
PUT /admin/v1/accounts/{account_id}/end-user-budgets
GET /admin/v1/accounts/{account_id}/teams
POST /admin/v1/accounts/{account_id}/teams
PUT /admin/v1/teams/{team_id}/quotas
PUT /admin/v1/keys/{key_id}/team
PUT /admin/v1/accounts/{account_id}/alerts
PUT /admin/v1/accounts/{account_id}/export-ids
POST /admin/v1/services
DELETE /admin/v1/services/{service_id}
GET /admin/v1/meters
GET /admin/v1/accounts/{account_id}/usage/meters
GET /admin/v1/prices
GET /admin/v1/system
GET /admin/v1/audit
"""
_OPERATOR_PAGES = """
GET /dashboard/operators
GET /dashboard/operators/accounts/{account_id}
GET /dashboard/system
GET /dashboard/operators/accounts/{account_id}/statements
GET /dashboard/operators/accounts/{account_id}/statements/{month}
GET /dashboard/operators/accounts/{account_id}/statements/{month}/export
GET /dashboard/operators/accounts/{account_id}/receipts/{receipt_id}
GET /dashboard/operators/accounts/{account_id}/receipts/{receipt_id}/pdf
GET /dashboard/operators/accounts/{account_id}/confirm/{action}
POST /dashboard/operators/accounts/{account_id}/credit
POST /dashboard/operators/accounts/{account_id}/adjustment
POST /dashboard/operators/accounts/{account_id}/plan
POST /dashboard/operators/accounts/{account_id}/refund
POST /dashboard/operators/accounts/{account_id}/revoke-grant
GET /dashboard/operators/audit
GET /dashboard/operators/signups
POST /dashboard/operators/signups/{account_id}/approve
POST /dashboard/operators/signups/{account_id}/reject
GET /dashboard/operators/new
POST /dashboard/operators/accounts
GET /dashboard/operators/accounts/{account_id}/people
GET /dashboard/operators/accounts/{account_id}/people/confirm/{action}
POST /dashboard/operators/accounts/{account_id}/members
POST /dashboard/operators/accounts/{account_id}/members/{member_id}/role
POST /dashboard/operators/accounts/{account_id}/members/{member_id}/remove
POST /dashboard/operators/accounts/{account_id}/keys
POST /dashboard/operators/accounts/{account_id}/keys/{key_id}/rotate
POST /dashboard/operators/accounts/{account_id}/keys/{key_id}/revoke
POST /dashboard/operators/accounts/{account_id}/teams
POST /dashboard/operators/accounts/{account_id}/teams/{team_id}/quotas
POST /dashboard/operators/accounts/{account_id}/end-users
"""
_METERING = """
POST /v1/metering/authorizations
POST /v1/metering/authorizations/{auth_id}/extend
POST /v1/metering/authorizations/{auth_id}/settle
POST /v1/metering/authorizations/{auth_id}/release
POST /v1/metering/events
"""
# The account's own surfaces: the account and billing APIs and the dashboard's pages.
_ACCOUNT = """
GET /v1/account account:read
GET /v1/account/keys keys:read
POST /v1/account/keys keys:write
DELETE /v1/account/keys/{key_id} keys:write
PATCH /v1/account/keys/{key_id} keys:write
POST /v1/account/keys/{key_id}/rotate keys:write
PUT /v1/account/keys/{key_id}/quotas keys:write
GET /v1/account/usage usage:read
GET /v1/account/ledger ledger:read
GET /v1/account/requests/{request_id} ledger:read
GET /v1/account/grants account:read
GET /v1/account/end-user-budgets account:read
PUT /v1/account/end-user-budgets org:write
GET /v1/account/teams account:read
POST /v1/account/teams org:write
PUT /v1/account/teams/{team_id}/quotas org:write
PUT /v1/account/keys/{key_id}/team org:write
GET /v1/account/alerts billing:read
POST /v1/account/alerts billing:setup
DELETE /v1/account/alerts/{alert_id} billing:setup
GET /v1/account/members account:read
POST /v1/account/members org:write
PUT /v1/account/members/{member_id}/role org:write
DELETE /v1/account/members/{member_id} org:write
GET /v1/account/statements/{month} statements:read
GET /v1/account/billing billing:read
GET /v1/account/billing/payments billing:read
GET /v1/account/billing/invoices billing:read
POST /v1/account/billing/subscription/cancel billing:setup
POST /v1/account/billing/setup billing:setup
POST /v1/account/billing/topups billing:setup
POST /v1/account/billing/subscription billing:setup
POST /v1/account/billing/portal billing:setup
PUT /v1/account/billing/auto-topup billing:setup
POST /v1/auth/revoke self
GET /v1/auth/whoami self
POST /v1/auth/tokens self
POST /v1/auth/logout self
GET /dashboard/device device
POST /dashboard/device device
GET /dashboard session
GET /dashboard/ session
POST /dashboard/signout session
GET /dashboard/usage usage:read
GET /dashboard/usage/export usage:read
GET /dashboard/usage/requests/{request_id} ledger:read
GET /dashboard/keys keys:read
POST /dashboard/keys keys:write
POST /dashboard/keys/{key_id}/rotate keys:write
POST /dashboard/keys/{key_id}/revoke keys:write
POST /dashboard/keys/{key_id}/limits keys:write
POST /dashboard/keys/{key_id}/team org:write
GET /dashboard/members account:read
POST /dashboard/members org:write
POST /dashboard/members/{member_id}/role org:write
POST /dashboard/members/{member_id}/remove org:write
GET /dashboard/teams account:read
POST /dashboard/teams org:write
POST /dashboard/teams/{team_id}/quotas org:write
GET /dashboard/end-users account:read
POST /dashboard/end-users org:write
GET /dashboard/billing billing:read
POST /dashboard/billing/topup billing:setup
POST /dashboard/billing/setup billing:setup
POST /dashboard/billing/portal billing:setup
POST /dashboard/billing/auto-topup billing:setup
POST /dashboard/billing/plan billing:setup
POST /dashboard/billing/cancel billing:setup
POST /dashboard/billing/alert-add billing:setup
POST /dashboard/billing/alert-remove billing:setup
GET /dashboard/billing/receipts/{receipt_id} billing:read
GET /dashboard/billing/receipts/{receipt_id}/pdf billing:read
GET /dashboard/statements statements:read
GET /dashboard/statements/{month} statements:read
GET /dashboard/statements/{month}/export statements:read
GET /v1/account/audit audit:read
GET /dashboard/audit audit:read
"""


def _lines(text: str, action: str | None = None) -> dict[tuple[str, str], Action]:
    table: dict[tuple[str, str], Action] = {}
    for line in text.strip().splitlines():
        method, path, *named = line.split()
        table[(method, path)] = ACTIONS[named[0] if named else str(action)]
    return table


ROUTES: dict[tuple[str, str], Action] = {
    **_lines(_PROXY, "proxy"),
    **_lines(_MCP, "mcp"),
    **_lines(_PUBLIC, "public"),
    **_lines(_OPERATOR, "operator"),
    **_lines(_OPERATOR_PAGES, "operator:page"),
    **_lines(_METERING, "metering"),
    **_lines(_ACCOUNT),
}


def action_of(request: web.Request) -> Action:
    """The action of the route `request` matched; a route missing here is a bug (the
    router walk test keeps every route in the table), refused rather than let through. A
    request no route matched gets the router's own answer (404 or 405)."""
    unmatched = request.match_info.http_exception
    if unmatched is not None:
        raise unmatched
    route = request.match_info.route
    method = "GET" if route.method == "HEAD" else route.method
    found = ROUTES.get((method, route.resource.canonical if route.resource else ""))
    if found is None:
        raise LookupError(f"{method} {request.path} has no action in the route table")
    return found


def main() -> None:
    for (method, path), action in ROUTES.items():
        print(f"{method:6} {path:70} {action.name}")


if __name__ == "__main__":
    main()
