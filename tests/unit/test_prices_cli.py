"""`meterway prices show | check`: read the config directory and the catalogue, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli.main import main

CONFIG = Path(__file__).resolve().parents[2] / "config"


def test_check_passes_on_the_shipped_prices(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices", "check"]) == 0
    out = capsys.readouterr().out
    assert "catalogue: genai-prices" in out
    assert "models served" in out


def test_check_refuses_a_price_finer_than_a_micro(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("pricing.toml", "plans.toml"):
        (tmp_path / name).write_text((CONFIG / name).read_text())
    own = '\n[models."own"]\nprovider = "openai"\nmax_output_tokens = 8\noutput = "1"\n'
    (tmp_path / "pricing.toml").write_text(
        (CONFIG / "pricing.toml").read_text() + own + 'input = "0.0000001"\n'
    )
    monkeypatch.setenv("MW_CONFIG_DIR", str(tmp_path))
    assert main(["prices", "check"]) == 2
    assert "'own'" in capsys.readouterr().err


def test_show_names_every_rate_and_its_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices", "show", "gemini-2.5-pro"]) == 0
    out = capsys.readouterr().out
    assert "source genai-prices" in out
    assert "prompt over 200,000 input tokens" in out
    assert "2.500000 USD per 1M tokens" in out  # the long-context input rate


def test_show_of_an_unknown_model_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices", "show", "no-such-model"]) == 1
    assert "no model 'no-such-model'" in capsys.readouterr().err
