"""Every dashboard page for every kind of caller, in one Chromium: the five roles (a user
token whose `groups` claim names the role, JWT_ROLE_CLAIM=groups), an API key with every
scope (what `meterway dev`'s demo key holds) and the operator (ADMIN_API_KEY).

A page the caller may see renders (200, its heading, no error) and its main action is
reached with the Tab key alone; the owner's, the viewer's and the operator's views have
every input labelled, readable contrast and nothing scrolling sideways at phone width, and
are saved at 1280 and 390 px into tests/artifacts/dashboard/; a page it may not see answers
its refusal in words with the right status. No page logs a console error or fails a request.

One gateway, one browser and one browser context serve the module; each caller signs in
over the last one's session.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Request, Response

from gateway.devtools.dev import DEMO_KEY
from tests.e2e.dashboard.test_dashboard import chat
from tests.support.browser_kit import ARTIFACTS, DESKTOP, PHONE, low_contrast, sign_in, unlabelled
from tests.support.factories import Tenant, tenant
from tests.support.fakes.identity import ROLE_CLAIM_ENV, claims, sign_hs
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway

ROLES = ("owner", "admin", "billing", "member", "viewer")
CALLERS = (*ROLES, "key", "operator")
EVERY = frozenset({*ROLES, "key"})  # every account caller
KEYS_READ = frozenset({"owner", "admin", "member", "viewer", "key"})
KEYS_WRITE = frozenset({"owner", "admin", "member", "key"})
ORG_WRITE = frozenset({"owner", "admin", "key"})
USAGE = frozenset({"owner", "admin", "billing", "viewer", "key"})
BILLING = frozenset({"owner", "billing", "key"})
STATEMENTS = frozenset({"owner", "admin", "billing", "key"})
OPERATOR = frozenset({"operator"})
OWNER = frozenset({"owner"})  # the audit log: owners only, never a key
NOBODY: frozenset[str] = frozenset()
HOUR = [{"window": "hour", "metric": "requests", "limit": 50}]
# Whose views are checked for labels, contrast and phone width, and saved: the fullest
# (the other roles see a part of the owner's), the read-only one, the operator's.
SHOTS = frozenset({"owner", "viewer", "operator"})


@dataclass(frozen=True)
class Dash:
    """One page: who may see it, its heading, and its main action (who gets it)."""

    name: str
    path: str
    allowed: frozenset[str]
    heading: str
    action: str | None = None
    acting: frozenset[str] = NOBODY


PAGES = (
    Dash("overview", "/dashboard/", EVERY, "Overview"),
    Dash("keys", "/dashboard/keys", KEYS_READ, "Keys", "#create-key button", KEYS_WRITE),
    Dash("usage", "/dashboard/usage", USAGE, "Usage", "form.filters button", USAGE),
    # The operator's key made the request: a member reads only their own keys' requests.
    Dash("request", "/dashboard/usage/requests/{request}", EVERY - {"member"}, "Request"),
    Dash("billing", "/dashboard/billing", BILLING, "Billing", "#topup button", BILLING),
    Dash(
        "statement",
        "/dashboard/statements/{month}",
        STATEMENTS,
        "Statement",
        "button[data-print]",
        STATEMENTS,
    ),
    Dash("members", "/dashboard/members", EVERY, "Members", "#invite button", ORG_WRITE),
    Dash("teams", "/dashboard/teams", EVERY, "Teams", "#create-team button", ORG_WRITE),
    Dash(
        "end-users",
        "/dashboard/end-users",
        EVERY,
        "End-user budgets",
        "#end-user-form button",
        ORG_WRITE,
    ),
    Dash("operators", "/dashboard/operators", OPERATOR, "Operators", "#q", OPERATOR),
    Dash(
        "operators-account",
        "/dashboard/operators/accounts/{account}",
        OPERATOR,
        "Account",
        "form[action$='/confirm/credit'] button",
        OPERATOR,
    ),
    Dash(
        "operators-revoke-grant",
        "/dashboard/operators/accounts/{account}/confirm/revoke-grant"
        "?idempotency_key=k-every-page&grant_id={grant}",
        OPERATOR,
        "Confirm",
        "#confirm",
        OPERATOR,
    ),
    Dash(
        "operators-statement",
        "/dashboard/operators/accounts/{account}/statements/{month}",
        OPERATOR,
        "Statement",
        "button[data-print]",
        OPERATOR,
    ),
    Dash("system", "/dashboard/system", OPERATOR, "System"),
    Dash(
        "operators-reconciliation",
        "/dashboard/operators/reconciliation",
        OPERATOR,
        "Reconciliation",
    ),
    Dash("operators-books", "/dashboard/operators/books", OPERATOR, "Price books"),
    Dash("operators-commitments", "/dashboard/operators/commitments", OPERATOR, "Commitments"),
    Dash("operators-prices", "/dashboard/operators/prices", OPERATOR, "Prices"),
    Dash("audit", "/dashboard/audit", OWNER, "Audit log", "form.filters button", OWNER),
    Dash(
        "operators-audit",
        "/dashboard/operators/audit",
        OPERATOR,
        "Audit log",
        "form.filters button",
        OPERATOR,
    ),
)


@dataclass
class Org:
    tenant: Tenant
    key: str  # an API key with every scope, as `meterway dev`'s demo key
    grant: int
    request: str  # the request id of the organization's one call


@dataclass
class Watch:
    """What went wrong in a context besides the page itself: console errors, failed
    requests, and answers >= 400 other than the document (a refusal page is expected)."""

    problems: list[str] = field(default_factory=list)

    def console(self, msg: ConsoleMessage) -> None:
        # Chromium logs a refusal page's own 401/403 too; other 4xx are caught by `answered`
        if msg.type == "error" and "status of 40" not in msg.text:
            self.problems.append(f"console: {msg.text}")

    def failed(self, request: Request) -> None:
        self.problems.append(f"failed: {request.url} {request.failure}")

    def answered(self, response: Response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            self.problems.append(f"{response.status}: {response.url}")


@pytest.fixture(scope="module")
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    env = {
        **ROLE_CLAIM_ENV,
    }
    async with running_gateway(dsn, None, **env) as gateway:
        yield gateway
        await gateway.settle_all()


async def _admin(gw: Gateway, method: str, path: str, body: object = None) -> dict[str, object]:
    status, answer = await gw.admin(method, path, body)
    assert status < 300, (path, status, answer)
    return dict(answer)


@pytest.fixture(scope="module")
async def org(gw: Gateway) -> Org:
    """An organization with something on every page: usage, a team holding a key, a
    member, end-user budgets, a promotional grant."""
    t = await tenant(gw, scopes=list(DEMO_KEY.scopes))
    acct = f"/admin/v1/accounts/{t.account_id}"
    await chat(gw, t.key)
    await gw.settle_all()
    team = await _admin(gw, "POST", f"{acct}/teams", {"name": "research", "quotas": HOUR})
    await _admin(gw, "PUT", f"/admin/v1/keys/{t.key_id}/team", {"team_id": team["id"]})
    await _admin(gw, "POST", f"{acct}/members", {"email": "ana@example.com", "role": "viewer"})
    await _admin(gw, "PUT", f"{acct}/end-user-budgets", {"quotas": HOUR})
    await _admin(gw, "PUT", f"{acct}/end-user-budgets", {"end_user": "cust_42", "quotas": HOUR})
    promo = {"kind": "promotional", "expires_at": "2099-01-01T00:00:00Z", "priority": 10}
    credit = {"amount_micros": 2_000_000, "idempotency_key": "promo", "grant": promo}
    await _admin(gw, "POST", f"{acct}/credits", credit)
    grants = await _admin(gw, "GET", f"{acct}/grants")
    grant = next(g for g in grants["data"] if g["kind"] == "promotional")  # type: ignore[attr-defined]
    ledger = await _admin(gw, "GET", f"{acct}/ledger")
    debit = next(e for e in ledger["data"] if e["kind"] == "debit")  # type: ignore[attr-defined]
    return Org(t, t.key, int(grant["id"]), str(debit["request_id"]))


def credential(org: Org, caller: str) -> str:
    if caller == "operator":
        return ADMIN_KEY
    if caller == "key":
        return org.key
    sub = f"{caller}-{secrets.token_hex(3)}"
    return sign_hs(claims(sub, account_id=org.tenant.account_id, groups=[caller]))


async def focused_matches(page: Page, selector: str) -> bool:
    found: bool = await page.evaluate(
        "s => !!document.activeElement && document.activeElement.matches(s)", selector
    )
    return found


async def tab_reaches(page: Page, selector: str, limit: int = 200) -> bool:
    """Tab from the top of the page until `selector` has focus."""
    await page.evaluate("() => document.activeElement && document.activeElement.blur()")
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await focused_matches(page, selector):
            return True
    return False


FOCUSABLE_JS = """
s => { const e = document.querySelector(s);
  return !!e && e.tabIndex >= 0 && !e.disabled && e.checkVisibility() }
