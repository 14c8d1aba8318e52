"""JWT sign-in settings: an explicit algorithm allow-list, each family with its own key."""

from __future__ import annotations

import pytest

from gateway.config.settings import load_settings
from gateway.config.values import ConfigError

GOOD = {"DATABASE_URL": "postgresql://u@h/db", "ADMIN_API_KEY": "0123456789abcdef-secret"}
IDP = {"JWT_AUDIENCE": "https://api", "JWT_ISSUER": "https://idp/"}
SECRET = "x" * 40


def test_off_by_default() -> None:
    assert not load_settings(GOOD).jwt.enabled


def test_defaults_follow_the_keys_configured() -> None:
    hs = load_settings({**GOOD, **IDP, "JWT_SECRET": SECRET}).jwt
    assert hs.algorithms == ("HS256",) and hs.leeway_s == 30
    assert SECRET not in repr(hs)
    both = load_settings({**GOOD, **IDP, "JWT_SECRET": SECRET, "JWT_JWKS_URL": "https://idp/k"})
    assert both.jwt.algorithms == ("HS256", "RS256", "ES256")
    assert both.jwt.account_claim == "account_id"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JWT_SECRET": SECRET, "JWT_ALGORITHMS": "none"}, "'none' is not allowed"),
        ({"JWT_SECRET": SECRET, "JWT_ALGORITHMS": "HS256,None"}, "is not allowed"),
        ({"JWT_SECRET": "short"}, "JWT_SECRET must be at least 32"),
        ({"JWT_ALGORITHMS": "RS256"}, "JWT_JWKS_URL is required"),
        ({"JWT_JWKS_URL": "https://idp/k", "JWT_ALGORITHMS": "HS256"}, "JWT_SECRET must be"),
        ({"JWT_JWKS_URL": "ftp://idp/k"}, "JWT_JWKS_URL must be a http/https URL"),
    ],
)
def test_bad_settings_stop_the_boot(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({**GOOD, **IDP, **env})


def test_audience_and_issuer_are_required_once_on() -> None:
    with pytest.raises(ConfigError, match="JWT_AUDIENCE and JWT_ISSUER"):
        load_settings({**GOOD, "JWT_SECRET": SECRET})
