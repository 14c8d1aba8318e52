"""One way into an organization and one way out (services/members/joining.py), tried as an
enterprise customer and an attacker would, against a gateway with a SAML identity provider,
a DNS resolver the test controls and the organization's SCIM directory:
- a person removed by an owner, or deprovisioned by the directory, is not joined back by a
  SAML sign-in through the domain's join role; the directory restores them;
- another NameID for an address that joined by its domain (other capitals, a persistent
  id) signs in as the same member, never a 500;
- SCIM's update and reactivation pass the check its create does, and an organization that
  proved domains takes only their people from its directory;
- nobody in an organization, its directory included, removes or demotes its only owner
  (the gateway's operator may: it makes owners)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests.e2e.test_domain_claims import claimed, publish
from tests.e2e.test_roles import call, token
from tests.e2e.test_saml_signin import browser, post, saml_gateway, to_idp
from tests.support.factories import tenant
from tests.support.fakes.dns_server import Zone, dns_server
from tests.support.fakes.identity import ROLE_CLAIM_ENV
from tests.support.fakes.saml_idp import SamlIdp
from tests.support.harness import Gateway
from tests.support.scim import USER, directory_of

AUDIT_JOINS = "/v1/account/audit?action=member.join"
GROUP_ROLES = {"SCIM_GROUP_ROLES": "Meterway Admins=admin"}


@asynccontextmanager
async def world(dsn: str) -> AsyncIterator[tuple[Gateway, SamlIdp, Zone]]:
    async with (
        dns_server() as zone,
        saml_gateway(
            dsn, extra={**ROLE_CLAIM_ENV, **GROUP_ROLES}, DOMAIN_DNS_RESOLVER=zone.address
        ) as (gw, idp),
    ):
        yield gw, idp, zone


async def proven(gw: Gateway, zone: Zone, account_id: str, join_role: str | None) -> str:
    """A fresh domain the organization proved, with `join_role`."""
    domain = f"d{secrets.token_hex(4)}.example"
    owner = token(account_id, "owner")
    publish(zone, await claimed(gw, owner, domain, join_role))
    status, body = await call(gw, owner, "POST", f"/v1/account/domains/{domain}/verify")
    assert status == 200, body
    return domain


async def sign_in(gw: Gateway, idp: SamlIdp, user: str, persistent: str = "") -> tuple[int, str]:
    """(status, Location or body) of `user`'s SAML sign-in."""
    idp.user, idp.persistent = user, persistent
    async with browser() as http:
        _, fields = await to_idp(http, gw, idp)
        status, location, body = await post(http, gw, fields)
    return status, location or body


async def people(gw: Gateway, account_id: str) -> list[dict[str, Any]]:
    status, listed = await gw.admin("GET", f"/admin/v1/accounts/{account_id}/members")
    assert status == 200, listed
    return list(listed["data"])


async def emails(gw: Gateway, account_id: str) -> list[str]:
    return sorted(m["email"] for m in await people(gw, account_id))


@pytest.mark.timeout(480)
async def test_a_removed_person_is_not_joined_back_by_a_sign_in(dsn: str) -> None:
    async with world(dsn) as (gw, idp, zone):
        acme = await tenant(gw)
        domain = await proven(gw, zone, acme.account_id, "member")
        bob, dan = f"bob@{domain}", f"dan@{domain}"
        assert await sign_in(gw, idp, bob) == (303, "/dashboard/")  # joined by the domain
        (row,) = [m for m in await people(gw, acme.account_id) if m["email"] == bob]
        owner = token(acme.account_id, "owner")
        status, _ = await call(gw, owner, "DELETE", f"/v1/account/members/{row['id']}")
        assert status == 200
        status, body = await sign_in(gw, idp, bob)
        assert status == 401 and "You were removed from this organization" in body, body[:300]
        assert bob not in await emails(gw, acme.account_id)

        scim = await directory_of(gw, acme.account_id)  # deprovisioned before any sign-in
        made = await scim.user(dan)
        status, _ = await scim.patch(
            f"/Users/{made['id']}", {"op": "replace", "value": {"active": False}}
        )
        assert status == 200
        status, body = await sign_in(gw, idp, dan)
        assert status == 401 and "You were removed" in body, body[:300]
        assert dan not in await emails(gw, acme.account_id)
        _, listed, _ = await scim.call("GET", f"/Users/{made['id']}")
        assert listed["active"] is False
        renamed = f"daniel@{domain}"  # a new address for the deprovisioned person
        status, _ = await scim.patch(
            f"/Users/{made['id']}", {"op": "replace", "path": "userName", "value": renamed}
        )
        assert status == 200
        status, body = await sign_in(gw, idp, renamed)
        assert status == 401 and "You were removed" in body, body[:300]

        status, _ = await scim.patch(  # the directory restores them
            f"/Users/{made['id']}", {"op": "replace", "value": {"active": True}}
        )
        assert status == 200 and renamed in await emails(gw, acme.account_id)
        status, where = await sign_in(gw, idp, renamed)
        assert status == 303 and where.startswith("/dashboard/"), where[:300]


