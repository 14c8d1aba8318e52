"""People sign in through a SAML 2.0 identity provider (a pysaml2 IdP beside the gateway,
tests/support/fakes/saml_idp.py), and the attacks SAML is known for are refused: an unsigned
assertion, signature wrapping, a replayed assertion, another audience or recipient, an
expired assertion, a comment inside the NameID, a response meant for another browser."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import aiohttp
import pytest

from tests.support.factories import tenant
from tests.support.fakes.saml_idp import SamlIdp, encode, query_of, read_form, saml_idp
from tests.support.harness import LOCAL_SINKS, Gateway, free_port, running_gateway

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
ACCEPT = re.compile(r'action="(/dashboard/signin/choose/[\w-]+/accept)"')
ASSERTION = re.compile(r"<(\w+):Assertion\b.*?</\1:Assertion>", re.S)
SIGNATURE = re.compile(r"<(\w+):Signature\b.*?</\1:Signature>", re.S)
RESPONSE_ANSWERS = re.compile(r'(<\w+:Response\b[^>]*?)\s+InResponseTo="[^"]*"')
ASSERTION_ID = re.compile(r'(<\w+:Assertion\b[^>]*?\bID=")([^"]+)(")')


@asynccontextmanager
async def saml_gateway(
    dsn: str, by_url: bool = False, extra: Mapping[str, str] | None = None, **env: str
) -> AsyncIterator[tuple[Gateway, SamlIdp]]:
    """A gateway whose SAML identity provider runs beside it, metadata by file or URL, and
    `extra` and `env` settings."""
    env = {**(extra or {}), **env}
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    async with saml_idp() as idp:
        where = (
            {"SAML_IDP_METADATA_URL": idp.entity_id, **LOCAL_SINKS}
            if by_url
            else {"SAML_IDP_METADATA_FILE": idp.metadata_file}
        )
        async with running_gateway(
            dsn, None, LISTEN_ADDR=f"127.0.0.1:{port}", PUBLIC_URL=public, **where, **env
        ) as gw:
            await idp.learn_sp(sp_metadata(gw))
            yield gw, idp


def sp_metadata(gw: Gateway) -> str:
    return f"{gw.url}/dashboard/signin/saml/metadata"


def acs(gw: Gateway) -> str:
    return f"{gw.settings.public_url}/dashboard/signin/saml/acs"


def browser() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def to_idp(
    http: aiohttp.ClientSession, gw: Gateway, idp: SamlIdp
) -> tuple[str, dict[str, str]]:
    """Start at the gateway, follow it to the IdP: the IdP's auto-posting form (its action
    and fields), not yet posted."""
    async with http.get(gw.url + "/dashboard/signin/saml", allow_redirects=False) as r:
        assert r.status == 303, await r.text()
        location = r.headers["Location"]
    assert location.startswith(idp.url + "/sso?") and "SAMLRequest" in query_of(location)
    async with http.get(location) as r:
        assert r.status == 200
        return read_form(await r.text())


async def post(
    http: aiohttp.ClientSession, gw: Gateway, fields: dict[str, str]
) -> tuple[int, str, str]:
    """POST a response to the gateway's assertion consumer: (status, Location, body)."""
    async with http.post(acs(gw), data=fields, allow_redirects=False) as r:
        return r.status, r.headers.get("Location", ""), await r.text()


async def invite(gw: Gateway, account_id: str, email: str) -> None:
    status, made = await gw.admin(
        "POST", f"/admin/v1/accounts/{account_id}/members", {"email": email}
    )
    assert status == 201, made


def unsolicited(
    gw: Gateway, idp: SamlIdp, user: str | None = None, sign: bool = True, whole: bool = False
) -> str:
    """A response no request of the gateway's asked for (an app tile's), as XML; `sign`:
    its assertion signed, `whole`: the response around it signed."""
    return idp.response(
        in_response_to=None,
        acs=acs(gw),
        audience=sp_metadata_entity(gw),
        user=user,
        sign_assertion=sign,
        sign_response=whole,
    )


def sp_metadata_entity(gw: Gateway) -> str:
    return f"{gw.settings.public_url}/dashboard/signin/saml/metadata"


async def assert_refused(gw: Gateway, xml: str, why: str) -> None:
    async with browser() as http:
        status, location, body = await post(http, gw, {"SAMLResponse": encode(xml)})
    assert (status, location) == (401, ""), (status, location, body[:300])
    assert why in body, body[:600]


