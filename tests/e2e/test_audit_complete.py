"""The audit log is complete by construction: every changing route's record says what it
audits (gateway/http/routing.py), and this test, generated from those records, makes one
change through each route that names audit actions and finds its record.

A route that names audit actions and has no way here to make its change fails
(`test_every_audited_route_has_a_change`), so a new audited route cannot be left out. The
changes: the operator's API with the admin key, the account API with an owner's token, the
dashboard's forms with an owner's or the operator's session (CSRF and the form's single-use
token as the page draws them), sign-up through its e-mailed code and link, and `meterway
login` through its device page."""

from __future__ import annotations

import itertools
import json
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing.proof.audit_words import WORDS
from gateway.app import create_app
from gateway.http.appkeys import (
    BYOK,
    DASHBOARD_SESSIONS,
    DOMAIN_CLAIMS,
    FORM_TOKENS,
    SIGNIN_TICKETS,
)
from gateway.http.dashboard.form_tokens import holder_of
from gateway.http.dashboard.people.entry import CHOICE_COOKIE
from gateway.http.dashboard.people.session import COOKIE, PRE_COOKIE, digest
from gateway.http.route_actions import records
from gateway.http.routing import Route
from gateway.services.members.identity import Person
from gateway.services.trust import key_pauses
from tests.e2e.signup.test_signup_api import code_for, fresh, signup_env
from tests.e2e.test_idempotency_keys import operator_cookies
from tests.e2e.test_roles import token
from tests.e2e.test_signin_people import mail_to
from tests.support.billing_client import Biller, biller
from tests.support.fakes.dns_server import Zone, dns_server
from tests.support.fakes.identity import ROLE_CLAIM_ENV
from tests.support.fakes.smtp_sink import Mailbox, smtp_server
from tests.support.harness import Gateway, free_port, gateway_settings, running_gateway
from tests.support.scim import GROUP, PATCH, USER, Directory, directory_of

HOUR = [{"window": "hour", "metric": "requests", "limit": 5}]
# A number no change in this run has set before: a change that repeats the value already
# there changes nothing and rightly writes no record (http/audited.py).
FRESH = itertools.count(10)
LINK = re.compile(r"http://\S+/dashboard/signup/verify/([\w-]+)")


def _fresh_tags(w: Any) -> dict[str, Any]:
    """Tags no change in the run set before (an unchanged set writes no record)."""
    return {"tags": {"cost_center": f"cc-{next(FRESH)}"}}


def audited_routes() -> list[tuple[str, str, Route]]:
    """Every route of the app whose record names audit actions, read off the records."""
    settings = gateway_settings("postgresql://nobody@127.0.0.1/none", "http://127.0.0.1:1", "p")
    return [
        (method, path, route)
        for (method, path), route in records(create_app(settings)).items()
        if route.audit is not None and route.audit.events
    ]


AUDITED = audited_routes()


@dataclass
class World:
    gw: Gateway
    box: Mailbox
    payer: Biller  # an account with a paid top-up, whose owner and operator change things
    zone: Zone | None = None  # the DNS a domain claim is proven by
    team: str = ""
    owner_cookie: dict[str, str] = field(default_factory=dict)
    member_id: str = ""

    @property
    def account_id(self) -> str:
        return self.payer.t.account_id


@dataclass
class Change:
    """One request that changes something: who sends it, where, with what."""

    kind: str  # admin, owner (a token), bearer, owner page, operator page, nobody
    path: str
    body: Any = None
    bearer: str = ""
    cookies: dict[str, str] = field(default_factory=dict)  # a sign-in's, for "nobody"


@pytest.fixture(scope="module")
async def world(dsn: str) -> AsyncIterator[World]:
    with smtp_server() as box:
        env = signup_env(free_port(), box, "approval", **ROLE_CLAIM_ENV)
        async with (
            dns_server() as zone,
            running_gateway(dsn, None, DOMAIN_DNS_RESOLVER=zone.address, **env) as gw,
        ):
            payer = await biller(gw, plan="pro", credit=5_000_000)
            await payer.topup(3_000_000)
            await payer.save_card()
            w = World(gw, box, payer, zone)
            path = f"/admin/v1/accounts/{w.account_id}/teams"
            w.team = (await gw.admin("POST", path, {"name": "t"}))[1]["id"]
            w.member_id, w.owner_cookie = await owner_session(w)
            yield w