"""


async def reachable(page: Page, dash: Dash, walked: set[str]) -> bool:
    """The first caller walks the page with Tab to its main action; the next ones (the
    same form on the same page) check it is visible, enabled and in the tab order."""
    assert dash.action is not None
    if dash.name not in walked:
        walked.add(dash.name)
        return await tab_reaches(page, dash.action)
    found: bool = await page.evaluate(FOCUSABLE_JS, dash.action)
    return found


async def saved(page: Page, name: str) -> int:
    """The page at 1280 and 390 px into tests/artifacts/dashboard/; how far it is wider than
    the phone (0: nothing scrolls sideways)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}-desktop.png"), full_page=True)
    await page.set_viewport_size(PHONE)
    width: int = await page.evaluate("document.documentElement.scrollWidth")
    await page.screenshot(path=str(ARTIFACTS / f"{name}-phone.png"), full_page=True)
    await page.set_viewport_size(DESKTOP)
    return max(0, width - PHONE["width"])


def refusal(caller: str, dash: Dash) -> tuple[int, str]:
    """The status and the words a caller who may not see `dash` gets."""
    if caller == "operator":
        return 401, "Sign in with an account's API key or token to see this page."
    if dash.allowed == OPERATOR:
        return 403, "Operators only: sign in with the admin key or an admin token."
    if dash.name == "request":  # hidden, as a request that does not exist is
        return 404, "No settled request with this id on your account (yet)."
    if caller == "key":
        return 403, "The API key you signed in with does not allow this page."
    return 403, f"Your role in this organization, {caller}, does not include this page."