@pytest.mark.timeout(480)
async def test_an_invited_person_signs_in_and_is_bound_to_the_idps_user(dsn: str) -> None:
    async with saml_gateway(dsn) as (gw, idp):
        async with aiohttp.ClientSession() as http, http.get(sp_metadata(gw)) as r:
            metadata = await r.text()
        assert f'entityID="{sp_metadata_entity(gw)}"' in metadata
        assert f'Location="{acs(gw)}"' in metadata and 'WantAssertionsSigned="true"' in metadata
        t = await tenant(gw)
        await invite(gw, t.account_id, "ann@example.com")
        async with browser() as http:
            async with http.get(gw.url + "/dashboard/signin") as r:
                assert "Sign in with SAML single sign-on" in await r.text()
            _, fields = await to_idp(http, gw, idp)
            status, location, _ = await post(http, gw, fields)
            assert (status, location) == (303, "/dashboard/signin/choose")  # theirs to accept
            async with http.get(gw.url + location) as r:
                page = await r.text()
            token, accept = CSRF.search(page), ACCEPT.search(page)
            assert token is not None and accept is not None, page
            data = {"csrf": token.group(1)}
            async with http.post(gw.url + accept.group(1), data=data, allow_redirects=False) as r:
                assert (r.status, r.headers["Location"]) == (303, "/dashboard/")
            async with http.get(gw.url + "/dashboard/") as r:
                assert r.status == 200 and "$" in await r.text()

        status, members = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}/members")
        (ann,) = members["data"]
        assert ann["issuer"] == idp.entity_id and ann["subject"] == "ann@example.com"
        assert ann["accepted_at"] and ann["signed_in_at"]

        async with browser() as http:  # bound now: straight in next time
            _, fields = await to_idp(http, gw, idp)
            assert (await post(http, gw, fields))[:2] == (303, "/dashboard/")
            idp.user = "eve@example.com"
            _, fields = await to_idp(http, gw, idp)
            status, _, body = await post(http, gw, fields)
            assert status == 401 and "No account has invited eve@example.com" in body


@pytest.mark.timeout(480)
async def test_the_idps_metadata_by_url_and_a_replayed_response_is_refused(dsn: str) -> None:
    async with saml_gateway(dsn, by_url=True) as (gw, idp):
        t = await tenant(gw)
        await invite(gw, t.account_id, "ann@example.com")
        async with browser() as http:
            _, fields = await to_idp(http, gw, idp)
            assert (await post(http, gw, fields))[:2] == (303, "/dashboard/signin/choose")
            status, _, body = await post(http, gw, fields)  # the same response again
        assert status == 401 and "or was used already" in body


@pytest.mark.timeout(480)
async def test_a_response_meant_for_another_browser_is_refused(dsn: str) -> None:
    async with saml_gateway(dsn) as (gw, idp), browser() as ann, browser() as eve:
        _, fields = await to_idp(ann, gw, idp)  # ann's browser asked
        status, _, body = await post(eve, gw, fields)  # eve posts what the IdP gave ann
        assert status == 401 and "not started in this browser" in body
        await to_idp(eve, gw, idp)
        status, _, body = await post(eve, gw, fields)  # eve's own attempt under way: still no
        assert status == 401 and "not started in this browser" in body


@pytest.mark.timeout(480)
async def test_idp_initiated_sign_in_only_when_enabled_and_each_assertion_once(dsn: str) -> None:
    async with saml_gateway(dsn) as (gw, idp):
        await assert_refused(gw, unsolicited(gw, idp), "started at the identity provider is not")
    async with saml_gateway(dsn, SAML_IDP_INITIATED="1") as (gw, idp):
        t = await tenant(gw)
        await invite(gw, t.account_id, "ann@example.com")
        xml = unsolicited(gw, idp)
        async with browser() as http:
            status, location, _ = await post(http, gw, {"SAMLResponse": encode(xml)})
            assert (status, location) == (303, "/dashboard/signin/choose")
        await assert_refused(gw, xml, "used already")  # replayed: one use per assertion


@pytest.mark.timeout(480)
async def test_with_idp_initiated_on_another_browsers_response_stays_refused(dsn: str) -> None:
    """The Response's own InResponseTo is not signed (only the assertion is): removed, the
    response looks unsolicited. The signed assertion's SubjectConfirmationData still names
    ann's request, so eve's browser is refused and ann's is not."""
    async with (
        saml_gateway(dsn, SAML_IDP_INITIATED="1") as (gw, idp),
        browser() as ann,
        browser() as eve,
    ):
        t = await tenant(gw)
        await invite(gw, t.account_id, "ann@example.com")
        _, fields = await to_idp(ann, gw, idp)
        xml = base64.b64decode(fields["SAMLResponse"]).decode()
        stripped = RESPONSE_ANSWERS.sub(r"\1", xml, count=1)
        assert stripped.count("InResponseTo=") == xml.count("InResponseTo=") - 1 >= 1
        forged = {"SAMLResponse": encode(stripped)}
        status, _, body = await post(eve, gw, forged)
        assert status == 401 and "not started in this browser" in body, body[:300]
        status, location, body = await post(ann, gw, {**fields, **forged})
        assert (status, location) == (303, "/dashboard/signin/choose"), body[:300]