async def owner_session(w: World) -> tuple[str, dict[str, str]]:
    body = {"email": f"owner-{secrets.token_hex(3)}@example.com", "role": "owner"}
    _, member = await w.gw.admin("POST", f"/admin/v1/accounts/{w.account_id}/members", body)
    cookie = secrets.token_urlsafe(32)
    record = {"kind": "member", "member_id": member["id"], "account_id": w.account_id,
              "label": body["email"], "csrf": "x", "operator": False,
              "signin": "e-mailed link"}  # fmt: skip
    await w.gw.app[DASHBOARD_SESSIONS].create(digest(cookie), record, 3600)
    return str(member["id"]), {COOKIE: cookie}


async def ok(answer: tuple[int, Any]) -> Any:
    status, body = answer
    assert status < 300, (status, body)
    return body


async def new_key(w: World, scopes: list[str] | None = None) -> dict[str, Any]:
    body = {"account_id": w.account_id, "name": "k", "scopes": scopes or ["keys:write"]}
    return dict(await ok(await w.gw.admin("POST", "/admin/v1/keys", body)))


async def new_member(w: World) -> str:
    body = {"email": f"m-{secrets.token_hex(4)}@example.com", "role": "viewer"}
    path = f"/admin/v1/accounts/{w.account_id}/members"
    return str((await ok(await w.gw.admin("POST", path, body)))["id"])


async def new_grant(w: World) -> str:
    base = f"/admin/v1/accounts/{w.account_id}"
    credit = {"amount_micros": 1_000, "idempotency_key": secrets.token_hex(4),
              "grant": {"kind": "promotional"}}  # fmt: skip
    await ok(await w.gw.admin("POST", base + "/credits", credit))
    grants = (await ok(await w.gw.admin("GET", base + "/grants")))["data"]
    return str(next(g["id"] for g in grants if g["status"] == "active"))


async def new_service(w: World) -> str:
    body = {"name": f"s{secrets.token_hex(4)}", "meters": ["gpu_seconds"]}
    return str((await ok(await w.gw.admin("POST", "/admin/v1/services", body)))["id"])


async def new_alert(w: World) -> str:
    body = {"kind": "balance_below", "amount_micros": 1_000, "email": "a@example.com"}
    status, made = await send(w, "POST", Change("owner", "/v1/account/alerts", body))
    assert status == 201, made
    return str(made["id"])


async def payment(w: World) -> str:
    return str((await w.payer.ok("GET", "/payments"))["data"][0]["id"])


async def pending_signup(w: World) -> str:
    """An account that signed up and waits for the operator."""
    email = fresh()
    await ok(await post_json(w, "/v1/auth/register", {"email": email}))
    code = await code_for(w.box, email)
    done = await ok(await post_json(w, "/v1/auth/verify", {"email": email, "code": code}))
    return str(done["account_id"])


async def claimed_domain(w: World) -> str:
    """A domain the owner claimed, its TXT record published (so it can be proven)."""
    domain = f"audit-{secrets.token_hex(4)}.example"
    status, claim = await send(
        w, "POST", Change("owner", "/v1/account/domains", {"domain": domain})
    )
    assert status == 201 and w.zone is not None, claim
    w.zone.txt[claim["record"]["name"]] = [claim["record"]["value"]]
    return domain


def price_change(w: World) -> dict[str, Any]:
    """A reviewed price change a day ahead, moving nothing (so it needs no confirmation)."""
    ahead = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    return {"models": {"gpt-4o-mini": {"input": "0.15", "output": "0.60"}}, "effective_at": ahead}


async def new_price_change(w: World) -> str:
    return str(
        (await ok(await w.gw.admin("POST", "/admin/v1/prices/changes", price_change(w))))["id"]
    )


async def _openai(w: World) -> str:
    return "openai"  # an upstream that takes a customer's own key


PARAMS: dict[str, Callable[[World], Awaitable[str]]] = {
    "change_id": new_price_change,
    "key_id": lambda w: _id(new_key(w)),
    "member_id": new_member,
    "grant_id": new_grant,
    "service_id": new_service,
    "alert_id": new_alert,
    "payment_id": payment,
    "domain": claimed_domain,
    "upstream": _openai,
}


async def _id(made: Awaitable[dict[str, Any]]) -> str:
    return str((await made)["id"])


async def filled(w: World, method: str, path: str) -> str:
    """The path with a thing of its own for each parameter (a destroying change uses it up)."""
    signups = "/signups/{account_id}" in path
    for name in re.findall(r"{(\w+)}", path):
        if name == "account_id":
            value = await pending_signup(w) if signups else w.account_id
        elif name == "team_id":
            value = w.team
        elif name == "subject":
            value = f"sub-{secrets.token_hex(3)}"
        else:
            value = await PARAMS[name](w)
        path = path.replace("{" + name + "}", value)
    return path


