"""A SAML 2.0 identity provider for the sign-in tests: pysaml2's `Server` behind a local
aiohttp server, speaking the real bindings (the AuthnRequest by redirect, the response as
the auto-posting form browsers get).

It signs assertions with a key made for the run. Whoever it "logs in" is `idp.user` (no
login page: the tests are about what the gateway accepts, not the provider's UI). The tests
also use it to mint responses by hand (`response()`), the raw material of the attacks.
"""

from __future__ import annotations

import base64
import datetime
import html
import re
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server

from tests.support.certs import self_signed
from tests.support.harness import listening_socket, port_of, serving

PASSWORD = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
FORM_FIELD = re.compile(r'name="(SAMLResponse|RelayState)" value="([^"]*)"')
FORM_ACTION = re.compile(r'action="([^"]+)"')


def _key_pair(folder: Path) -> tuple[str, str]:
    """(key file, certificate file) the IdP signs with, made for the run."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert, private = self_signed(folder, "test-idp", key, datetime.timedelta(days=1))
    return str(private), str(cert)


@dataclass
class SamlIdp:
    url: str
    folder: Path
    user: str = "ann@example.com"
    persistent: str = ""  # set: the NameID is this persistent id, the address only `mail`
    lifetime: dict[str, int] = field(default_factory=lambda: {"minutes": 5})
    _sp_metadata: str = ""
    _keys: tuple[str, str] = ("", "")

    @property
    def entity_id(self) -> str:
        return f"{self.url}/metadata"

    @property
    def metadata_file(self) -> str:
        return str(self.folder / "idp-metadata.xml")

    def _config(self) -> dict[str, Any]:
        policy = {"lifetime": self.lifetime, "attribute_restrictions": None}
        return {
            "entityid": self.entity_id,
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [(f"{self.url}/sso", BINDING_HTTP_REDIRECT)]
                    },
                    "name_id_format": [NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_PERSISTENT],
                    "policy": {"default": policy},
                }
            },
            "key_file": self._keys[0],
            "cert_file": self._keys[1],
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "metadata": {"inline": [self._sp_metadata]} if self._sp_metadata else {},
        }

    def server(self) -> Server:
        return Server(config=IdPConfig().load(self._config()))

    def metadata(self) -> str:
        raw = create_metadata_string(None, config=IdPConfig().load(self._config()))
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def learn_sp(self, sp_metadata_url: str) -> None:
        """The gateway's SP metadata, read from its URL (as an administrator pastes it)."""
        async with aiohttp.ClientSession() as http, http.get(sp_metadata_url) as r:
            assert r.status == 200, await r.text()
            self._sp_metadata = await r.text()

    def response(
        self,
        *,
        in_response_to: str | None,
        acs: str,
        audience: str,
        user: str | None = None,
        sign_assertion: bool = True,
        sign_response: bool = False,
    ) -> str:
        """A response's XML, as pysaml2 signs it."""
        who = user or self.user
        made = self.server().create_authn_response(
            {"mail": [who]},
            in_response_to=in_response_to,
            destination=acs,
            sp_entity_id=audience,
            name_id=(
                NameID(format=NAMEID_FORMAT_PERSISTENT, text=self.persistent)
                if self.persistent
                else NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=who)
            ),
            sign_assertion=sign_assertion,
            sign_response=sign_response,
            userid=who,
            authn={"class_ref": PASSWORD, "authn_auth": self.entity_id},
        )
        return str(made)

    async def _sso(self, request: web.Request) -> web.Response:
        server = self.server()
        parsed = server.parse_authn_request(request.query["SAMLRequest"], BINDING_HTTP_REDIRECT)
        acs = parsed.message.assertion_consumer_service_url
        xml = self.response(
            in_response_to=parsed.message.id, acs=acs, audience=parsed.message.issuer.text
        )
        return web.Response(
            text=post_form(acs, encode(xml), request.query.get("RelayState", "")),
            content_type="text/html",
        )

    async def _metadata(self, request: web.Request) -> web.Response:
        return web.Response(text=self.metadata(), content_type="application/samlmetadata+xml")


def encode(xml: str) -> str:
    return base64.b64encode(xml.encode()).decode()


def post_form(action: str, saml_response: str, relay_state: str) -> str:
    """The HTML form of the POST binding, as identity providers send it."""
    relay = (
        f'<input type="hidden" name="RelayState" value="{html.escape(relay_state)}"/>'
        if relay_state
        else ""
    )
    return (
        '<html><body onload="document.forms[0].submit()">'
        f'<form method="post" action="{html.escape(action)}">'
        f'<input type="hidden" name="SAMLResponse" value="{saml_response}"/>{relay}'
        "</form></body></html>"
    )


def read_form(page: str) -> tuple[str, dict[str, str]]:
    """(the form's action, its hidden fields) from a POST-binding page."""
    action = FORM_ACTION.search(page)
    assert action is not None, page
    return html.unescape(action.group(1)), {
        k: html.unescape(v) for k, v in FORM_FIELD.findall(page)
    }


@asynccontextmanager
async def saml_idp() -> AsyncIterator[SamlIdp]:
    """The provider on a free port; its metadata also in a file (SAML_IDP_METADATA_FILE)."""
    sock = listening_socket()
    with tempfile.TemporaryDirectory() as folder:
        idp = SamlIdp(f"http://127.0.0.1:{port_of(sock)}", Path(folder))
        idp._keys = _key_pair(idp.folder)
        (idp.folder / "idp-metadata.xml").write_text(idp.metadata())
        app = web.Application()
        app.router.add_get("/sso", idp._sso)
        app.router.add_get("/metadata", idp._metadata)
        async with serving(app, sock):
            yield idp


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
