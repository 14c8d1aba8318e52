"""SAML 2.0 sign-in (SAML_*), read once at start-up with the other settings
(gateway/config/settings.py holds them as `settings.saml`); off unless the identity
provider's metadata is named."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gateway.config import values as v
from gateway.config.values import ConfigError

# An assertion's NotBefore/NotOnOrAfter are checked with this much leeway either way, and no
# more: a wide window lets a captured assertion live on (SAML_CLOCK_SKEW_S).
MAX_CLOCK_SKEW_S = 300


@dataclass(frozen=True)
class SamlSettings:
    idp_metadata_url: str = ""  # fetched at start (egress rules apply), or:
    idp_metadata_file: str = ""
    display_name: str = "SAML single sign-on"  # the sign-in page's button
    clock_skew_s: int = 60
    idp_initiated: bool = False  # responses no sign-in of ours asked for (an IdP's app tile)

    @property
    def enabled(self) -> bool:
        return bool(self.idp_metadata_url or self.idp_metadata_file)


def saml_settings(get: Callable[..., object], public_url: str) -> SamlSettings:
    url = str(get("SAML_IDP_METADATA_URL", "") or "")
    file = str(get("SAML_IDP_METADATA_FILE", "") or "")
    if url and file:
        raise ConfigError("Set SAML_IDP_METADATA_URL or SAML_IDP_METADATA_FILE, not both")
    if url:
        v.url("SAML_IDP_METADATA_URL", url, ("http", "https"))
    if file and not Path(file).is_file():
        raise ConfigError(f"SAML_IDP_METADATA_FILE {file} is not a file")
    if (url or file) and not public_url:
        raise ConfigError("SAML sign-in needs PUBLIC_URL: the identity provider posts to it")
    skew = v.whole("SAML_CLOCK_SKEW_S", get("SAML_CLOCK_SKEW_S", 60), 0)
    if skew > MAX_CLOCK_SKEW_S:
        raise ConfigError(f"SAML_CLOCK_SKEW_S is at most {MAX_CLOCK_SKEW_S} seconds")
    return SamlSettings(
        idp_metadata_url=url,
        idp_metadata_file=file,
        display_name=str(get("SAML_DISPLAY_NAME", "SAML single sign-on")),
        clock_skew_s=skew,
        idp_initiated=v.flag(get("SAML_IDP_INITIATED", "0")),
    )
