"""The Organization pages (members, teams, end-user budgets), a key's team, the operator's
grants and the System page, driven in Chromium; what each form did is read back through
the APIs. Callers are user tokens whose `groups` claim names their role."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Page

from gateway.http.appkeys import METER
from tests.e2e.dashboard.test_dashboard import chat
from tests.support.browser_kit import screenshots, sign_in
from tests.support.factories import Tenant, tenant
from tests.support.fakes.identity import ROLE_CLAIM_ENV, claims, sign_hs
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway

ANA = "ana@example.com"
ALL_SCOPES = ["chat", "billing", "account:read", "usage:read", "keys:write", "org:write"]


@pytest.fixture(scope="module")
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    env = {
        **ROLE_CLAIM_ENV,
        "SETTLER_DISABLED": "1",  # the system test parks a settlement before any settler
    }
    async with running_gateway(dsn, None, **env) as gateway:
        yield gateway
        await gateway.settle_all()


def token(account_id: str, role: str) -> str:
    sub = f"{role}-{secrets.token_hex(3)}"
    return sign_hs(claims(sub, account_id=account_id, groups=[role]))


async def listed(gw: Gateway, account_id: str, what: str) -> list[dict[str, Any]]:
    status, answer = await gw.admin("GET", f"/admin/v1/accounts/{account_id}/{what}")
    assert status == 200, answer
    return list(answer["data"])


async def post_form(page: Page, path: str, fields: dict[str, str]) -> tuple[int, str]:
    """A form post with the session's CSRF token, as a crafted request would send it."""
    csrf = await page.input_value("form.signout input[name=csrf]")
    answer = await page.request.post(path, form={**fields, "csrf": csrf}, max_redirects=0)
    return answer.status, await answer.text()


async def test_an_owner_invites_changes_a_role_and_removes_a_member(
    gw: Gateway, page: Page
) -> None:
    org = await tenant(gw)
    await sign_in(page, token(org.account_id, "owner"))
    await page.goto("/dashboard/members")
    await page.fill("#invite-email", "Ana@Example.com")
    await page.select_option("#invite-role", "admin")
    await page.click("#invite button[type=submit]")
    await page.wait_for_selector("text=Invitation recorded")
    link = await page.input_value("#accept-url")  # to pass on; shown once, never in the URL
    assert "/dashboard/signin/invitation/" in link and link not in page.url
    await page.reload()
    assert await page.locator("#accept-url").count() == 0
    (ana,) = [m for m in await listed(gw, org.account_id, "members") if m["email"] == ANA]
    assert ana["role"] == "admin" and ana["accepted_at"] is None
    assert "accept_url" not in ana
    row = page.locator(f"tr[data-member-id='{ana['id']}']")
    await row.locator("select").select_option("viewer")
    await row.locator("button", has_text="Change role").click()
    await page.wait_for_selector("text=Role changed")
    members = await listed(gw, org.account_id, "members")
    assert [m["role"] for m in members if m["email"] == ANA] == ["viewer"]
    await screenshots(page, "org-members")
    await page.locator(f"tr[data-member-id='{ana['id']}'] button.danger").click()
    await page.wait_for_selector("text=Member removed")
    assert [m for m in await listed(gw, org.account_id, "members") if m["email"] == ANA] == []


async def test_an_admin_may_not_make_change_or_remove_an_owner(gw: Gateway, page: Page) -> None:
    org = await tenant(gw)
    path = f"/admin/v1/accounts/{org.account_id}/members"
    status, boss = await gw.admin("POST", path, {"email": "boss@example.com", "role": "owner"})
    assert status == 201, boss
    await sign_in(page, token(org.account_id, "admin"))
    await page.goto("/dashboard/members")
    options = await page.locator("#invite-role option").all_inner_texts()
    assert options == ["admin", "billing", "member", "viewer"]
    row = page.locator(f"tr[data-member-id='{boss['id']}']")
    assert "Only an owner changes an owner." in await row.inner_text()
    status, text = await post_form(
        page, "/dashboard/members", {"email": "x@example.com", "role": "owner"}
    )
    assert status == 403 and "Only an owner makes, changes or removes owners." in text
    for action, fields in (("role", {"role": "viewer"}), ("remove", {})):
        status, text = await post_form(page, f"/dashboard/members/{boss['id']}/{action}", fields)
        assert status == 403 and "Only an owner" in text, action
    members = await listed(gw, org.account_id, "members")
    assert [m["role"] for m in members if m["id"] == boss["id"]] == ["owner"]


