"""The ledger bench's table says how many rows it measured: with --reuse it measures the
database already loaded, whose size --rows (default 10,000,000) does not say (issue 70)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys


def _bench(database: str, *args: str) -> str:
    env = {**os.environ, "MW_LEDGER_SCALE_DATABASE": database}
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.ledger_scale", "--runs", "1", *args],
        env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    return done.stdout


def test_the_header_counts_the_rows_measured_when_reusing_a_database() -> None:
    database = f"mwtest_bench_{secrets.token_hex(4)}"
    assert "| Read (3,000 rows, 1 runs)" in _bench(database, "--rows", "3000", "--keep")
    assert "| Read (3,000 rows, 1 runs)" in _bench(database, "--reuse")  # drops it after