@pytest.mark.timeout(480)
async def test_unsigned_and_misaddressed_assertions_are_refused(dsn: str) -> None:
    async with saml_gateway(dsn, SAML_IDP_INITIATED="1") as (gw, idp):
        entity = sp_metadata_entity(gw)
        unsigned = "Signature missing for assertion"
        await assert_refused(gw, unsolicited(gw, idp, sign=False), unsigned)
        # A signed response around an unsigned assertion is not enough.
        xml = unsolicited(gw, idp, sign=False, whole=True)
        await assert_refused(gw, xml, unsigned)
        other = idp.response(in_response_to=None, acs=acs(gw), audience="https://other.example/sp")
        await assert_refused(gw, other, "AudienceRestrictions conditions not satisfied")
        elsewhere = idp.response(
            in_response_to=None, acs="https://other.example/acs", audience=entity
        )
        await assert_refused(gw, elsewhere, "no assertion for us")


@pytest.mark.timeout(480)
async def test_an_expired_assertion_is_refused(dsn: str) -> None:
    async with saml_gateway(dsn, SAML_IDP_INITIATED="1", SAML_CLOCK_SKEW_S="0") as (gw, idp):
        idp.lifetime = {"seconds": 1}
        xml = unsolicited(gw, idp)
        await asyncio.sleep(2.5)
        await assert_refused(gw, xml, "too old")


@pytest.mark.timeout(480)
async def test_signature_wrapping_is_refused(dsn: str) -> None:
    """The signed assertion stays in the document (its signature still verifies) while a
    forged one, naming another person, is placed where a careless reader looks."""
    async with saml_gateway(dsn, SAML_IDP_INITIATED="1") as (gw, idp):
        t = await tenant(gw)
        await invite(gw, t.account_id, "boss@example.com")
        signed = unsolicited(gw, idp, user="eve@example.com")
        original = ASSERTION.search(signed)
        assert original is not None
        forged = ASSERTION_ID.sub(
            r"\g<1>forged\g<3>",
            SIGNATURE.sub("", original.group(0)).replace("eve@example.com", "boss@example.com"),
        )
        before = signed.replace(original.group(0), forged + original.group(0))
        await assert_refused(gw, before, "Invalid number of assertions")
        after = signed.replace(original.group(0), original.group(0) + forged)
        await assert_refused(gw, after, "Invalid number of assertions")
        # The signed one hidden in the response's Extensions, the forged one in its place.
        hidden = signed.replace(
            original.group(0),
            '<samlp:Extensions xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">'
            + original.group(0)
            + "</samlp:Extensions>"
            + forged,
        )
        await assert_refused(gw, hidden, "Signature missing for assertion")
        # The forged one carrying the signed one inside its own signature's Object.
        signature = SIGNATURE.search(original.group(0))
        assert signature is not None
        inner = signature.group(0).replace(
            f"</{signature.group(1)}:Signature>",
            f"<{signature.group(1)}:Object>{original.group(0)}</{signature.group(1)}:Object>"
            f"</{signature.group(1)}:Signature>",
        )
        wrapped = signed.replace(
            original.group(0),
            forged.replace("</saml:Issuer>", "</saml:Issuer>" + inner, 1),
        )
        await assert_refused(gw, wrapped, "Signature missing for assertion")
        _, members = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}/members")
        assert [m["accepted_at"] for m in members["data"]] == [None]  # boss never signed in


@pytest.mark.timeout(480)
async def test_a_comment_inside_the_name_id_does_not_shorten_it(dsn: str) -> None:
    """The IdP's user `ann@example.com.evil.test` inserts a comment after `ann@example.com`:
    the signature still verifies (canonical XML drops comments), and a reader that takes only
    the first text node would see ann. The gateway reads the whole name."""
    async with saml_gateway(dsn, SAML_IDP_INITIATED="1") as (gw, idp):
        t = await tenant(gw)
        await invite(gw, t.account_id, "ann@example.com")
        xml = unsolicited(gw, idp, user="ann@example.com.evil.test")
        commented = xml.replace("ann@example.com.evil.test", "ann@example.com<!---->.evil.test")
        assert commented.count("<!---->") >= 2  # the NameID and the mail attribute
        async with browser() as http:
            status, location, body = await post(http, gw, {"SAMLResponse": encode(commented)})
        assert (status, location) == (401, "")
        assert "No account has invited ann@example.com.evil.test" in body