async def test_a_viewer_sees_the_organization_and_changes_nothing(gw: Gateway, page: Page) -> None:
    org = await tenant(gw)
    await sign_in(page, token(org.account_id, "viewer"))
    for path in ("/dashboard/members", "/dashboard/teams", "/dashboard/end-users"):
        await page.goto(path)
        assert await page.locator("main form").count() == 0, path
    status, text = await post_form(page, "/dashboard/teams", {"name": "sneaky"})
    assert status == 403 and "Your role in this organization, viewer, does not" in text
    assert "scope" not in text
    assert await listed(gw, org.account_id, "teams") == []


async def test_teams_are_created_limited_and_given_keys(gw: Gateway, page: Page) -> None:
    org = await tenant(gw, scopes=ALL_SCOPES)
    await sign_in(page, org.key)
    await page.goto("/dashboard/teams")
    await page.fill("#team-name", "research")
    await page.select_option("#new-team-window-0", "day")
    await page.select_option("#new-team-metric-0", "requests")
    await page.fill("#new-team-limit-0", "100")
    await page.click("#create-team button[type=submit]")
    await page.wait_for_selector("text=Team created")
    (team,) = await listed(gw, org.account_id, "teams")
    assert team["quotas"] == [{"window": "day", "metric": "requests", "limit": 100}]
    card = page.locator("li.team", has_text="research")
    await card.locator("summary").click()
    await card.locator("input[name=limit_0]").fill("80")
    await card.locator("button", has_text="Save team limits").click()
    await page.wait_for_selector("text=The team's limits were saved")
    assert (await listed(gw, org.account_id, "teams"))[0]["quotas"][0]["limit"] == 80
    bad = {"name": "other", "window_0": "day", "metric_0": "requests", "limit_0": "ten"}
    status, text = await post_form(page, "/dashboard/teams", bad)
    assert status == 400 and "Each limit must be a whole number." in text
    assert "Create a team" in text  # the page again, its refusal in words

    await page.goto("/dashboard/keys")  # the signed-in key joins the team
    key = page.locator(f"li.key[data-key-id='{org.key_id}']")
    await key.locator("summary", has_text="Team").click()
    await key.locator("select[name=team_id]").select_option(label="research")
    await key.locator("button", has_text="Save team").click()
    await page.wait_for_selector("text=The key's team was saved")
    await page.fill("#key-name", "in research")  # a new key made straight into it
    await page.select_option("#key-team", label="research")
    await page.click("#create-key button[type=submit]")
    assert (await page.input_value("#secret")).startswith("mw-")
    assert (await listed(gw, org.account_id, "teams"))[0]["keys"] == 2
    await page.goto("/dashboard/teams")
    assert "k, in research" in await page.inner_text("li.team")
    await screenshots(page, "org-teams")


async def test_end_user_budgets_the_default_and_one_end_users_own(gw: Gateway, page: Page) -> None:
    org = await tenant(gw)
    await sign_in(page, token(org.account_id, "admin"))
    await page.goto("/dashboard/end-users")
    await page.select_option("#default-window-0", "hour")
    await page.select_option("#default-metric-0", "requests")
    await page.fill("#default-limit-0", "10")
    await page.click("#default-form button[type=submit]")
    await page.wait_for_selector("text=Budget saved")
    assert "10 requests per hour" in await page.inner_text("#default-budget")
    windows = await page.locator("#end-user-window-0 option").all_inner_texts()
    assert "total" not in windows  # an end user's windows expire
    await page.fill("#end-user-id", "cust 42")
    await page.fill("#end-user-limit-0", "500")
    await page.click("#end-user-form button[type=submit]")
    assert "end-user id is 1 to 128 characters" in await page.inner_text("p.error")
    await page.fill("#end-user-id", "cust_42")
    await page.select_option("#end-user-window-0", "day")
    await page.fill("#end-user-limit-0", "500")
    await page.click("#end-user-form button[type=submit]")
    await page.wait_for_selector("text=Budget saved")
    budgets = await listed(gw, org.account_id, "end-user-budgets")
    assert {(b["applies_to"], b["end_user"], b["quotas"][0]["limit"]) for b in budgets} == {
        ("organization", None, 10),
        ("end_user", "cust_42", 500),
    }
    await screenshots(page, "org-end-users")
    await page.click("button.danger:has-text('cust_42')")
    await page.wait_for_selector("text=Budget removed")
    budgets = await listed(gw, org.account_id, "end-user-budgets")
    assert [b["applies_to"] for b in budgets] == ["organization"]


