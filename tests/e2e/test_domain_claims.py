"""An owner proves a domain by DNS (a resolver the test controls), and from then on the
domain's people join that organization and no other: other organizations cannot invite them,
their earlier invitations are not offered, and with a join role they join at their first
SAML sign-in. Two organizations proving one domain at once: exactly one wins."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest

from tests.e2e.test_roles import call, token
from tests.e2e.test_saml_signin import browser, invite, post, saml_gateway, to_idp
from tests.support.factories import tenant
from tests.support.fakes.dns_server import Zone, dns_server
from tests.support.fakes.identity import ROLE_CLAIM_ENV
from tests.support.harness import Gateway
from tests.support.scim import USER, directory_of

# Each run's own domains: the suite's tests share one database, where a domain is proven once.
ONE, TWO, RACE = (f"{n}-{secrets.token_hex(4)}.example" for n in ("acme", "solo", "race"))


def publish(zone: Zone, claim: dict[str, Any]) -> None:
    record = claim["record"]
    zone.txt.setdefault(record["name"], []).append(record["value"])


async def claimed(gw: Gateway, owner: str, domain: str, join_role: str | None) -> dict[str, Any]:
    body = {"domain": domain, "join_role": join_role}
    status, made = await call(gw, owner, "POST", "/v1/account/domains", body)
    assert status == 201, made
    return dict(made)


@pytest.mark.timeout(480)
async def test_a_proven_domains_people_join_that_organization_only(dsn: str) -> None:
    async with (
        dns_server() as zone,
        saml_gateway(dsn, extra=ROLE_CLAIM_ENV, DOMAIN_DNS_RESOLVER=zone.address) as (gw, idp),
    ):
        acme, other = await tenant(gw), await tenant(gw)
        await invite(gw, other.account_id, f"bob@{ONE}")  # before acme proves it
        owner = token(acme.account_id, "owner")
        admin = token(acme.account_id, "admin")
        status, refused = await call(gw, admin, "POST", "/v1/account/domains", {"domain": "x.io"})
        assert status == 403, refused  # an owner's act

        claim = await claimed(gw, owner, ONE.upper(), "member")
        assert claim["domain"] == ONE and not claim["verified"]
        assert claim["record"]["name"] == f"_meterway-challenge.{ONE}"
        verify = f"/v1/account/domains/{ONE}/verify"
        status, early = await call(gw, owner, "POST", verify)
        assert status == 409 and early["error"]["code"] == "domain_not_proven"
        publish(zone, claim)
        status, proven = await call(gw, owner, "POST", verify)
        assert status == 200 and proven["verified"], proven
        assert f"_meterway-challenge.{ONE}" in zone.asked

        other_owner = token(other.account_id, "owner")
        status, taken = await call(gw, other_owner, "POST", "/v1/account/domains", {"domain": ONE})
        assert status == 409 and taken["error"]["code"] == "domain_claimed"
        status, _ = await gw.admin(
            "POST", f"/admin/v1/accounts/{other.account_id}/members", {"email": f"cy@{ONE}"}
        )
        assert status == 409  # nobody else invites the domain's people, the operator neither
        scim = await directory_of(gw, other.account_id)  # nor another organization's directory
        dan = {"schemas": [USER], "userName": f"dan@{ONE}", "active": True}
        status, refused, _ = await scim.call("POST", "/Users", dan)
        assert status == 409 and refused["status"] == "409", refused

        idp.user = f"bob@{ONE}"  # invited by `other` before: not offered any more
        async with browser() as http:
            _, fields = await to_idp(http, gw, idp)
            status, location, body = await post(http, gw, fields)
        assert (status, location) == (303, "/dashboard/"), body[:300]
        _, acme_people = await gw.admin("GET", f"/admin/v1/accounts/{acme.account_id}/members")
        (bob,) = [m for m in acme_people["data"] if m["email"] == f"bob@{ONE}"]
        assert (bob["email"], bob["role"], bob["subject"]) == (
            f"bob@{ONE}",
            "member",
            idp.user,
        )
        _, audit = await call(gw, owner, "GET", "/v1/account/audit?action=member.join")
        assert [r["target_id"] for r in audit["data"]] == [bob["id"]]
        _, theirs = await gw.admin("GET", f"/admin/v1/accounts/{other.account_id}/members")
        (old,) = [m for m in theirs["data"] if m["email"] == f"bob@{ONE}"]
        assert old["accepted_at"] is None  # bob's old invitation, never offered


@pytest.mark.timeout(480)
async def test_without_a_join_role_an_invitation_is_still_needed(dsn: str) -> None:
    async with (
        dns_server() as zone,
        saml_gateway(dsn, extra=ROLE_CLAIM_ENV, DOMAIN_DNS_RESOLVER=zone.address) as (gw, idp),
    ):
        acme = await tenant(gw)
        owner = token(acme.account_id, "owner")
        publish(zone, await claimed(gw, owner, TWO, None))
        status, _ = await call(gw, owner, "POST", f"/v1/account/domains/{TWO}/verify")
        assert status == 200
        idp.user = f"carol@{TWO}"
        async with browser() as http:
            _, fields = await to_idp(http, gw, idp)
            status, _, body = await post(http, gw, fields)
        assert status == 401 and f"No account has invited carol@{TWO}" in body
        status, gone = await call(gw, owner, "DELETE", f"/v1/account/domains/{TWO}")
        assert status == 200 and gone["deleted"]
        status, listed = await call(gw, owner, "GET", "/v1/account/domains")
        assert status == 200 and listed["data"] == []


@pytest.mark.timeout(480)
async def test_two_organizations_proving_one_domain_at_once_one_wins(dsn: str) -> None:
    async with (
        dns_server() as zone,
        saml_gateway(dsn, extra=ROLE_CLAIM_ENV, DOMAIN_DNS_RESOLVER=zone.address) as (gw, _),
    ):
        owners = [token((await tenant(gw)).account_id, "owner") for _ in range(2)]
        for owner in owners:  # both claims wait; both records are published
            publish(zone, await claimed(gw, owner, RACE, "viewer"))
        answers = await asyncio.gather(
            *(call(gw, o, "POST", f"/v1/account/domains/{RACE}/verify") for o in owners)
        )
        assert sorted(status for status, _ in answers) == [200, 409], answers
        lost = next(body for status, body in answers if status == 409)
        assert lost["error"]["code"] == "domain_claimed"
