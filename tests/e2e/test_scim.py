"""SCIM 2.0 provisioning against a real gateway (docs/guides/scim.md): a directory's user is
a member of its organization, its group a team (and, where the operator maps it, a role);
`active: false` or DELETE ends the membership and revokes the person's keys on every
gateway process within a second; the token reaches only its own organization and nothing
but /scim/v2; every change is in the audit log."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from gateway.http.appkeys import MEMBERS
from tests.e2e.cli.test_cli_billing import login, meterway
from tests.fault.procs import Proc, wait_healthy
from tests.support.factories import tenant
from tests.support.fakes.identity import ROLE_CLAIM_ENV, claims, sign_hs
from tests.support.harness import ADMIN_KEY, Gateway, gateway_env, running_gateway
from tests.support.scim import GROUP, USER, Directory, directory_of, mint_token

ROLES = {"SCIM_GROUP_ROLES": "Meterway Admins=admin"}
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@pytest.fixture(scope="module")
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn, None, **ROLES, **ROLE_CLAIM_ENV) as gateway:
        yield gateway


async def org(gw: Gateway) -> Directory:
    return await directory_of(gw, (await tenant(gw)).account_id)


def name() -> str:
    return f"p{secrets.token_hex(4)}@example.com"


async def member_of(gw: Gateway, d: Directory, email: str) -> Mapping[str, Any] | None:
    rows = await gw.app[MEMBERS].of_account(d.account_id)
    return next((r for r in rows if r["email"] == email), None)


async def key_of(gw: Gateway, d: Directory, member_id: str) -> dict[str, Any]:
    """A key of the member's: minted by the operator, recorded as theirs as the account
    API's mint records a key a person makes (`own_key`)."""
    body = {"account_id": d.account_id, "name": "k", "scopes": ["chat", "models"]}
    status, key = await gw.admin("POST", "/admin/v1/keys", body)
    assert status == 201, key
    await gw.app[MEMBERS].own_key(key["id"], member_id)
    return dict(key)


async def models(url: str, key: str) -> int:
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {key}"}
        async with http.get(url + "/v1/models", headers=headers) as r:
            return r.status


async def audited(gw: Gateway, d: Directory) -> list[str]:
    status, page = await gw.admin("GET", f"/admin/v1/audit?account_id={d.account_id}&limit=200")
    assert status == 200, page
    return [r["action"] for r in page["data"]]


async def test_a_user_is_a_member_found_by_user_name_and_external_id(gw: Gateway) -> None:
    d = await org(gw)
    email = name()
    made = await d.user(email, externalId="00u1", name={"givenName": "Ada"})
    assert made["active"] is True and made["meta"]["version"] == 'W/"1"'
    member = await member_of(gw, d, email)
    assert member is not None and member["role"] == "member" and member["accepted_at"]
    for query in (f'userName eq "{email.upper()}"', 'externalId eq "00u1"'):
        status, found, _ = await d.call("GET", f"/Users?filter={query}")
        assert status == 200 and found["totalResults"] == 1, found
        assert found["Resources"][0]["id"] == made["id"]
        assert found["Resources"][0]["name"] == {"givenName": "Ada"}
    status, none, _ = await d.call("GET", '/Users?filter=externalId eq "00U1"')
    assert none["totalResults"] == 0  # externalId is case-exact
    status, again, _ = await d.call("POST", "/Users", {"schemas": [USER], "userName": email})
    assert status == 409 and again["scimType"] == "uniqueness" and again["status"] == "409"