async def test_a_member_of_another_organization_reaches_nothing_of_it(
    gw: Gateway, page: Page
) -> None:
    a, b = await tenant(gw), await tenant(gw)
    acct = f"/admin/v1/accounts/{a.account_id}"
    _, team = await gw.admin("POST", f"{acct}/teams", {"name": "secret-team"})
    body = {"email": "a-person@example.com", "role": "viewer"}
    _, member = await gw.admin("POST", f"{acct}/members", body)
    await gw.admin("PUT", f"{acct}/end-user-budgets", {"end_user": "a-cust", "quotas": []})
    await sign_in(page, token(b.account_id, "owner"))
    for path in ("/dashboard/members", "/dashboard/teams", "/dashboard/end-users"):
        await page.goto(path)
        text = await page.content()
        assert "secret-team" not in text and "a-person" not in text, path
        assert a.account_id not in text and a.key_id not in text, path
    hour = {"window_0": "hour", "metric_0": "requests", "limit_0": "5"}
    for path, fields in (
        (f"/dashboard/members/{member['id']}/role", {"role": "viewer"}),
        (f"/dashboard/members/{member['id']}/remove", {}),
        (f"/dashboard/teams/{team['id']}/quotas", hour),
        (f"/dashboard/keys/{a.key_id}/team", {"team_id": ""}),
        (f"/dashboard/keys/{a.key_id}/revoke", {}),
        (f"/dashboard/keys/{a.key_id}/limits", hour),
    ):
        status, text = await post_form(page, path, fields)
        assert status == 404 and "No such" in text, (path, status)
    status, text = await post_form(
        page, "/dashboard/keys/" + b.key_id + "/team", {"team_id": team["id"]}
    )
    assert status == 404 and "No such team" in text
    assert [m["id"] for m in await listed(gw, a.account_id, "members")] == [member["id"]]


async def test_an_operator_credits_a_promotional_grant_and_revokes_it_once(
    gw: Gateway, page: Page
) -> None:
    org = await tenant(gw)
    await sign_in(page, ADMIN_KEY)
    await page.goto(f"/dashboard/operators/accounts/{org.account_id}")
    await page.fill("#credit-amount", "2")
    await page.fill("#credit-kind", "promotional")
    await page.fill("#credit-expires", "2099-06-30")
    await page.fill("#credit-priority", "5")
    await page.click("form[action$='/confirm/credit'] button")
    summary = await page.inner_text("#confirm-summary")
    assert "Add $2.00 to" in summary
    assert "as a promotional grant, expiring 2099-06-30 23:59 UTC, priority 5" in summary
    await page.click("#confirm")
    await page.wait_for_selector("text=Credit recorded")
    (promo,) = [g for g in await listed(gw, org.account_id, "grants") if g["kind"] != "paid"]
    assert (promo["kind"], promo["priority"], promo["amount_micros"]) == (
        "promotional",
        5,
        2_000_000,
    )
    assert promo["expires_at"].startswith("2099-06-30T23:59:59")
    row = page.locator(f"#grants tr[data-grant-id='{promo['id']}']")
    assert "promotional" in await row.inner_text()
    await screenshots(page, "operators-grants")
    await row.locator("button", has_text="Revoke grant").click()
    summary = await page.inner_text("#confirm-summary")
    assert f"Revoke grant {promo['id']} (promotional, " in summary
    (paid_then,) = [g for g in await listed(gw, org.account_id, "grants") if g["kind"] == "paid"]
    await page.click("#confirm")
    await page.wait_for_selector("text=Grant revoked")
    await page.go_back()  # the confirmation again, from its address: the same key
    assert "already revoked" in await page.inner_text("#confirm-summary")
    await page.click("#confirm")
    await page.wait_for_selector("text=Already recorded")
    grants = {g["kind"]: g for g in await listed(gw, org.account_id, "grants")}
    assert grants["promotional"]["status"] == "revoked"
    assert grants["paid"]["status"] == "active" and grants["paid"]["id"] == paid_then["id"]


async def test_the_system_page_shows_readiness_tasks_and_a_parked_settlement(
    gw: Gateway, page: Page
) -> None:
    org: Tenant = await tenant(gw, scopes=ALL_SCOPES)
    await chat(gw, org.key)
    await gw.app[METER].drain()
    stream = gw.stores().settlement_stream("test-parker")
    await stream.ensure_groups()
    parked = [m for m in await stream.read(100, pending=False)]
    assert parked
    for message in parked:
        assert await stream.dead_letter(message, "ledger refused: test")
    try:
        status, report = await gw.admin("GET", "/admin/v1/system")
        assert status == 200 and report["readiness"]["settlement_dead_letters"] == len(parked)
        assert [d["reason"] for d in report["dead_letters"]] == ["ledger refused: test"] * len(
            parked
        )
        assert [e["target"] for e in report["exporters"]] == ["stripe", "lago"]
        await sign_in(page, ADMIN_KEY)
        await page.goto("/dashboard/system")
        assert f"{len(parked)} parked" in await page.inner_text("#dead-count")
        assert "ledger refused: test" in await page.inner_text("#dead-letters")
        assert org.account_id in await page.inner_text("#dead-letters")
        assert "queued" in await page.inner_text("#backlog")
        await screenshots(page, "system")
    finally:
        assert await stream.requeue() == len(parked)
        await gw.settle_all()