async def visit(page: Page, org: Org, caller: str, dash: Dash, walked: set[str]) -> None:
    month = datetime.now(UTC).strftime("%Y-%m")
    path = dash.path.format(
        account=org.tenant.account_id, grant=org.grant, request=org.request, month=month
    )
    response = await page.goto(path)
    assert response is not None, path
    where = f"{caller} {path}"
    if caller == "operator" and dash.name == "overview":
        assert page.url.endswith("/dashboard/operators"), where  # an operator's home
        return
    if caller not in dash.allowed:
        status, words = refusal(caller, dash)
        assert response.status == status, where
        said = await page.inner_text("main")
        assert words in await page.inner_text("p.error[role=alert]"), where
        assert "scope" not in said and "{" not in said, where  # roles, not scopes; no JSON
        return
    assert response.status == 200, where
    assert await page.locator("p.error").count() == 0, where
    assert (await page.inner_text("h1")).startswith(dash.heading), where
    if caller in dash.acting:
        assert dash.action is not None
        assert await reachable(page, dash, walked), f"{where}: Tab never reaches {dash.action}"
    else:
        assert dash.action is None or await page.locator(dash.action).count() == 0, where
    if caller in SHOTS:  # the fullest views: inputs labelled, text readable, phone-wide
        assert await unlabelled(page) == [], where
        assert await low_contrast(page) == [], where
        assert await saved(page, f"every-{caller}-{dash.name}") == 0, where


@dataclass
class Tab:
    """The module's one browser tab, what it saw go wrong, the pages walked with Tab."""

    page: Page
    watch: Watch
    walked: set[str] = field(default_factory=set)


@pytest.fixture(scope="module")
async def tab(browser: Browser, gw: Gateway) -> AsyncIterator[Tab]:
    context = await browser.new_context(base_url=gw.url, viewport=DESKTOP)
    context.set_default_timeout(15_000)
    page, watch = await context.new_page(), Watch()
    page.on("console", watch.console)
    page.on("pageerror", lambda exc: watch.problems.append(f"pageerror: {exc}"))
    page.on("requestfailed", watch.failed)
    page.on("response", watch.answered)
    yield Tab(page, watch)
    await context.close()


NAV = {  # the top navigation's links and who gets each
    "/dashboard/": EVERY,
    "/dashboard/keys": KEYS_READ,
    "/dashboard/members": EVERY,
    "/dashboard/billing": BILLING,
    "/dashboard/usage": USAGE,
    "/dashboard/statements": STATEMENTS,
    "/dashboard/operators": OPERATOR,
    "/dashboard/system": OPERATOR,
    "/dashboard/audit": OWNER,
    "/dashboard/operators/audit": OPERATOR,
    "/dashboard/operators/signups": OPERATOR,
    "/dashboard/operators/reconciliation": OPERATOR,
    "/dashboard/operators/books": OPERATOR,
    "/dashboard/operators/commitments": OPERATOR,
    "/dashboard/operators/prices": OPERATOR,
}


async def nav_links(page: Page) -> set[str]:
    links = page.locator("nav[aria-label=Dashboard] a")
    return {str(await a.get_attribute("href")) for a in await links.all()}


@pytest.mark.timeout(480)  # the owner's turn walks every page with Tab and saves it
@pytest.mark.parametrize("caller", CALLERS)
async def test_every_page_for_every_caller(tab: Tab, org: Org, caller: str) -> None:
    """Each caller signs in over the last one's session in the same tab; its top
    navigation links only the pages it may see."""
    tab.watch.problems.clear()
    await sign_in(tab.page, credential(org, caller))
    assert await tab.page.locator("p.error").count() == 0
    assert await nav_links(tab.page) == {p for p, who in NAV.items() if caller in who}
    for dash in PAGES:
        await visit(tab.page, org, caller, dash, tab.walked)
    assert tab.watch.problems == []
