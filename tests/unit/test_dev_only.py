"""`meterway serve` runs no development-only component nobody named: the local payment
provider (which pays without money) is never a default, and each component in the table
needs its admitting setting given explicitly; `meterway dev` names what it runs itself."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.cli.dev_guard import DEV_ADMIN_KEY, DEV_ONLY, refusal
from gateway.cli.main import main
from gateway.cli.server import dev_env
from gateway.config.payments import PaymentSettings
from gateway.config.settings import load_settings

GOOD = {"DATABASE_URL": "postgresql://meterway@db/meterway", "ADMIN_API_KEY": "x" * 16}


def nothing(name: str) -> str | None:
    return None


def test_no_provider_named_is_no_provider() -> None:
    assert load_settings(GOOD).payments.provider == "none"
    assert load_settings(GOOD | {"PAYMENTS_PROVIDER": ""}).payments.provider == "none"
    assert load_settings(GOOD | {"PAYMENTS_PROVIDER": "local"}).payments.provider == "local"
    # A Stripe key alone (for usage exports) turns on no provider either.
    assert load_settings(GOOD | {"STRIPE_API_KEY": "sk_test_x"}).payments.provider == "none"


def test_meterway_dev_names_the_local_provider_itself() -> None:
    env = dev_env({})
    assert env["PAYMENTS_PROVIDER"] == "local"
    assert load_settings(env).payments.provider == "local"
    assert dev_env({"PAYMENTS_PROVIDER": "stripe"})["PAYMENTS_PROVIDER"] == "stripe"


def test_each_component_in_use_unnamed_is_refused_with_its_setting() -> None:
    base = load_settings(GOOD)
    assert refusal(base, nothing) is None
    local = replace(base, payments=PaymentSettings(provider="local"))
    line = refusal(local, nothing)
    assert line is not None and "local payment provider" in line
    assert "PAYMENTS_PROVIDER=local" in line
    assert refusal(local, {"PAYMENTS_PROVIDER": "local"}.get) is None
    clock = replace(base, test_clock=True)
    line = refusal(clock, nothing)
    assert line is not None and "MW_TEST_CLOCK=1" in line
    assert refusal(clock, {"MW_TEST_CLOCK": "1"}.get) is None


def test_the_dev_admin_key_is_never_admitted() -> None:
    dev = replace(load_settings(GOOD), admin_api_key=DEV_ADMIN_KEY)
    line = refusal(dev, {"ADMIN_API_KEY": DEV_ADMIN_KEY}.get)
    assert line is not None and "ADMIN_API_KEY" in line


def test_every_component_names_its_setting() -> None:
    for c in DEV_ONLY:
        assert c.setting.isupper() and c.what


def test_serve_names_the_component_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in GOOD.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ADMIN_API_KEY", DEV_ADMIN_KEY)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "development only" in err[0] and "ADMIN_API_KEY" in err[0]