# A body for each change; a callable makes one for the world it runs in.
JSON: dict[tuple[str, str], Any] = {
    ("POST", "/admin/v1/accounts"): {"name": "audited"},
    ("POST", "/admin/v1/prices/changes"): price_change,
    ("POST", "/admin/v1/prices/changes/{change_id}/approve"): {},
    ("POST", "/v1/account/domains"): lambda w: {"domain": f"a-{secrets.token_hex(4)}.example"},
    ("POST", "/v1/account/scim/token"): {},
    ("POST", "/admin/v1/accounts/{account_id}/scim/token"): {},
    ("POST", "/v1/account/domains/{domain}/verify"): {},
    ("PUT", "/admin/v1/accounts/{account_id}/plan"): {"plan": "enterprise"},
    ("PUT", "/admin/v1/accounts/{account_id}/invoicing"): lambda w: {
        "legal_name": f"Legal {next(FRESH)}"},
    ("PUT", "/admin/v1/accounts/{account_id}/markup"): {"markup_bps": 1500},
    ("PUT", "/admin/v1/accounts/{account_id}/credit-line"): {"credit_line_micros": 1_000_000},
    ("PUT", "/admin/v1/accounts/{account_id}/commitment"): lambda w: {
        "period": "month", "amount_micros": next(FRESH), "on_exhausted": "balance"},
    ("POST", "/admin/v1/keys"): lambda w: {"account_id": w.account_id, "name": "k"},
    ("PUT", "/admin/v1/keys/{key_id}/quotas"): {"quotas": HOUR},
    ("PATCH", "/admin/v1/accounts/{account_id}"): lambda w: {"external_id": secrets.token_hex(6)},
    ("POST", "/admin/v1/accounts/{account_id}/members"): lambda w: {
        "email": f"i-{secrets.token_hex(4)}@example.com", "role": "viewer"},
    ("PUT", "/admin/v1/accounts/{account_id}/members/{member_id}/role"): {"role": "admin"},
    ("POST", "/admin/v1/keys/{key_id}/rotate"): {"grace_seconds": 0},
    ("POST", "/admin/v1/accounts/{account_id}/credits"): lambda w: {
        "amount_micros": 1_000, "idempotency_key": secrets.token_hex(4)},
    ("POST", "/admin/v1/accounts/{account_id}/adjustments"): lambda w: {
        "amount_micros": -1_000, "idempotency_key": secrets.token_hex(4), "reason": "fix"},
    ("POST", "/admin/v1/accounts/{account_id}/payments/{payment_id}/refunds"): lambda w: {
        "amount_micros": 10_000, "idempotency_key": secrets.token_hex(4)},
    ("PUT", "/admin/v1/accounts/{account_id}/end-user-budgets"): {"quotas": HOUR},
    ("POST", "/admin/v1/accounts/{account_id}/teams"): lambda w: {"name": secrets.token_hex(4)},
    ("PUT", "/admin/v1/teams/{team_id}/quotas"): lambda w: {
        "quotas": [{**HOUR[0], "limit": next(FRESH)}]},
    ("PUT", "/admin/v1/keys/{key_id}/team"): lambda w: {"team_id": w.team},
    ("PUT", "/admin/v1/keys/{key_id}/tags"): _fresh_tags,
    ("PUT", "/admin/v1/teams/{team_id}/tags"): _fresh_tags,
    ("PUT", "/admin/v1/accounts/{account_id}/alerts"): lambda w: {
        "balance_low_micros": next(FRESH)},
    ("PUT", "/admin/v1/accounts/{account_id}/export-ids"): lambda w: {
        "stripe_customer_id": f"cus_{secrets.token_hex(4)}"},
    ("POST", "/admin/v1/users/{subject}/revoke-tokens"): {},
    ("POST", "/admin/v1/services"): lambda w: {
        "name": f"s{secrets.token_hex(4)}", "meters": ["gpu_seconds"]},
    ("POST", "/v1/account/keys"): {"name": "k"},
    ("PATCH", "/v1/account/keys/{key_id}"): {"expires_at": "2099-01-01T00:00:00Z"},
    ("POST", "/v1/account/keys/{key_id}/rotate"): {"grace_seconds": 0},
    ("PUT", "/v1/account/keys/{key_id}/quotas"): {"quotas": HOUR},
    ("PUT", "/v1/account/end-user-budgets"): lambda w: {
        "quotas": [{**HOUR[0], "limit": next(FRESH)}]},
    ("POST", "/v1/account/teams"): lambda w: {"name": secrets.token_hex(4)},
    ("PUT", "/v1/account/teams/{team_id}/quotas"): lambda w: {
        "quotas": [{**HOUR[0], "limit": next(FRESH)}]},
    ("PUT", "/v1/account/keys/{key_id}/team"): lambda w: {"team_id": w.team},
    ("PUT", "/v1/account/keys/{key_id}/tags"): _fresh_tags,
    ("PUT", "/v1/account/teams/{team_id}/tags"): _fresh_tags,
    ("POST", "/v1/account/alerts"): {
        "kind": "balance_below", "amount_micros": 1_000, "email": "a@example.com"},
    ("POST", "/v1/account/members"): lambda w: {
        "email": f"i-{secrets.token_hex(4)}@example.com", "role": "viewer"},
    ("PUT", "/v1/account/members/{member_id}/role"): {"role": "admin"},
    ("POST", "/v1/account/billing/setup"): {},
    ("PUT", "/v1/account/billing/auto-topup"): None,
    ("PUT", "/v1/account/billing/receipt-header"): {"enabled": False},
    ("PUT", "/v1/account/byok/{upstream}"): lambda w: {"api_key": f"own-{secrets.token_hex(8)}"},
    ("PUT", "/admin/v1/byok/fee"): lambda w: {"percent_bps": next(FRESH), "fixed_micros": 0},
    ("POST", "/v1/auth/tokens"): {"scope": "keys:read"},
}  # fmt: skip
FORMS: dict[tuple[str, str], Any] = {
    ("POST", "/dashboard/keys/byok/{upstream}"): lambda w: {
        "api_key": f"own-{secrets.token_hex(8)}"},
    ("POST", "/dashboard/operators/byok-fee"): lambda w: {
        "percent_bps": str(next(FRESH)), "fixed_micros": "0"},
    ("POST", "/dashboard/operators/prices/changes/{change_id}/approve"): {},
    ("POST", "/dashboard/operators/prices/changes/{change_id}/reject"): {},
    ("POST", "/dashboard/keys"): {"name": "from-a-page"},
    ("POST", "/dashboard/keys/{key_id}/rotate"): {"grace": "0"},
    ("POST", "/dashboard/keys/{key_id}/limits"): {
        "window_0": "hour", "metric_0": "requests", "limit_0": "5"},
    ("POST", "/dashboard/keys/{key_id}/team"): lambda w: {"team_id": w.team},
    ("POST", "/dashboard/members"): lambda w: {
        "email": f"d-{secrets.token_hex(4)}@example.com", "role": "viewer"},
    ("POST", "/dashboard/members/{member_id}/role"): {"role": "admin"},
    ("POST", "/dashboard/teams"): lambda w: {"name": secrets.token_hex(4)},
    ("POST", "/dashboard/teams/{team_id}/quotas"): lambda w: {
        "window_0": "hour", "metric_0": "requests", "limit_0": str(next(FRESH))},
    ("POST", "/dashboard/end-users"): lambda w: {
        "applies_to": "account", "window_0": "hour", "metric_0": "requests",
        "limit_0": str(next(FRESH))},
    ("POST", "/dashboard/billing/setup"): {},
    ("POST", "/dashboard/billing/auto-topup"): {},
    ("POST", "/dashboard/billing/alert-add"): {
        "kind": "balance_below", "amount": "1.00", "email": "a@example.com"},
    ("POST", "/dashboard/billing/alert-remove"): lambda w: {"alert_id": "?"},
    ("POST", "/dashboard/operators/accounts"): lambda w: {"name": "opened", "plan": "pro"},
    ("POST", "/dashboard/operators/accounts/{account_id}/credit"): {"amount_micros": "1000"},
    ("POST", "/dashboard/operators/accounts/{account_id}/adjustment"): {
        "amount_micros": "-1000", "reason": "fix"},
    ("POST", "/dashboard/operators/accounts/{account_id}/revoke-grant"): {},
    ("POST", "/dashboard/operators/accounts/{account_id}/members"): lambda w: {
        "email": f"o-{secrets.token_hex(4)}@example.com", "role": "viewer"},
    ("POST", "/dashboard/operators/accounts/{account_id}/members/{member_id}/role"): {
        "role": "admin"},
    ("POST", "/dashboard/operators/accounts/{account_id}/keys"): {"name": "from-ops"},
    ("POST", "/dashboard/operators/accounts/{account_id}/keys/{key_id}/rotate"): {"grace": "0"},
    ("POST", "/dashboard/operators/accounts/{account_id}/teams"): lambda w: {
        "name": secrets.token_hex(4)},
    ("POST", "/dashboard/operators/accounts/{account_id}/teams/{team_id}/quotas"): lambda w: {
        "window_0": "hour", "metric_0": "requests", "limit_0": str(next(FRESH))},
    ("POST", "/dashboard/operators/accounts/{account_id}/end-users"): lambda w: {
        "applies_to": "account", "window_0": "hour", "metric_0": "requests",
        "limit_0": str(next(FRESH))},
}  # fmt: skip
# Changes no body alone can make: a flow of several requests, the last one audited.
Flow = Callable[[World], Awaitable[Change]]


