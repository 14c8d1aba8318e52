"""SAML_* settings: refused at start by name when they cannot work or would weaken the checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.saml import MAX_CLOCK_SKEW_S, SamlSettings, saml_settings
from gateway.config.values import ConfigError

PUBLIC = "https://meter.example.com"


def read(env: dict[str, str], public: str = PUBLIC) -> SamlSettings:
    return saml_settings(lambda name, default=None: env.get(name, default), public)


def test_off_unless_metadata_is_named() -> None:
    assert not read({}).enabled


def test_a_metadata_file_turns_it_on(tmp_path: Path) -> None:
    file = tmp_path / "idp.xml"
    file.write_text("<EntityDescriptor/>")
    saml = read({"SAML_IDP_METADATA_FILE": str(file)})
    assert saml.enabled and saml.clock_skew_s == 60 and not saml.idp_initiated


@pytest.mark.parametrize(
    ("env", "public", "says"),
    [
        (
            {"SAML_IDP_METADATA_URL": "https://idp/x", "SAML_IDP_METADATA_FILE": "/etc/hosts"},
            PUBLIC,
            "not both",
        ),
        ({"SAML_IDP_METADATA_FILE": "/nonexistent.xml"}, PUBLIC, "is not a file"),
        ({"SAML_IDP_METADATA_URL": "ftp://idp/x"}, PUBLIC, "SAML_IDP_METADATA_URL"),
        ({"SAML_IDP_METADATA_URL": "https://idp/x"}, "", "needs PUBLIC_URL"),
        (
            {"SAML_IDP_METADATA_URL": "https://idp/x", "SAML_CLOCK_SKEW_S": "301"},
            PUBLIC,
            f"at most {MAX_CLOCK_SKEW_S}",
        ),
    ],
)
def test_settings_that_cannot_work_fail_the_start(
    env: dict[str, str], public: str, says: str
) -> None:
    with pytest.raises(ConfigError, match=says):
        read(env, public)
