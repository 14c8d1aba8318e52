"""Settings are validated once at start-up; a bad one stops the boot with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from billing.metering.token_cache import CountCache
from billing.metering.tokens import TokenCounter
from gateway.config.settings import load_settings
from gateway.config.values import ConfigError

GOOD = {"DATABASE_URL": "postgresql://u@h/db", "ADMIN_API_KEY": "0123456789abcdef-secret"}


def test_defaults_and_overrides() -> None:
    s = load_settings({**GOOD, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1/"})
    assert (s.listen_host, s.listen_port) == ("0.0.0.0", 8080)
    assert s.providers["openai"].base_url == "http://127.0.0.1:9/v1"
    assert s.providers["anthropic"].wire == "anthropic"
    assert "0123456789abcdef" not in repr(s)
    assert "postgresql://u@h/db" not in repr(s)


def test_toml_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    cfg = tmp_path / "meterway.toml"
    cfg.write_text(
        '[gateway]\nlisten_addr = "127.0.0.1:9000"\nmax_body_bytes = 2048\n'
        '[providers.openai]\nbase_url = "http://a.example/v1"\napi_key = "sk-file"\n'
    )
    s = load_settings({**GOOD, "OPENAI_API_KEY": "sk-env"}, cfg)
    assert s.listen_port == 9000 and s.max_body_bytes == 2048
    assert s.providers["openai"].base_url == "http://a.example/v1"
    assert s.providers["openai"].api_key == "sk-env"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"ADMIN_API_KEY": ""}, "ADMIN_API_KEY"),
        ({"ADMIN_API_KEY": "changeme"}, "ADMIN_API_KEY"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"LISTEN_ADDR": "localhost"}, "LISTEN_ADDR"),
        ({"LISTEN_ADDR": "0.0.0.0:70000"}, "LISTEN_ADDR"),
        ({"UPSTREAM_TIMEOUT_S": "soon"}, "UPSTREAM_TIMEOUT_S"),
        ({"OPENAI_BASE_URL": "ftp://x"}, "OPENAI_BASE_URL"),
        ({"MW_CONFIG_DIR": "/nonexistent"}, "MW_CONFIG_DIR"),
        ({"QUOTA_TIMEZONE": "Mars/Olympus"}, "QUOTA_TIMEZONE"),
        ({"TOKEN_COUNT_CACHE_CHARS": "-1"}, "TOKEN_COUNT_CACHE_CHARS"),
        ({"SETTLEMENT_MESSAGES": "json"}, "SETTLEMENT_MESSAGES must be one of packed, named"),
        # The rate source obeys the egress rules: no metadata service, no internal address.
        ({"FX_RATES_URL": "http://169.254.169.254/latest/"}, "FX_RATES_URL"),
        ({"FX_RATES_URL": "https://metadata.google.internal/x"}, "metadata service"),
        ({"FX_RATES_URL": "https://10.0.0.5/eurofxref-daily.xml"}, "FX_RATES_URL"),
    ],
)
def test_invalid_settings_are_refused(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_settings({**GOOD, **env})


def _one_line_refusal(env: dict[str, str], fragment: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin", **env},
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("meterway: configuration error:"), lines
    assert fragment in lines[0]


def test_cli_prints_one_line_and_exits_2() -> None:
    _one_line_refusal({"DATABASE_URL": "nope"}, "")


def test_unknown_quota_timezone_is_one_line() -> None:
    _one_line_refusal({**GOOD, "QUOTA_TIMEZONE": "Mars/Olympus"}, "QUOTA_TIMEZONE")


def test_price_finer_than_a_micro_is_one_line(tmp_path: Path) -> None:
    config = Path(__file__).resolve().parents[2] / "config"
    for name in ("pricing.toml", "plans.toml"):
        (tmp_path / name).write_text((config / name).read_text())
    pricing = tmp_path / "pricing.toml"
    own = '[models."own"]\nprovider = "openai"\nmax_output_tokens = 8\noutput = "1"\n'
    pricing.write_text(pricing.read_text() + own + 'input = "2.5000001"\n')
    _one_line_refusal({**GOOD, "MW_CONFIG_DIR": str(tmp_path)}, "micro-dollar")


def test_the_token_count_cache_is_sized_or_off() -> None:
    assert load_settings(GOOD).token_count_cache_chars == 8_000_000
    off = load_settings({**GOOD, "TOKEN_COUNT_CACHE_CHARS": "0"}).token_count_cache_chars
    counter = TokenCounter(CountCache(off)).for_account("acct_a")
    for _ in range(2):
        counter.count_text("o200k_base", "kept nowhere " * 100)
    assert (counter.cache.hits, counter.cache.misses, counter.cache.held_chars) == (0, 0, 0)


def test_redis_cluster_seeds_from_either_spelling() -> None:
    listed = load_settings({**GOOD, "REDIS_CLUSTER_URLS": "redis://10.0.0.1:7000, 10.0.0.2"})
    assert listed.redis_cluster == ("redis://10.0.0.1:7000", "redis://10.0.0.2:6379")
    assert listed.redis_url == "redis://10.0.0.1:7000"
    url = load_settings({**GOOD, "REDIS_URL": "redis+cluster://u:pw@h1:7000,h2:7001/0"})
    assert url.redis_cluster == ("redis://u:pw@h1:7000", "redis://u:pw@h2:7001")
    assert "pw" not in repr(url)
    assert load_settings(GOOD).redis_cluster == ()


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"REDIS_CLUSTER_URLS": "redis://h:7000/2"}, "only database 0"),
        ({"REDIS_CLUSTER_URLS": "rediss://h:7000"}, "seed node"),
        ({"REDIS_CLUSTER_URLS": " , "}, "names no seed node"),
        ({"REDIS_URL": "redis+cluster://h:notaport"}, "bad port"),
    ],
)
def test_bad_redis_cluster_settings_stop_the_boot(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_settings({**GOOD, **env})


def test_settlements_are_queued_packed_unless_a_rolling_upgrade_asks_for_named() -> None:
    assert load_settings(GOOD).settlement_messages == "packed"
    assert load_settings({**GOOD, "SETTLEMENT_MESSAGES": "Named"}).settlement_messages == "named"


@pytest.mark.parametrize("value", ["1.5", "1e6", "lots"])
def test_money_settings_are_whole_micros(value: str) -> None:
    """Amounts never pass through a float: '1.5' was truncated to 1 and '1e6' accepted."""
    with pytest.raises(ConfigError, match="TOPUP_MAX_MICROS"):
        load_settings({**GOOD, "TOPUP_MAX_MICROS": value})


def test_a_large_money_setting_keeps_every_micro() -> None:
    s = load_settings({**GOOD, "TOPUP_MAX_MICROS": "9007199254740993"})
    assert s.payments.topup_max_micros == 9007199254740993


@pytest.mark.parametrize(
    "name", ["UPSTREAM_TIMEOUT_S", "DRAIN_TIMEOUT_S", "HOLD_REFRESH_S", "CLIENT_BODY_TIMEOUT_S"]
)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400"])
def test_durations_are_finite(name: str, value: str) -> None:
    """float() reads these: a NaN passed the minimum, and UPSTREAM_TIMEOUT_S=inf was accepted
    here only to stop the start with a traceback from the hot store's reservation deadline."""
    with pytest.raises(ConfigError, match=f"{name} must be a finite number"):
        load_settings({**GOOD, name: value})