async def verify_flow(w: World) -> Change:
    email = fresh()
    await ok(await post_json(w, "/v1/auth/register", {"email": email}))
    return Change(
        "nobody", "/v1/auth/verify", {"email": email, "code": await code_for(w.box, email)}
    )


async def verify_link_flow(w: World) -> Change:
    email = fresh()
    form, cookies = {"csrf": "x", "email": email}, {PRE_COOKIE: "x"}
    async with w.gw.http.post(w.gw.url + "/dashboard/signup", data=form, cookies=cookies) as r:
        assert r.status == 200 and "error" not in await r.text(), await r.text()
    (mail,) = await mail_to(w.box, email, "Verify your e-mail")
    text = mail.get_body(("plain",))
    assert text is not None
    found = LINK.search(text.get_content())
    assert found is not None
    return Change("nobody", f"/dashboard/signup/verify/{found.group(1)}", {})


async def device_started(w: World) -> dict[str, Any]:
    return dict(await ok(await post_json(w, "/v1/auth/device", {})))


async def device_page_flow(w: World) -> Change:
    code = (await device_started(w))["user_code"]
    return Change("owner page", "/dashboard/device", {"code": code, "decision": "approve"})


async def device_token_flow(w: World) -> Change:
    started = await device_started(w)
    form = {"code": started["user_code"], "decision": "approve"}
    status, _ = await send(w, "POST", Change("owner page", "/dashboard/device", form))
    assert status < 400, status
    return Change("nobody", "/v1/auth/device/token", {"device_code": started["device_code"]})


