"""Every secret setting is scrubbed from the logs without being listed twice: the settings'
`repr=False` fields are the declaration (gateway/config/secrets.py)."""

from __future__ import annotations

import logging

import pytest

from gateway.config.secrets import declared_secrets
from gateway.config.settings import load_settings
from gateway.logs import install_log_redaction
from tests.support.harness import gateway_env

SECRETS = {
    "OIDC_ISSUER": "https://idp.example",
    "OIDC_CLIENT_ID": "meterway",
    "OIDC_CLIENT_SECRET": "plain-client-secret-1",
    "PUBLIC_URL": "https://mw.example",
}


def test_the_settings_declare_each_secret_and_a_urls_password() -> None:
    env = {
        **gateway_env("postgresql://meterway:pg-password-1@127.0.0.1/db", "http://x", "p"),
        "RECONCILE_OPENAI_ADMIN_KEY": "admin-key-of-openai-1",
        "CLICKHOUSE_URL": "http://meterway:ch-password-1@127.0.0.1:8123",
        "OPENAI_API_KEY": "upstream-key-of-openai-1",
    }
    found = declared_secrets(load_settings(env))
    for secret in (
        "admin-key-of-openai-1",
        "ch-password-1",
        "pg-password-1",
        "upstream-key-of-openai-1",
        env["ADMIN_API_KEY"],
    ):
        assert secret in found, secret
    assert "127.0.0.1" not in found and "meterway" not in found


def test_a_log_line_never_holds_a_secret_setting(caplog: pytest.LogCaptureFixture) -> None:
    env = {**gateway_env("postgresql://x@127.0.0.1/db", "http://x", "p"), **SECRETS}
    install_log_redaction(declared_secrets(load_settings(env)))
    logging.getLogger("meterway.walk").warning("the IdP said: %s", SECRETS["OIDC_CLIENT_SECRET"])
    assert "the IdP said: [redacted]" in caplog.text
    assert SECRETS["OIDC_CLIENT_SECRET"] not in caplog.text