@pytest.mark.timeout(480)
async def test_another_name_id_for_a_joined_address_is_the_same_member(dsn: str) -> None:
    async with world(dsn) as (gw, idp, zone):
        acme = await tenant(gw)
        domain = await proven(gw, zone, acme.account_id, "viewer")
        ann = f"ann@{domain}"
        assert await sign_in(gw, idp, ann) == (303, "/dashboard/")
        assert await sign_in(gw, idp, f"Ann@{domain.upper()}") == (303, "/dashboard/")
        assert await sign_in(gw, idp, ann, persistent="00u-ann-1") == (303, "/dashboard/")
        (row,) = [m for m in await people(gw, acme.account_id) if m["email"] == ann]
        assert (row["subject"], row["role"]) == (ann, "viewer")  # bound once, to the first
        _, audit = await call(gw, token(acme.account_id, "owner"), "GET", AUDIT_JOINS)
        assert [r["target_id"] for r in audit["data"]] == [row["id"]]  # joined once


@pytest.mark.timeout(480)
async def test_scim_update_and_reactivation_pass_the_check_create_does(dsn: str) -> None:
    async with world(dsn) as (gw, _, zone):
        acme, other = await tenant(gw), await tenant(gw)
        domain = await proven(gw, zone, acme.account_id, None)
        theirs = await directory_of(gw, other.account_id)
        made = await theirs.user(f"x{secrets.token_hex(3)}@elsewhere.test")
        path = f"/Users/{made['id']}"
        inside = f"y@{domain}"
        moves: list[dict[str, Any]] = [
            {"op": "replace", "path": "userName", "value": inside},
            {"op": "replace", "path": "emails", "value": [{"value": inside, "primary": True}]},
        ]
        status, refused = await theirs.patch(path, *moves)
        assert status == 409 and refused["status"] == "409", refused
        put = {"schemas": [USER], "userName": inside, "active": True}
        status, refused, _ = await theirs.call("PUT", path, put)
        assert status == 409, refused
        for active in (False, True):
            status, _ = await theirs.patch(path, {"op": "replace", "value": {"active": active}})
            assert status == 200
        assert inside not in await emails(gw, other.account_id)
        _, listed, _ = await theirs.call("GET", path)
        assert listed["userName"] == made["userName"]

        ours = await directory_of(gw, acme.account_id)  # proven domains: only their people
        outside = {"schemas": [USER], "userName": "z@elsewhere.test", "active": True}
        status, refused, _ = await ours.call("POST", "/Users", outside)
        assert (status, refused["scimType"]) == (400, "invalidValue"), refused
        assert domain in refused["detail"]
        await ours.user(f"w@{domain}")


@pytest.mark.timeout(480)
async def test_nobody_removes_or_demotes_the_only_owner(dsn: str) -> None:
    async with world(dsn) as (gw, _, _):
        org = await tenant(gw)
        boss = f"boss-{secrets.token_hex(3)}@corp.test"
        members = f"/admin/v1/accounts/{org.account_id}/members"
        status, _ = await gw.admin("POST", members, {"email": boss, "role": "owner"})
        assert status == 201
        scim = await directory_of(gw, org.account_id)
        made = await scim.user(boss)  # the directory's person is the invited owner, accepted
        (row,) = await people(gw, org.account_id)
        assert row["role"] == "owner" and row["accepted_at"]
        path = f"/Users/{made['id']}"
        status, refused = await scim.patch(path, {"op": "replace", "value": {"active": False}})
        assert status == 409 and "only owner" in refused["detail"], refused
        status, refused, _ = await scim.call("DELETE", path)
        assert status == 409 and "only owner" in refused["detail"], refused
        group = await scim.group("Meterway Admins", made["id"])  # a group mapped to admin
        status, _ = await scim.patch(
            f"/Groups/{group['id']}", {"op": "remove", "path": f'members[value eq "{made["id"]}"]'}
        )
        assert status == 200  # and left again: a `member`, were they not the only owner
        assert [(m["email"], m["role"]) for m in await people(gw, org.account_id)] == [
            (boss, "owner")
        ]
        _, listed, _ = await scim.call("GET", path)
        assert listed["active"] is True

        second = token(org.account_id, "owner")  # a second owner: now one may go
        assert (await call(gw, second, "GET", "/v1/account"))[0] == 200
        status, _ = await scim.patch(path, {"op": "replace", "value": {"active": False}})
        assert status == 200
        (left,) = await people(gw, org.account_id)
        assert left["role"] == "owner" and left["email"] != boss
        mine = f"/v1/account/members/{left['id']}"
        status, refused = await call(gw, second, "DELETE", mine)
        assert status == 409 and refused["error"]["code"] == "last_owner", refused
        status, refused = await call(gw, second, "PUT", f"{mine}/role", {"role": "admin"})
        assert status == 409 and refused["error"]["code"] == "last_owner", refused
        assert (await call(gw, second, "GET", "/v1/account"))[0] == 200
        status, _ = await gw.admin("DELETE", f"{members}/{left['id']}")  # the operator may
        assert status == 200 and await people(gw, org.account_id) == []