async def logout_flow(w: World) -> Change:
    return Change("bearer", "/v1/auth/logout", {}, bearer=(await new_key(w))["key"])


async def revoke_flow(w: World) -> Change:
    return Change("owner", "/v1/auth/revoke", {})


async def alert_remove_flow(w: World) -> Change:
    return Change("owner page", "/dashboard/billing/alert-remove", {"alert_id": await new_alert(w)})


async def paused_key(w: World) -> str:
    """A new key of the account, paused as a spend anomaly pauses one."""
    key_id = str((await new_key(w))["id"])
    await w.gw.stores().pool.execute(
        "INSERT INTO key_pauses (key_id, account_id) VALUES ($1, $2)", key_id, w.account_id
    )
    await key_pauses.pause(w.gw.stores().anomalies(), w.gw.store, key_id, w.account_id)
    return key_id


def resume_flow(prefix: str) -> Flow:
    async def flow(w: World) -> Change:
        return Change(kind_of(prefix), f"{prefix}/keys/{await paused_key(w)}/resume", {})

    return flow


def pause_choice_flow(path: str) -> Flow:
    """A key's own choice, on a new key (a change every time); the dashboard's form sets the
    account's, flipped from what it is."""

    async def flow(w: World) -> Change:
        if path.startswith("/dashboard"):
            now = (await w.gw.stores().anomalies().opt_ins(w.account_id)).get("", False)
            return Change("owner page", path, {} if now else {"pause": "on"})
        body = {"pause": True, "key_id": str((await new_key(w))["id"])}
        return Change(kind_of(path), path.replace("{account_id}", w.account_id), body)

    return flow


async def byok_remove_flow(w: World) -> Change:
    """An own key stored first (a removal needs one), then removed by the owner."""
    await w.gw.app[BYOK].store(w.account_id, "anthropic", f"own-{secrets.token_hex(8)}")
    return Change("owner", "/v1/account/byok/anthropic")


async def byok_remove_form(w: World) -> Change:
    await w.gw.app[BYOK].store(w.account_id, "openai", f"own-{secrets.token_hex(8)}")
    return Change("owner page", "/dashboard/keys/byok/openai/remove", {})


async def revoke_grant_form(w: World) -> Change:
    path = f"/dashboard/operators/accounts/{w.account_id}/revoke-grant"
    return Change("operator page", path, {"grant_id": await new_grant(w)})


async def trial_given(w: World) -> str:
    """A sign-up approved, so given its trial (the one an operator may take back)."""
    account_id = await pending_signup(w)
    status, body = await w.gw.admin("POST", f"/admin/v1/signups/{account_id}/approve")
    assert status == 200, body
    return account_id


async def revoke_trials_flow(w: World) -> Change:
    body = {"account_ids": [await trial_given(w)]}
    return Change("admin", "/admin/v1/signups/revoke-trials", body)


