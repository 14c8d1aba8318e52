"""SAML 2.0 as a service provider (pysaml2, signatures checked by xmlsec1): the redirect
binding out, the POST binding back.

What a response must be to sign anyone in, beyond what pysaml2 checks by itself (the
signature against the identity provider's metadata, `NotBefore`/`NotOnOrAfter` within
SAML_CLOCK_SKEW_S, `InResponseTo` against the outstanding request):
- the assertion itself signed (`want_assertions_signed`; a signed response around an
  unsigned assertion is not enough), and exactly one assertion;
- its audience restriction present and naming this gateway's entity id;
- its subject confirmation's `Recipient` this gateway's assertion consumer URL;
- a response that answers a request answers this browser's request, read from the signed
  assertion's `SubjectConfirmationData/@InResponseTo` as well as the Response's unsigned
  attribute (either naming another request refuses it), and one that answers none is taken
  only with SAML_IDP_INITIATED.
One use per assertion is the caller's (its id, kept until it expires: `SamlIdentity.ttl_s`).

pysaml2 is synchronous and runs xmlsec1 as a child process: verification runs in a thread,
one at a time (pysaml2's client keeps state between calls).
"""

from __future__ import annotations

import asyncio
import base64
import calendar
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from defusedxml.ElementTree import fromstring as defused_fromstring
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_TRANSIENT
from saml2.time_util import str_to_time

from gateway.config.egress_rules import EgressPolicy
from gateway.config.saml import SamlSettings
from gateway.errors import IdentityProviderUnavailable, SigninFailed
from gateway.outbound.egress import egress_session

METADATA_PATH = "/dashboard/signin/saml/metadata"
ACS_PATH = "/dashboard/signin/saml/acs"
MAX_METADATA_BYTES = 1024 * 1024
MAX_RESPONSE_CHARS = 512 * 1024
XMLSEC = "/usr/bin/xmlsec1"
# Where identity providers put the e-mail address: LDAP's `mail` (Okta, Google), the
# claim URI (Entra ID), or plain names.
EMAIL_ATTRIBUTES = (
    "mail",
    "email",
    "emailaddress",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
)
ASSERTION_TAGS = (
    "{urn:oasis:names:tc:SAML:2.0:assertion}Assertion",
    "{urn:oasis:names:tc:SAML:2.0:assertion}EncryptedAssertion",
)
ANOTHER_BROWSERS = "This sign-in was not started in this browser, or was used already; start again."
EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"


class SamlRefused(SigninFailed):
    """A SAML response that does not prove who is signing in."""


@dataclass(frozen=True, slots=True)
class SamlIdentity:
    issuer: str  # the identity provider's entity id
    subject: str  # the NameID; empty when transient (it names nobody twice)
    email: str  # lower-cased; empty when the assertion gave none
    assertion_id: str
    expires_at: float  # the assertion's NotOnOrAfter, epoch seconds

    def ttl_s(self, skew_s: int) -> int:
        """How long the assertion's id must be remembered to be used once."""
        return max(1, int(self.expires_at - time.time()) + skew_s + 1)


async def read_idp_metadata(saml: SamlSettings, egress: EgressPolicy) -> str:
    """The identity provider's metadata, from its file or its URL (the egress rules apply)."""
    if saml.idp_metadata_file:
        return await asyncio.to_thread(Path(saml.idp_metadata_file).read_text)
    timeout = aiohttp.ClientTimeout(total=10)
    try:
        async with (
            egress_session(egress, timeout=timeout) as http,
            http.get(saml.idp_metadata_url, allow_redirects=False) as r,
        ):
            body = await r.content.read(MAX_METADATA_BYTES + 1)
            if r.status != 200 or len(body) > MAX_METADATA_BYTES:
                raise IdentityProviderUnavailable(
                    f"The SAML identity provider's metadata answered {r.status}."
                )
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise IdentityProviderUnavailable(
            f"The SAML identity provider's metadata could not be read: {exc}."
        ) from exc
    return body.decode()


