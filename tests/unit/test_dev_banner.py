"""`meterway dev`: its banner leads to the dashboard, and its demo key may sign into it."""

from __future__ import annotations

from gateway.config.settings import load_settings
from gateway.devtools.dev import DEMO_KEY, _banner

ENV = {"DATABASE_URL": "postgresql://x@127.0.0.1/db", "ADMIN_API_KEY": "a-secret-of-sixteen"}


def test_the_banner_names_the_dashboard_and_the_operator_key() -> None:
    text = _banner(load_settings(ENV), "mw-demo")
    assert "http://127.0.0.1:8080/dashboard (sign in with the demo key)" in text
    assert "operator key: a-secret-of-sixteen" in text


def test_the_demo_key_holds_the_dashboards_scope() -> None:
    assert "billing" in DEMO_KEY.scopes
    assert {"chat", "messages"} <= set(DEMO_KEY.scopes)