async def revoke_trials_form(w: World) -> Change:
    path = "/dashboard/operators/signups/revoke-trials"
    return Change("operator page", path, {"account_id": await trial_given(w)})


async def postpaid(w: World) -> str:
    """A postpaid account of its own (only those are invoiced)."""
    account = await ok(await w.gw.admin("POST", "/admin/v1/accounts", {
        "name": "invoiced", "plan": "enterprise"}))  # fmt: skip
    return str(account["id"])


async def invoice_flow(w: World) -> Change:
    month = f"{datetime.now(UTC):%Y-%m}"
    return Change("admin", f"/admin/v1/accounts/{await postpaid(w)}/invoices", {"month": month})


async def credit_note_flow(w: World) -> Change:
    """An invoice with a line (a credit to its account) to credit."""
    invoicing = await invoice_flow(w)
    credits = invoicing.path.replace("/invoices", "/credits")
    await ok(
        await w.gw.admin(
            "POST",
            credits,
            {"amount_micros": 1_000, "idempotency_key": "c", "reason": "a line to credit"},
        )
    )
    issued = await ok(await w.gw.admin("POST", invoicing.path, invoicing.body))
    return Change("admin", f"/admin/v1/invoices/{issued['number']}/credit-note", {"reason": "x"})


async def send_invoice_flow(w: World) -> Change:
    """An invoice that asks for money (an adjustment charging $0.50) to a customer with an
    invoicing e-mail: sent through the local provider, which records it."""
    invoicing = await invoice_flow(w)
    account = invoicing.path.rsplit("/", 1)[0]
    for path, amount in (("/credits", 1_000_000), ("/adjustments", -500_000)):
        body = {"amount_micros": amount, "idempotency_key": path, "reason": "charged"}
        await ok(await w.gw.admin("POST", account + path, body))
    await ok(await w.gw.admin("PUT", account + "/invoicing", {"email": "ap@example.com"}))
    issued = await ok(await w.gw.admin("POST", invoicing.path, invoicing.body))
    return Change("admin", f"/admin/v1/invoices/{issued['number']}/send", None)


async def other_plan(w: World) -> str:
    """A plan for sale the account is not on, so that choosing it is a change."""
    account = await ok(await w.gw.admin("GET", f"/admin/v1/accounts/{w.account_id}"))
    return "starter" if account["plan"] != "starter" else "pro"


async def plan_flow(w: World) -> Change:
    return Change("owner", "/v1/account/billing/subscription", {"plan": await other_plan(w)})


async def plan_form(w: World) -> Change:
    return Change("owner page", "/dashboard/billing/plan", {"plan": await other_plan(w)})


async def ops_plan_form(w: World) -> Change:
    path = f"/dashboard/operators/accounts/{w.account_id}/plan"
    return Change("operator page", path, {"plan": await other_plan(w)})


async def subscribed(w: World) -> None:
    status, answer = await send(w, "POST", await plan_flow(w))
    assert status < 400, answer


async def cancel_flow(w: World) -> Change:
    await subscribed(w)
    return Change("owner", "/v1/account/billing/subscription/cancel", {})


async def cancel_form(w: World) -> Change:
    await subscribed(w)
    return Change("owner page", "/dashboard/billing/cancel", {})


async def refund_form(w: World) -> Change:
    path = f"/dashboard/operators/accounts/{w.account_id}/refund"
    return Change(
        "operator page", path, {"payment_id": await payment(w), "amount_micros": "-10000"}
    )


async def _scim_user(w: World) -> dict[str, Any]:
    """A directory's person: of the organization's proven domain once it proved one (its
    directory provisions only their people: services/members/joining.py)."""
    claims = await w.gw.app[DOMAIN_CLAIMS].of_account(w.account_id)
    domain = next((c["domain"] for c in claims if c["verified_at"]), "example.com")
    user = f"s-{secrets.token_hex(4)}@{domain}"
    return {"schemas": [USER], "userName": user, "active": True}


async def _scim_made(w: World, kind: str) -> tuple[Directory, str]:
    """The organization's directory (a fresh token) and a user or group it made."""
    d = await directory_of(w.gw, w.account_id)
    made = await (
        d.user((await _scim_user(w))["userName"]) if kind == "Users" else d.group(kind_name())
    )
    return d, str(made["id"])


def kind_name() -> str:
    return f"g-{secrets.token_hex(4)}"


