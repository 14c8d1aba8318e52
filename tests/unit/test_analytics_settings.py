"""CLICKHOUSE_* read once at start-up: credentials out of the URL (and out of repr), a
database name that is a plain name, off when no URL is set."""

from __future__ import annotations

import pytest

from gateway.config.analytics import analytics_settings
from gateway.config.values import ConfigError


def test_the_url_gives_up_its_credentials_and_repr_keeps_the_password() -> None:
    env = {"CLICKHOUSE_URL": "https://mw:s%40cret@ch.internal:8443/", "CLICKHOUSE_DATABASE": "mw"}
    got = analytics_settings(env.get)
    assert (got.url, got.user, got.password, got.database, got.enabled) == (
        "https://ch.internal:8443", "mw", "s@cret", "mw", True,
    )  # fmt: skip
    assert "s@cret" not in repr(got)


def test_off_without_a_url_and_refused_names_by_name() -> None:
    assert not analytics_settings({}.get).enabled
    for env in ({"CLICKHOUSE_DATABASE": "mw; DROP"}, {"CLICKHOUSE_URL": "ftp://x"}):
        with pytest.raises(ConfigError, match="CLICKHOUSE_"):
            analytics_settings(env.get)


def test_a_reports_read_timeout_is_its_own_and_short() -> None:
    assert analytics_settings({}.get).read_timeout_s == 2.0
    got = analytics_settings(
        {"CLICKHOUSE_URL": "http://ch:8123", "CLICKHOUSE_READ_TIMEOUT_S": "0.5"}.get
    )
    assert (got.read_timeout_s, got.timeout_s) == (0.5, 30.0)
    with pytest.raises(ConfigError, match="CLICKHOUSE_READ_TIMEOUT_S"):
        analytics_settings({"CLICKHOUSE_READ_TIMEOUT_S": "0"}.get)