async def test_pages_and_errors_are_the_rfcs(gw: Gateway) -> None:
    d = await org(gw)
    for _ in range(3):
        await d.user(name())
    status, page, headers = await d.call("GET", "/Users?startIndex=2&count=1")
    assert status == 200 and headers["Content-Type"].startswith("application/scim+json")
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (3, 2, 1)
    status, bad, _ = await d.call("GET", "/Users?filter=userName zz 1")
    assert status == 400 and bad["scimType"] == "invalidFilter"
    assert bad["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    status, missing, _ = await d.call("GET", "/Users/nobody")
    assert status == 404 and missing["status"] == "404"


UNREADABLE = [
    'userName eq "\\q"',
    'userName eq "a\tb"',
    "(" * 2000 + "userName pr" + ")" * 2000,
    "not (" * 600 + "userName pr" + ")" * 600,
    " or ".join(["userName pr"] * 2000),
    " or ".join(["userName pr"] * 400),
    "emails[" * 300 + "value pr" + "]" * 300,
]


async def test_unreadable_filters_and_patch_paths_are_400s_never_500s(gw: Gateway) -> None:
    d = await org(gw)
    user = await d.user(name())
    for text in UNREADABLE:
        body = {"schemas": [SEARCH], "filter": text}
        status, bad, _ = await d.call("POST", "/Users/.search", body)
        assert (status, bad["scimType"]) == (400, "invalidFilter"), (text[:30], bad)
        op = {"op": "remove", "path": f"emails[{text}]"}
        status, bad = await d.patch(f"/Users/{user['id']}", op)
        assert (status, bad["scimType"]) == (400, "invalidPath"), (text[:30], bad)


async def test_paging_numbers_go_through_the_one_number_parser(gw: Gateway) -> None:
    d = await org(gw)
    await d.user(name())
    for name_ in ("count", "startIndex"):
        for text in ("1_0", "+1", "\u0661\u0660", "1.0", " 1", ""):
            status, bad, _ = await d.call("GET", f"/Users?{name_}={quote(text)}")
            assert (status, bad["scimType"]) == (400, "invalidValue"), (name_, text, bad)
            assert name_ in bad["detail"]
        for value in ("1_0", True, 1.0):
            body = {"schemas": [SEARCH], name_: value}
            status, bad, _ = await d.call("POST", "/Users/.search", body)
            assert (status, bad["scimType"]) == (400, "invalidValue"), (name_, value, bad)
    status, page, _ = await d.call("GET", "/Users?count=1&startIndex=-3")
    assert status == 200 and (page["startIndex"], page["itemsPerPage"]) == (1, 1)
    body = {"schemas": [SEARCH], "count": 0, "startIndex": "1"}
    status, page, _ = await d.call("POST", "/Users/.search", body)
    assert status == 200 and page["itemsPerPage"] == 0 and page["totalResults"] == 1


async def test_if_match_naming_an_older_version_is_refused(gw: Gateway) -> None:
    d = await org(gw)
    made = await d.user(name())
    path = f"/Users/{made['id']}"
    op = {"op": "replace", "path": "displayName", "value": "Ada"}
    status, changed = await d.patch(path, op)
    assert status == 200 and changed["meta"]["version"] == 'W/"2"'
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [op]}
    status, stale, _ = await d.call("PATCH", path, body, **{"If-Match": 'W/"1"'})
    assert status == 412 and stale["status"] == "412"
    status, _, headers = await d.call("GET", path)
    assert headers["ETag"] == 'W/"2"'


async def test_deactivating_revokes_the_persons_keys_on_every_process_within_a_second(
    gw: Gateway,
) -> None:
    d = await org(gw)
    email = name()
    made = await d.user(email)
    member = await member_of(gw, d, email)
    assert member is not None
    key = await key_of(gw, d, member["id"])
    env = gateway_env(gw.settings.database_url, "http://127.0.0.1:9", gw.settings.redis_prefix)
    other = Proc(env, "serve")
    await other.start()
    try:
        url = f"http://{env['LISTEN_ADDR']}"
        await wait_healthy(url)
        assert await models(url, key["key"]) == 200
        okta = {"op": "replace", "value": {"active": False}}  # Okta: no path, a dict
        deadline = time.monotonic() + 1.0
        assert (await d.patch(f"/Users/{made['id']}", okta))[0] == 200
        refused = [await models(u, key["key"]) for u in (url, gw.url)]
        assert time.monotonic() < deadline and refused == [401, 401]
    finally:
        await other.kill()
    assert await member_of(gw, d, email) is None
    _, read, _ = await d.call("GET", f"/Users/{made['id']}")
    assert read["active"] is False
    entra = {"op": "Replace", "path": "active", "value": "True"}  # Entra ID: a string
    assert (await d.patch(f"/Users/{made['id']}", entra))[0] == 200
    assert await member_of(gw, d, email) is not None
    assert await models(gw.url, key["key"]) == 401  # membership back, the keys not
    actions = await audited(gw, d)
    assert {"scim.user_create", "scim.user_deactivate", "scim.user_reactivate"} <= set(actions)


async def test_deleting_a_user_removes_the_member_and_revokes_their_keys(gw: Gateway) -> None:
    d = await org(gw)
    email = name()
    made = await d.user(email)
    member = await member_of(gw, d, email)
    assert member is not None
    key = await key_of(gw, d, member["id"])
    status, _, _ = await d.call("DELETE", f"/Users/{made['id']}")
    assert status == 204
    assert await models(gw.url, key["key"]) == 401
    assert await member_of(gw, d, email) is None
    assert (await d.call("GET", f"/Users/{made['id']}"))[0] == 404
    assert "scim.user_delete" in await audited(gw, d)