def scim_flow(method: str, kind: str) -> Flow:
    """A directory's change of a user or group, sent with its SCIM token."""

    async def flow(w: World) -> Change:
        if method == "POST":
            d = await directory_of(w.gw, w.account_id)
            body = (
                await _scim_user(w)
                if kind == "Users"
                else {"schemas": [GROUP], "displayName": kind_name()}
            )
            return Change("bearer", f"/scim/v2/{kind}", body, d.token)
        d, made = await _scim_made(w, kind)
        path = f"/scim/v2/{kind}/{made}"
        # A user's change the log records: deactivated (a displayName is the directory's own).
        change = {"active": False} if kind == "Users" else {"displayName": kind_name()}
        if method == "PATCH":
            op = {"op": "replace", "value": change}
            return Change("bearer", path, {"schemas": [PATCH], "Operations": [op]}, d.token)
        if method == "PUT":
            status, body, _ = await d.call("GET", f"/{kind}/{made}")
            assert status == 200, body
            return Change("bearer", path, {**body, **change}, d.token)
        return Change("bearer", path, None, d.token)

    return flow


async def commitment_end_flow(w: World) -> Change:
    """A commitment of its own to end."""
    path = f"/admin/v1/accounts/{w.account_id}/commitment"
    body = {"period": "month", "amount_micros": next(FRESH), "on_exhausted": "balance"}
    await ok(await w.gw.admin("PUT", path, body))
    return Change("admin", path)


async def invited(w: World) -> dict[str, Any]:
    body = {"email": f"inv-{secrets.token_hex(4)}@example.com", "role": "viewer"}
    path = f"/admin/v1/accounts/{w.account_id}/members"
    return dict(await ok(await w.gw.admin("POST", path, body)))


async def accept_by_link(w: World) -> Change:
    secret = str((await invited(w))["accept_url"]).rsplit("/", 1)[1]
    return Change("nobody", f"/dashboard/signin/invitation/{secret}", {})


async def accept_on_choices(w: World) -> Change:
    """A person signed in (an identity provider's user) with their invitation to accept."""
    member = await invited(w)
    person = Person(str(member["email"]), "https://idp.example", f"sub-{secrets.token_hex(3)}")
    cookie = secrets.token_urlsafe(32)
    await w.gw.app[SIGNIN_TICKETS].put(digest(cookie), person.ticket(), 600)
    path = f"/dashboard/signin/choose/{member['id']}/accept"
    return Change("nobody", path, {}, cookies={CHOICE_COOKIE: cookie})


FLOWS: dict[tuple[str, str], Flow] = {
    ("POST", "/v1/account/billing/subscription"): plan_flow,
    ("POST", "/v1/account/billing/subscription/cancel"): cancel_flow,
    ("POST", "/dashboard/billing/plan"): plan_form,
    ("POST", "/dashboard/signin/invitation/{secret}"): accept_by_link,
    ("POST", "/dashboard/signin/choose/{member_id}/accept"): accept_on_choices,
    **{
        (method, f"/scim/v2/{kind}" + ("" if method == "POST" else f"/{{{param}}}")): scim_flow(
            method, kind
        )
        for kind, param in (("Users", "user_id"), ("Groups", "group_id"))
        for method in ("POST", "PUT", "PATCH", "DELETE")
    },
    ("POST", "/dashboard/billing/cancel"): cancel_form,
    ("POST", "/dashboard/operators/accounts/{account_id}/plan"): ops_plan_form,
    ("POST", "/dashboard/operators/accounts/{account_id}/refund"): refund_form,
    ("POST", "/v1/auth/verify"): verify_flow,
    ("POST", "/dashboard/signup/verify/{secret}"): verify_link_flow,
    ("POST", "/dashboard/device"): device_page_flow,
    ("POST", "/v1/auth/device/token"): device_token_flow,
    ("POST", "/v1/auth/logout"): logout_flow,
    ("POST", "/v1/auth/revoke"): revoke_flow,
    ("POST", "/admin/v1/accounts/{account_id}/invoices"): invoice_flow,
    ("DELETE", "/admin/v1/accounts/{account_id}/commitment"): commitment_end_flow,
    ("POST", "/admin/v1/invoices/{number}/credit-note"): credit_note_flow,
    ("POST", "/admin/v1/invoices/{number}/send"): send_invoice_flow,
    ("POST", "/dashboard/billing/alert-remove"): alert_remove_flow,
    ("POST", "/dashboard/operators/accounts/{account_id}/revoke-grant"): revoke_grant_form,
    ("POST", "/admin/v1/signups/revoke-trials"): revoke_trials_flow,
    ("DELETE", "/v1/account/byok/{upstream}"): byok_remove_flow,
    ("POST", "/dashboard/keys/byok/{upstream}/remove"): byok_remove_form,
    ("POST", "/dashboard/operators/signups/revoke-trials"): revoke_trials_form,
    **{
        ("POST", f"{prefix}/keys/{{key_id}}/resume"): resume_flow(prefix)
        for prefix in ("/admin/v1", "/v1/account", "/dashboard")
    },
    **{
        ("PUT" if "/v1/" in path else "POST", path): pause_choice_flow(path)
        for path in (
            "/admin/v1/accounts/{account_id}/anomaly-pause",
            "/v1/account/anomaly-pause",
            "/dashboard/keys/anomaly-pause",
        )
    },
}