@pytest.mark.parametrize(
    "name",
    [
        "WORKERS",
        "SETTLER_LANES",
        "MAX_BODY_BYTES",
        "MAX_CONNECTIONS",
        "MAX_SSE_EVENT_BYTES",
        "TOKEN_COUNT_CACHE_CHARS",
        "KEY_ROTATION_GRACE_S",
        "JWT_LEEWAY_S",
        "PAYMENT_GRACE_DAYS",
    ],
)
@pytest.mark.parametrize("value", ["2048.5", "4e6", "inf", "nan", "lots"])
def test_counts_and_sizes_are_whole_numbers(name: str, value: str) -> None:
    """Read through float() and int(), WORKERS=2.5 was quietly two workers,
    PAYMENT_GRACE_DAYS=0.5 no grace at all, and WORKERS=inf a traceback instead of a line."""
    with pytest.raises(ConfigError, match=f"{name} must be a whole number"):
        load_settings({**GOOD, name: value})


def test_whole_numbers_keep_their_value() -> None:
    s = load_settings(
        {**GOOD, "WORKERS": " 3 ", "PAYMENT_GRACE_DAYS": "0", "MAX_BODY_BYTES": "2048"}
    )
    assert (s.workers, s.payments.grace_days, s.max_body_bytes) == (3, 0, 2048)


def test_an_infinite_worker_count_is_one_line() -> None:
    _one_line_refusal({**GOOD, "WORKERS": "inf"}, "WORKERS must be a whole number")
