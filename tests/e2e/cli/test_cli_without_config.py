"""`meterway` commands that do not read the pricing table run without `--config` when
pricing.toml names an upstream only the config file defines (`[providers.NAME]`); those that
price calls still need it, and say so: `serve`, and `prices show`/`check`, which read it."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.support.harness import ADMIN_KEY, REDIS_URL, config_dir_with, temp_database
from tests.unit.test_added_providers import HOUSE

VLLM = '[providers.vllm]\nbase_url = "http://127.0.0.1:9/v1"\napi_key = "vllm-key"\n'


async def _meterway(dsn: str, config_dir: Path, *args: str) -> tuple[int, str]:
    env = {
        **os.environ, "DATABASE_URL": dsn, "REDIS_URL": REDIS_URL, "ADMIN_API_KEY": ADMIN_KEY,
        "MW_CONFIG_DIR": str(config_dir),
    }  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out = (await proc.communicate())[0].decode()
    return int(proc.returncode or 0), out


async def test_commands_that_price_nothing_need_no_config_file(tmp_path: Path) -> None:
    config_dir = config_dir_with(tmp_path, pricing=HOUSE)  # house-llama on provider vllm
    config = tmp_path / "meterway.toml"
    config.write_text(VLLM)
    async with temp_database() as dsn:
        code, out = await _meterway(dsn, config_dir, "migrate")
        assert (code, out.strip()) == (0, "database is up to date"), out
        code, out = await _meterway(dsn, config_dir, "ledger", "partitions", "--ahead", "1")
        assert code == 0, out
        code, out = await _meterway(dsn, config_dir, "serve")  # it prices calls
        assert code == 2 and "unknown provider 'vllm'" in out, out
    # What prices calls reads the table, so it needs the file that names the upstream:
    code, out = await _meterway(dsn, config_dir, "prices", "show", "house-llama")
    assert code == 2 and "unknown provider 'vllm'" in out, out
    code, out = await _meterway(dsn, config_dir, "--config", str(config), "prices", "check")
    assert code == 0, out
    code, out = await _meterway(dsn, config_dir, "--config", str(config), "prices", "show",
                                "house-llama")  # fmt: skip
    assert code == 0 and "house-llama" in out, out