def kind_of(path: str) -> str:
    if path.startswith("/admin/"):
        return "admin"
    if path.startswith("/dashboard/operators"):
        return "operator page"
    if path.startswith("/dashboard"):
        return "owner page"
    return "owner"


async def change_for(w: World, method: str, path: str) -> Change:
    if (method, path) in FLOWS:
        return await FLOWS[(method, path)](w)
    table = FORMS if path.startswith("/dashboard") else JSON
    body = table.get((method, path))
    body = body(w) if callable(body) else body
    return Change(kind_of(path), await filled(w, method, path), body)


async def post_json(w: World, path: str, body: Any) -> tuple[int, Any]:
    async with w.gw.http.post(w.gw.url + path, json=body) as r:
        return r.status, await r.json(content_type=None)


async def send(w: World, method: str, change: Change) -> tuple[int, Any]:
    gw, url = w.gw, w.gw.url + change.path
    if change.kind == "admin":
        return await gw.admin(method, change.path, change.body)
    if change.kind == "nobody" and change.path.startswith("/dashboard"):
        form, cookies = {"csrf": "x", **(change.body or {})}, {PRE_COOKIE: "x", **change.cookies}
        async with gw.http.request(
            method, url, data=form, cookies=cookies, allow_redirects=False
        ) as r:
            return r.status, await r.text()
    if change.kind.endswith("page"):
        cookies = await operator_cookies(gw) if change.kind == "operator page" else w.owner_cookie
        [form_token] = await gw.app[FORM_TOKENS].mint(holder_of(cookies[COOKIE]), [change.path], 60)
        form = {"csrf": "x", "form_token": form_token, **(change.body or {})}
        async with gw.http.request(
            method, url, data=form, cookies=cookies, allow_redirects=False
        ) as r:
            return r.status, await r.text()
    headers = {"content-type": "application/json"}
    if change.kind == "owner":
        headers["Authorization"] = f"Bearer {token(w.account_id, 'owner')}"
    elif change.kind == "bearer":
        headers["Authorization"] = f"Bearer {change.bearer}"
    data = json.dumps(change.body)
    async with gw.http.request(method, url, data=data, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def since(gw: Gateway, after: int) -> list[str]:
    rows = await gw.stores().pool.fetch("SELECT action FROM audit_log WHERE id > $1", after)
    return [r["action"] for r in rows]


async def last_id(gw: Gateway) -> int:
    return int(await gw.stores().pool.fetchval("SELECT coalesce(max(id), 0) FROM audit_log"))


def test_every_audited_route_has_a_change() -> None:
    known = set(JSON) | set(FORMS) | set(FLOWS)
    ends = ("/revoke", "/remove", "/approve", "/reject")  # a change that needs no body
    bodiless = {(m, p) for m, p, _ in AUDITED if m == "DELETE" or p.endswith(ends)}
    missing = [(m, p) for m, p, _ in AUDITED if (m, p) not in known | bodiless]
    assert not missing, f"audited routes with no change in this test: {missing}"
    assert len(AUDITED) > 60


@pytest.mark.parametrize(
    ("method", "path", "route"), AUDITED, ids=[f"{m} {p}" for m, p, _ in AUDITED]
)
async def test_one_change_writes_its_audit_record(
    world: World, method: str, path: str, route: Route
) -> None:
    assert route.audit is not None
    change = await change_for(world, method, path)
    before = await last_id(world.gw)
    status, answer = await send(world, method, change)
    assert status < 400, (status, answer)
    written = await since(world.gw, before)
    assert set(written) & set(route.audit.events), (route.audit.events, written)
    await reads_as_words(world.gw, before)


async def reads_as_words(gw: Gateway, after: int) -> None:
    """Each record written reads, as the operator's log serves it, as one sentence with
    its action's own words: no JSON, no micros, no None."""
    _, page = await gw.admin("GET", "/admin/v1/audit?limit=20")
    for r in (r for r in page["data"] if r["id"] > after):
        said = r["sentence"]
        assert r["action"] in WORDS and said.endswith("."), r
        assert not re.search(r"[{}\[\]]|micros|None|_id\b", said), said
