"""Values typed by people, fuzzed where they enter: every dashboard form found by walking the
pages (each field in turn, the others as the page filled them, with the session's CSRF
token), and every path parameter of the operator and account APIs, taken from the app's
own router so a new route or form is fuzzed without a line here. Hypothesis draws the
values (seeded, `derandomize`: a failure names its value and replays); each field also gets
the known troublemakers ('²', '٣', a full-width digit, 5,000 digits). Nothing answers a
5xx, and no answer carries a traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import quote, urljoin, urlsplit

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from tests.support.dashboard_client import signed_in
from tests.support.factories import Tenant, tenant
from tests.support.harness import ADMIN_KEY, Gateway

TROUBLE = [
    "\u00b2", "\u0663", "\uff15", "1\u00b2", "\u0661\u0662", "-1", "+1", "", " ", " 7 ", "1 0",
    "1_000", "1e3", "9" * 19, "9" * 5000, "\x00", "\u00a05",
]  # fmt: skip
EXAMPLES = int(os.environ.get("MW_FUZZ_EXAMPLES", "4"))
ALL_SCOPES = [
    "chat", "account:read", "usage:read", "keys:write", "billing", "billing:read",
    "billing:setup", "org:write", "statements:read",
]  # fmt: skip
MAX_PAGES = 40
NOT_FUZZED = ("/signout", "/signin")  # they end or start a session, the forms' own premise


def drawn(strategy: st.SearchStrategy[str], n: int) -> list[str]:
    """`n` values drawn by hypothesis, the same ones every run."""
    found: list[str] = []

    @settings(
        max_examples=n,
        database=None,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def draw(value: str) -> None:
        found.append(value)

    draw()
    return found


TEXT = st.one_of(
    st.text(min_size=1, max_size=12),
    st.integers(-(2**70), 2**70).map(str),
    st.from_regex(r"\A[0-9\u0660-\u0669\uff10-\uff19\u00b2\u00b3 +-]{1,8}\Z"),
)


def values_for(index: int, pool: list[str]) -> list[str]:
    """The troublemakers, and a slice of the drawn values that differs field to field."""
    start = (index * EXAMPLES) % max(len(pool), 1)
    return TROUBLE + (pool[start:] + pool)[:EXAMPLES]


def answered_well(status: int, body: bytes, what: str) -> None:
    assert status < 500, f"{what}: {status} {body[:500]!r}"
    assert b"Traceback" not in body, f"{what}: a traceback in the answer"


# --- the routers' path parameters ------------------------------------------------------


def routes(app: web.Application) -> Iterator[tuple[str, str]]:
    """(method, path template) of every route of `app` and its sub-apps (whose resources
    carry their prefix)."""
    for resource in app.router.resources():
        info = resource.get_info()
        if "app" in info:
            yield from routes(info["app"])
            continue
        template = str(info.get("formatter") or info.get("path") or "")
        for route in resource:
            if route.method not in ("HEAD", "*"):
                yield route.method, template


PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")


def with_params(template: str, values: dict[str, str]) -> str:
    return PARAM.sub(lambda m: quote(values.get(m[1], "x"), safe=""), template)


async def test_no_path_parameter_of_the_operator_or_account_apis_is_a_server_error(
    gw: Gateway,
) -> None:
    t = await tenant(gw, credit=1_000_000, plan="enterprise", scopes=ALL_SCOPES)
    valid = {"account_id": t.account_id, "key_id": t.key_id}
    targets = sorted(
        {
            (method, template)
            for method, template in routes(gw.app)
            if template.startswith(("/admin/v1/", "/v1/account/")) and PARAM.search(template)
        }
    )
    assert len(targets) > 20  # the router was read, not an empty list
    assert ("POST", "/admin/v1/accounts/{account_id}/grants/{grant_id}/revoke") in targets
    pool = drawn(TEXT, 4 * EXAMPLES)
    for index, (method, template) in enumerate(targets):
        token = ADMIN_KEY if template.startswith("/admin/") else t.key
        headers = {"Authorization": f"Bearer {token}"}
        for name in PARAM.findall(template):
            for value in values_for(index, pool):
                path = with_params(template, {**valid, name: value})
                async with gw.http.request(
                    method, URL(gw.url + path, encoded=True), json={}, headers=headers
                ) as r:
                    answered_well(r.status, await r.read(), f"{method} {template} {name}={value!r}")


# --- the dashboard's forms -------------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)

    def names(self) -> list[str]:
        return list(dict.fromkeys(n for n, _ in self.fields if n != "csrf"))

    def with_value(self, name: str, value: str) -> list[tuple[str, str]]:
        kept = [(n, v) for n, v in self.fields if n != name]
        return [*kept, (name, value)]


class Page(HTMLParser):
    """A page's links within the dashboard and its forms, each field as the page fills it."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.links: list[str] = []
        self.forms: list[Form] = []
        self.select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href"):
            self.links.append(urljoin(self.url, a["href"]))
        elif tag == "form":
            action = urljoin(self.url, a.get("action") or self.url)
            self.forms.append(Form(action, a.get("method", "get").lower()))
        elif self.forms and tag in ("input", "textarea") and a.get("name"):
            self._input(a)
        elif self.forms and tag == "select" and a.get("name"):
            self.select = a["name"]
        elif self.forms and tag == "option" and self.select is not None:
            self.forms[-1].fields.append((self.select, a.get("value", "")))
            self.select = None  # the first option stands for the choice

    def _input(self, a: dict[str, str]) -> None:
        if a.get("type") in ("checkbox", "radio") and "checked" not in a:
            return
        if a.get("type") not in ("submit", "button"):
            self.forms[-1].fields.append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self.select = None


