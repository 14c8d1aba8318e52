"""`meterway admin commitment*` as an operator runs them (docs/guides/commitments.md)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.cli.test_cli_billing import login, meterway
from tests.support.factories import tenant
from tests.support.harness import ADMIN_KEY, Gateway


async def test_an_operator_sets_reads_and_ends_a_commitment(gw: Gateway, tmp_path: Path) -> None:
    t = await tenant(gw)
    login(tmp_path, ADMIN_KEY, "admin-key")
    run = await meterway(gw, tmp_path, "admin", "commitment", t.account_id)
    assert run.code == 0 and "no commitment" in run.out, run
    run = await meterway(
        gw, tmp_path, "admin", "commitment-set", t.account_id, "--period", "quarter",
        "--amount-micros", "5000000", "--discount-bps", "1000", "--on-exhausted", "refuse",
    )  # fmt: skip
    assert run.code == 0, run
    assert "5000000 micros a quarter (prepaid), 10% off, then refuse" in run.out, run
    assert "drew 0 of 5000000 micros" in run.out, run
    run = await meterway(gw, tmp_path, "admin", "commitment-end", t.account_id)
    assert run.code == 0 and "ends " in run.out, run
    run = await meterway(gw, tmp_path, "admin", "commitment-set", t.account_id, "--period", "week",
                         "--amount-micros", "1")  # fmt: skip
    assert run.code != 0 and "week" in run.err, run
