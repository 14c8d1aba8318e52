"""The SAML service provider a gateway with SAML_IDP_METADATA_URL (or _FILE) keeps, made on
first use. pysaml2 takes most of a second to import (its XML schemas): only a sign-in by SAML
pays that, not the start of every gateway and every `meterway` command."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from gateway.config.egress_rules import EgressPolicy
from gateway.config.saml import SamlSettings

if TYPE_CHECKING:
    from gateway.outbound.sign_in.saml_sp import SamlServiceProvider


class SamlSignin:
    """The service provider, made on first use from the identity provider's metadata (a
    provider down at boot does not stop it; a later sign-in tries again) and then kept."""

    def __init__(self, saml: SamlSettings, public_url: str, egress: EgressPolicy) -> None:
        self.saml, self.public_url, self.egress = saml, public_url, egress
        self._provider: SamlServiceProvider | None = None
        self._lock = asyncio.Lock()

    async def provider(self) -> SamlServiceProvider:
        if self._provider is None:
            async with self._lock:
                if self._provider is None:
                    from gateway.outbound.sign_in import saml_sp

                    metadata = await saml_sp.read_idp_metadata(self.saml, self.egress)
                    self._provider = saml_sp.SamlServiceProvider(
                        self.saml, self.public_url, metadata
                    )
        return self._provider