def in_dashboard(gw: Gateway, url: str, account_id: str) -> str | None:
    """The dashboard page `url` names (path and query), else None; an operator's pages of
    accounts other than the test's are left alone (their forms are the same forms)."""
    parts = urlsplit(url)
    if parts.netloc and parts.netloc != urlsplit(gw.url).netloc:
        return None
    if not parts.path.startswith("/dashboard") or parts.path.startswith("/dashboard/static"):
        return None
    if "/operators/accounts/" in parts.path and account_id not in parts.path:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def fillings(form: Form) -> Iterator[list[tuple[str, str]]]:
    """A GET form's fields with its empty ones given "1" (an amount, a reason), all of them
    and all but each one (an expiry "1" is refused: the form then opens without it)."""
    empty = [i for i, (_, v) in enumerate(form.fields) if not v]
    for left in (None, *empty):
        yield [(n, v or ("" if i == left else "1")) for i, (n, v) in enumerate(form.fields)]


async def crawl(
    gw: Gateway, http: aiohttp.ClientSession, start: list[str], account_id: str
) -> list[Form]:
    """Every form (POST and GET) of the pages reachable from `start`, and of the pages
    their GET forms open (the operators' confirmation pages)."""
    seen: set[str] = set()
    todo, forms = [(p, p) for p in start], []
    while todo and len(seen) < MAX_PAGES:
        path, key = todo.pop(0)
        if key in seen:
            continue
        seen.add(key)
        async with http.get(gw.url + path, allow_redirects=False) as r:
            page = Page(gw.url + path)
            page.feed(await r.text())
        forms += page.forms
        links = [p for p in (in_dashboard(gw, u, account_id) for u in page.links) if p]
        todo += [(p, p.split("?")[0]) for p in links]
        for form in (f for f in page.forms if f.method == "get"):
            for filled in fillings(form):
                target = in_dashboard(gw, str(URL(form.action).with_query(filled)), account_id)
                todo += [(target, target)] if target else []
    return forms


async def fuzz_forms(
    gw: Gateway, http: aiohttp.ClientSession, forms: list[Form], skip: Callable[[Form], bool]
) -> int:
    """Send every form (a GET's fields in its query) with each field in turn fuzzed; how
    many requests were made."""
    pool, posts, done = drawn(TEXT, 4 * EXAMPLES), 0, set()
    for index, form in enumerate(forms):
        shape = (form.method, URL(form.action).path, tuple(form.names()))
        if skip(form) or shape in done:
            continue
        done.add(shape)
        for name in form.names():
            for value in values_for(index, pool):
                fields = form.with_value(name, value)
                get = form.method == "get"
                async with http.request(
                    form.method.upper(),
                    form.action,
                    params=fields if get else None,
                    data=None if get else fields,
                    allow_redirects=False,
                ) as r:
                    answered_well(r.status, await r.read(), f"{form.action} {name}={value!r}")
                posts += 1
    return posts


async def still_signed_in(gw: Gateway, http: aiohttp.ClientSession) -> None:
    async with http.get(gw.url + "/dashboard/", allow_redirects=False) as r:
        where = r.headers.get("Location", "")
        assert r.status < 400 and "/signin" not in where, "the fuzzing ended its own session"


@pytest.mark.timeout(600)
async def test_no_dashboard_form_field_is_a_server_error(gw: Gateway) -> None:
    t: Tenant = await tenant(gw, credit=5_000_000, plan="enterprise", scopes=ALL_SCOPES)
    status, _ = await gw.admin(
        "POST", "/admin/v1/keys", {"account_id": t.account_id, "name": "second"}
    )  # the forms of a key other than the session's own
    assert status == 201
    status, _ = await gw.admin(
        "POST",
        f"/admin/v1/accounts/{t.account_id}/credits",
        {"amount_micros": 1_000_000, "idempotency_key": "promo", "grant": {"kind": "promo"}},
    )  # a grant, for the revocation form
    assert status == 201

    def own(form: Form) -> bool:
        return t.key_id in form.action or form.action.endswith(NOT_FUZZED)

    account = await signed_in(gw, t.key)
    async with account:
        forms = await crawl(gw, account, ["/dashboard/"], t.account_id)
        assert {"/dashboard/keys", "/dashboard/teams"} <= {URL(f.action).path for f in forms}
        posts = await fuzz_forms(gw, account, forms, own)
        await still_signed_in(gw, account)
    operator = await signed_in(gw, ADMIN_KEY)
    async with operator:
        start = f"/dashboard/operators/accounts/{t.account_id}"
        forms = await crawl(gw, operator, [start], t.account_id)
        actions = {URL(f.action).path.rsplit("/", 1)[1] for f in forms}
        assert {"credit", "adjustment", "revoke-grant"} <= actions  # the confirmation pages
        posts += await fuzz_forms(gw, operator, forms, own)
        await still_signed_in(gw, operator)
    assert posts > 100
