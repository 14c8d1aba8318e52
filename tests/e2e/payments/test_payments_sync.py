"""`meterway payments replay` and `reconcile` with the local provider: webhooks that never
arrived are found by reconcile and applied by replay exactly once; credits the provider does
not know are reported; both are safe to run again."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from billing.dates import human
from gateway.http.appkeys import PAYMENTS
from gateway.payments.local import LocalProvider
from gateway.services.money.payment.events import apply_payment
from gateway.services.money.payment.port import PaymentState
from tests.support.billing_client import biller, books_balance, credits, payments_cli
from tests.support.harness import Gateway


async def test_lost_events_are_reconciled_and_replayed_once(
    gw: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    since = datetime.now(UTC).isoformat()
    b = await biller(gw)
    await b.topup(4_000_000)
    code, out = await payments_cli(gw, capsys, "reconcile", "--since", since)
    assert (code, out[-1].split(":")[0]) == (0, "the ledger matches"), out
    paid = (await credits(gw, b.t.account_id))[0]["idempotency_key"]

    # The provider charges and refunds, and the gateway hears nothing of it.
    await b.save_card()
    provider = gw.app[PAYMENTS].provider
    assert isinstance(provider, LocalProvider)
    customer = (await gw.app[PAYMENTS].profile(b.t.account_id)).customer_id
    lost = await provider.charge_saved_method(b.t.account_id, customer, 3_000_000, "lost-1")
    assert lost.status == "succeeded"
    (refunded,) = await provider.refund_payment(paid)
    assert await books_balance(gw, b.t.account_id) == 4_000_000

    code, out = await payments_cli(gw, capsys, "reconcile", "--since", since)
    assert code == 1
    assert sorted(out[:-1]) == sorted(
        [
            f"missing in ledger: payment {lost.id} account {b.t.account_id}"
            " provider $3.000000 ledger -",
            f"missing in ledger: refund {refunded.object_id} account {b.t.account_id}"
            " provider -$4.000000 ledger -",
        ]
    )
    assert out[-1].startswith("2 difference(s): local payments and refunds since")

    code, out = await payments_cli(gw, capsys, "replay", "--since", since)
    assert code == 0, out
    # "26 Nov 2026 15:51 UTC  evt_1 payment.succeeded pi_1: credited": the time, then the event
    outcomes = {line.split("  ", 1)[1].split()[0]: line.rsplit(": ", 1)[1] for line in out[:-1]}
    assert "credited" in outcomes.values() and "refunded" in outcomes.values()
    assert re.fullmatch(
        r"\d+ event\(s\) from local since .*: 2 applied now, \d+ ignored, \d+ already applied,"
        r" 0 failed",
        out[-1],
    ), out[-1]
    code, again = await payments_cli(gw, capsys, "replay", "--since", since)
    assert code == 0 and all(line.endswith(": already applied") for line in again[:-1])
    assert len(again) == len(out)
    assert [r["amount_micros"] for r in await credits(gw, b.t.account_id)] == [
        4_000_000,
        3_000_000,
    ]
    assert [r["amount_micros"] for r in await credits(gw, b.t.account_id, "refund")] == [-4_000_000]
    assert await books_balance(gw, b.t.account_id) == 3_000_000
    code, out = await payments_cli(gw, capsys, "reconcile", "--since", since)
    matches = f"the ledger matches: local payments and refunds since {human(since)}"
    assert code == 0 and out == [matches]


async def test_a_credit_the_provider_does_not_know_is_reported(
    gw: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    since = datetime.now(UTC).isoformat()
    b = await biller(gw)
    await b.topup(2_000_000)
    ghost = PaymentState("pi_local_ghost", b.t.account_id, "topup", 1_000_000, "succeeded")
    assert await apply_payment(gw.app[PAYMENTS], ghost, None) == "credited"
    code, out = await payments_cli(gw, capsys, "reconcile", "--since", since)
    assert code == 1
    assert out[:-1] == [
        f"unknown to provider: payment pi_local_ghost account {b.t.account_id}"
        " provider - ledger $1.000000"
    ]
    assert await books_balance(gw, b.t.account_id) == 3_000_000


async def test_replay_does_not_count_ignored_events_as_applied(
    gw: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    since = datetime.now(UTC).isoformat()
    provider = gw.app[PAYMENTS].provider
    assert isinstance(provider, LocalProvider)
    for n in range(4):
        await provider.emit("customer.created", f"cus_local_ignored_{n}")
    code, out = await payments_cli(gw, capsys, "replay", "--since", since)
    assert code == 0, out
    assert [line.rsplit(": ", 1)[1] for line in out[:-1]] == ["ignored"] * 4
    assert out[-1].endswith(": 0 applied now, 4 ignored, 0 already applied, 0 failed"), out[-1]