class SamlServiceProvider:
    def __init__(self, saml: SamlSettings, public_url: str, idp_metadata: str) -> None:
        self.saml = saml
        self.entity_id = public_url + METADATA_PATH
        self.acs_url = public_url + ACS_PATH
        self._config = SPConfig().load(self._config_dict(idp_metadata))
        self._client = Saml2Client(config=self._config)
        idps = list(self._config.metadata.identity_providers())
        if len(idps) != 1:
            raise IdentityProviderUnavailable(
                f"The SAML metadata names {len(idps)} identity providers; Meterway takes one."
            )
        self.idp_entity_id = str(idps[0])
        self._lock = threading.Lock()

    def _config_dict(self, idp_metadata: str) -> dict[str, Any]:
        acs = (self.acs_url, BINDING_HTTP_POST)
        return {
            "entityid": self.entity_id,
            "xmlsec_binary": XMLSEC,
            "metadata": {"inline": [idp_metadata]},
            "accepted_time_diff": self.saml.clock_skew_s,
            "allow_unknown_attributes": True,
            "service": {
                "sp": {
                    "endpoints": {"assertion_consumer_service": [acs]},
                    "want_assertions_signed": True,
                    "want_response_signed": False,
                    "authn_requests_signed": False,
                    # Which request a response may answer is decided in `_verify`: pysaml2's
                    # own check cannot tell an app tile's response from another browser's.
                    "allow_unsolicited": True,
                    "name_id_format_allow_create": True,
                }
            },
        }

    def metadata(self) -> str:
        """This gateway's SP metadata: entity id, assertion consumer URL, assertions signed."""
        raw = create_metadata_string(None, config=self._config)
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    def start(self, relay_state: str) -> tuple[str, str]:
        """(the AuthnRequest's id, the identity provider's URL carrying it)."""
        request_id, info = self._client.prepare_for_authenticate(
            entityid=self.idp_entity_id, relay_state=relay_state, binding=BINDING_HTTP_REDIRECT
        )
        return str(request_id), str(dict(info["headers"])["Location"])

    async def verify(self, saml_response: str, request_id: str | None) -> SamlIdentity:
        """The person a POSTed `SAMLResponse` proves; SamlRefused when it proves nobody.
        `request_id`: the request this browser sent, None when it sent none."""
        if not saml_response or len(saml_response) > MAX_RESPONSE_CHARS:
            raise SamlRefused("The identity provider's answer is missing or too large.")
        return await asyncio.to_thread(self._verify, saml_response, request_id)

    def _verify(self, saml_response: str, request_id: str | None) -> SamlIdentity:
        outstanding = {request_id: "/"} if request_id else {}
        with self._lock:
            try:
                response = self._client.parse_authn_request_response(
                    saml_response, BINDING_HTTP_POST, outstanding=outstanding
                )
            except Exception as exc:  # an attacker's document: pysaml2 raises a dozen kinds
                why = _why(exc)
                raise SamlRefused(f"The identity provider's answer was refused: {why}.") from exc
        if response is None or response.assertion is None:
            raise SamlRefused("The identity provider's answer was refused: no assertion for us.")
        answered = {response.in_response_to} | _confirmed_requests(response.assertion)
        answered -= {None, ""}
        if any(named != request_id for named in answered):
            raise SamlRefused(ANOTHER_BROWSERS)
        if not answered and not self.saml.idp_initiated:
            raise SamlRefused("Sign-in started at the identity provider is not enabled here.")
        return self._identity(response, saml_response)

    def _identity(self, response: Any, raw: str) -> SamlIdentity:
        assertion = response.assertion
        if _assertion_count(raw) != 1:
            raise SamlRefused("The identity provider's answer must hold exactly one assertion.")
        if assertion.signature is None:
            raise SamlRefused("The assertion is not signed.")
        audiences = [
            a.text
            for r in (assertion.conditions.audience_restriction if assertion.conditions else [])
            for a in r.audience
        ]
        if self.entity_id not in audiences:
            raise SamlRefused("The assertion is for another audience.")
        confirmations = assertion.subject.subject_confirmation if assertion.subject else []
        if not any(
            c.subject_confirmation_data is not None
            and c.subject_confirmation_data.recipient == self.acs_url
            for c in confirmations
        ):
            raise SamlRefused("The assertion is for another recipient.")
        name_id = response.name_id
        transient = name_id is None or name_id.format == NAMEID_FORMAT_TRANSIENT
        subject = "" if transient else str(name_id.text or "")
        return SamlIdentity(
            issuer=str(assertion.issuer.text if assertion.issuer else self.idp_entity_id),
            subject=subject.strip(),
            email=_email(response.ava or {}, name_id),
            assertion_id=str(assertion.id),
            expires_at=_not_on_or_after(assertion),
        )


def _confirmed_requests(assertion: Any) -> set[str | None]:
    """The requests the signed assertion says it answers (its subject confirmations'
    `InResponseTo`): unlike the Response's own attribute, nobody strips these unseen."""
    confirmations = assertion.subject.subject_confirmation if assertion.subject else []
    return {
        c.subject_confirmation_data.in_response_to
        for c in confirmations
        if c.subject_confirmation_data is not None
    }


def _email(ava: dict[str, list[str]], name_id: Any) -> str:
    lowered = {k.lower(): v for k, v in ava.items()}
    for name in EMAIL_ATTRIBUTES:
        values = lowered.get(name)
        if values and "@" in values[0]:
            return str(values[0]).strip().lower()
    if name_id is not None and name_id.format == EMAIL_FORMAT and "@" in (name_id.text or ""):
        return str(name_id.text).strip().lower()
    return ""


def _not_on_or_after(assertion: Any) -> float:
    """The earliest end the assertion names (its conditions, its confirmations)."""
    ends = []
    if assertion.conditions is not None and assertion.conditions.not_on_or_after:
        ends.append(assertion.conditions.not_on_or_after)
    for c in assertion.subject.subject_confirmation if assertion.subject else []:
        data = c.subject_confirmation_data
        if data is not None and data.not_on_or_after:
            ends.append(data.not_on_or_after)
    if not ends:
        raise SamlRefused("The assertion names no NotOnOrAfter.")
    return float(min(calendar.timegm(str_to_time(e)) for e in ends))


def _assertion_count(saml_response: str) -> int:
    """Assertions anywhere in the document, wrapped ones included (signature wrapping hides
    a signed one beside the one a parser reads)."""
    root = defused_fromstring(base64.b64decode(saml_response))
    return sum(1 for tag in ASSERTION_TAGS for _ in root.iter(tag))


def _why(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
