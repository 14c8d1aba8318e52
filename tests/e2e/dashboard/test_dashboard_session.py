"""Dashboard sessions over plain HTTP: a JWT exchanged for a cookie, an admin-scoped token
for the operator pages (and the operator API), and every way a session ends: sign-out,
the key revoked, the token revoked."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.dashboard.test_dashboard import SCOPES
from tests.support.dashboard_client import CSRF, page, sign_in
from tests.support.factories import tenant
from tests.support.fakes.identity import AUDIENCE, HS_SECRET, ISSUER, claims, sign_hs
from tests.support.harness import Gateway, running_gateway

USER_SCOPES = "account:read usage:read keys:write billing:read"


@pytest.fixture
async def jgw(dsn: str) -> AsyncIterator[Gateway]:
    env = {"JWT_SECRET": HS_SECRET, "JWT_AUDIENCE": AUDIENCE, "JWT_ISSUER": ISSUER}
    async with running_gateway(dsn, None, **env) as gateway:
        yield gateway
        await gateway.settle_all()


async def test_a_user_token_signs_in_and_its_revocation_ends_the_session(jgw: Gateway) -> None:
    t = await tenant(jgw, scopes=SCOPES)
    token = sign_hs(claims("user-1", account_id=t.account_id, scope=USER_SCOPES))
    http, status, text = await sign_in(jgw, token)
    async with http:
        assert status == 200 and 'id="balance">$10.00<' in text
        assert token not in text and all(token not in c.value for c in http.cookie_jar)
        headers = {"Authorization": f"Bearer {token}"}
        async with http.post(jgw.url + "/v1/auth/revoke", headers=headers) as r:
            assert r.status == 200
        where, _ = await page(http, jgw, "/dashboard/")
        assert where == "/dashboard/signin"


async def test_an_admin_token_opens_the_operator_pages_and_the_operator_api(
    jgw: Gateway,
) -> None:
    t = await tenant(jgw, scopes=SCOPES)
    admin = sign_hs(claims("ops-1", scope="admin"))
    http, status, text = await sign_in(jgw, admin)
    async with http:
        assert status == 200 and "Settlement backlog" in text
        where, text = await page(http, jgw, f"/dashboard/operators/accounts/{t.account_id}")
        assert where.endswith(t.account_id) and "Add credit" in text
    for token, expected in ((admin, 200), (sign_hs(claims("u", scope=USER_SCOPES)), 403)):
        headers = {"Authorization": f"Bearer {token}"}
        async with jgw.http.get(jgw.url + "/admin/v1/accounts", headers=headers) as r:
            assert r.status == expected


async def test_sign_out_and_a_revoked_key_end_their_sessions(gw: Gateway) -> None:
    t = await tenant(gw, scopes=SCOPES)
    first, status, _ = await sign_in(gw, t.key)
    second, _, _ = await sign_in(gw, t.key)
    async with first, second:
        assert status == 200
        _, text = await page(first, gw, "/dashboard/keys")
        csrf = CSRF.search(text)
        assert csrf is not None
        async with first.post(gw.url + "/dashboard/signout", data={"csrf": csrf.group(1)}) as r:
            assert r.url.path == "/dashboard/signin"
        assert (await page(first, gw, "/dashboard/keys"))[0] == "/dashboard/signin"
        assert (await page(second, gw, "/dashboard/keys"))[0] == "/dashboard/keys"
        status, _ = await gw.admin("DELETE", f"/admin/v1/keys/{t.key_id}")
        assert status == 200
        assert (await page(second, gw, "/dashboard/keys"))[0] == "/dashboard/signin"
