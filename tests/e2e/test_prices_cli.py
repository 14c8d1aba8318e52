"""`meterway prices diff` against a running gateway: what an install would bill differently."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

from tests.support.factories import anthropic_client, tenant
from tests.support.harness import ADMIN_KEY, Gateway

CONFIG = Path(__file__).resolve().parents[2] / "config"


async def _diff(gw: Gateway, config: Path) -> tuple[int, str]:
    env = {**os.environ, "MW_CONFIG_DIR": str(config), "METERWAY_ADMIN_KEY": ADMIN_KEY}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "prices", "diff", "--api-url", gw.url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await proc.communicate()
    return int(proc.returncode or 0), out.decode() + err.decode()


async def test_the_same_install_changes_nothing(gw: Gateway) -> None:
    code, out = await _diff(gw, CONFIG)
    assert (code, "no price would change" in out) == (0, True), out


async def test_a_changed_price_is_shown_before_it_is_served(gw: Gateway, tmp_path: Path) -> None:
    for name in ("plans.toml", "meters.toml"):
        shutil.copy(CONFIG / name, tmp_path / name)
    head = '[models."gpt-4o-mini"]\n'
    own = head + 'input = "0.20"\noutput = "0.80"\n'
    (tmp_path / "pricing.toml").write_text((CONFIG / "pricing.toml").read_text().replace(head, own))
    code, out = await _diff(gw, tmp_path)
    assert code == 3, out
    assert "~ gpt-4o-mini [default] input_mtok: 0.150000 -> 0.200000 USD per 1M tokens" in out
    assert "~ gpt-4o-mini [default] cache_read_mtok: 0.075000 -> none" in out


async def test_explain_rederives_a_debit_from_its_ledger_row(gw: Gateway) -> None:
    t = await tenant(gw, credit=10_000_000)
    gw.control.usage = {
        "input_tokens": 100,
        "cache_creation_input_tokens": 10_000,
        "cache_creation": {"ephemeral_1h_input_tokens": 10_000, "ephemeral_5m_input_tokens": 0},
        "output_tokens": 100,
    }
    hour = {"type": "ephemeral", "ttl": "1h"}
    rule = {"type": "text", "text": "rule " * 10_000, "cache_control": hour}
    async with anthropic_client(gw, t.key) as client:
        raw = await client.messages.with_raw_response.create(
            model="claude-sonnet-4-6", max_tokens=100, system=[rule],  # type: ignore[list-item]
            messages=[{"role": "user", "content": "hi"}],
        )  # fmt: skip
    await gw.settle_all()
    env = {
        **os.environ,
        "DATABASE_URL": gw.settings.database_url,
        "REDIS_URL": gw.settings.redis_url,
        "REDIS_PREFIX": gw.settings.redis_prefix,
        "ADMIN_API_KEY": ADMIN_KEY,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "prices", "explain", raw.headers["x-request-id"],
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip
    out = (await proc.communicate())[0].decode()
    assert proc.returncode == 0, out
    assert "cache_write_1h_tokens" in out and "10,000 x 6.000000 USD per 1M tokens" in out
    assert "rounded up once: 61,800 micros" in out
    assert "debited 61,800 micros" in out