async def test_groups_are_teams_moving_a_person_moves_their_team_and_keys(gw: Gateway) -> None:
    d = await org(gw)
    email = name()
    ada = await d.user(email)
    member = await member_of(gw, d, email)
    assert member is not None
    key = await key_of(gw, d, member["id"])
    red = await d.group("Red", ada["id"])
    blue = await d.group("Blue")
    _, listed = await gw.admin("GET", f"/admin/v1/accounts/{d.account_id}/teams")
    teams = {t["name"]: t["id"] for t in listed["data"]}
    assert (await member_of(gw, d, email) or {})["team_id"] == teams["Red"]
    assert (await gw.stores().ledger.get_key(key["id"]) or {})["team_id"] == teams["Red"]
    _, found, _ = await d.call("GET", '/Groups?filter=displayName eq "Red"')
    assert found["Resources"][0]["members"][0]["value"] == ada["id"]
    gone = {"op": "remove", "path": f'members[value eq "{ada["id"]}"]'}
    assert (await d.patch(f"/Groups/{red['id']}", gone))[0] == 200
    joined = {"op": "add", "path": "members", "value": [{"value": ada["id"]}]}
    assert (await d.patch(f"/Groups/{blue['id']}", joined))[0] == 200
    assert (await member_of(gw, d, email) or {})["team_id"] == teams["Blue"]
    assert (await gw.stores().ledger.get_key(key["id"]) or {})["team_id"] == teams["Blue"]
    _, read, _ = await d.call("GET", f"/Users/{ada['id']}")
    assert [g["display"] for g in read["groups"]] == ["Blue"]
    assert "scim.group_update" in await audited(gw, d)


async def test_a_group_the_operator_maps_gives_its_role(gw: Gateway) -> None:
    d = await org(gw)
    email = name()
    ada = await d.user(email)
    admins = await d.group("Meterway Admins", ada["id"])
    assert (await member_of(gw, d, email) or {})["role"] == "admin"
    entra = {"op": "Remove", "path": "members", "value": [{"value": ada["id"]}]}
    assert (await d.patch(f"/Groups/{admins['id']}", entra))[0] == 200
    assert (await member_of(gw, d, email) or {})["role"] == "member"
    assert "member.role" in await audited(gw, d)


async def test_the_token_reaches_its_own_organization_and_only_scim(gw: Gateway) -> None:
    mine, theirs = await org(gw), await org(gw)
    ada = await theirs.user(name())
    group = await theirs.group("Theirs", ada["id"])
    for path in (f"/Users/{ada['id']}", f"/Groups/{group['id']}"):
        assert (await mine.call("GET", path))[0] == 404
        assert (await mine.call("DELETE", path))[0] == 404
    assert (await mine.call("GET", "/Users"))[1]["totalResults"] == 0
    headers = {"Authorization": f"Bearer {mine.token}"}
    for path in ("/v1/account", "/v1/models", "/admin/v1/accounts"):
        async with gw.http.get(gw.url + path, headers=headers) as r:
            assert r.status == 401, path
    key = (await tenant(gw)).key
    async with gw.http.get(
        gw.url + "/scim/v2/Users", headers={"Authorization": f"Bearer {key}"}
    ) as r:
        assert r.status == 401


async def test_minting_again_replaces_the_token(gw: Gateway) -> None:
    d = await org(gw)
    assert (await d.call("GET", "/Users"))[0] == 200
    fresh = await mint_token(gw, d.account_id)
    assert (await d.call("GET", "/Users"))[0] == 401
    d.token = fresh
    assert (await d.call("GET", "/Users"))[0] == 200
    assert (await audited(gw, d)).count("scim.token") == 2


async def test_schemas_and_resource_types_describe_users_and_groups(gw: Gateway) -> None:
    d = await org(gw)
    _, config, _ = await d.call("GET", "/ServiceProviderConfig")
    assert config["patch"]["supported"] and config["etag"]["supported"]
    assert not config["bulk"]["supported"] and not config["sort"]["supported"]
    _, schemas, _ = await d.call("GET", "/Schemas")
    assert {s["id"] for s in schemas["Resources"]} == {USER, GROUP}
    _, types, _ = await d.call("GET", "/ResourceTypes")
    assert {t["endpoint"] for t in types["Resources"]} == {"/Users", "/Groups"}


async def test_an_owner_or_the_cli_mints_it_and_an_admin_may_not(
    gw: Gateway, tmp_path: Path
) -> None:
    t = await tenant(gw)
    tokens = []
    for role in ("owner", "admin"):
        person = sign_hs(
            claims(f"{role}-{secrets.token_hex(3)}", account_id=t.account_id, groups=[role])
        )
        async with gw.http.post(
            gw.url + "/v1/account/scim/token", headers={"Authorization": f"Bearer {person}"}
        ) as r:
            tokens.append((r.status, await r.json()))
    assert tokens[0][0] == 201 and tokens[0][1]["token"].startswith("mwscim-")
    assert tokens[1][0] == 403
    login(tmp_path, ADMIN_KEY, "admin-key")
    run = await meterway(gw, tmp_path, "admin", "scim-token", t.account_id)
    assert run.code == 0 and run.out.startswith("mwscim-"), run
    old = Directory(gw, t.account_id, tokens[0][1]["token"])
    new = Directory(gw, t.account_id, run.out.split()[0])
    assert [(await x.call("GET", "/Users"))[0] for x in (old, new)] == [401, 200]
