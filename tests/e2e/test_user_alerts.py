"""Alerts people set on their own account (issue 38, item 5): balance below and spend above,
to their own e-mail address (a real SMTP server) and webhook (signed with the alert's own
secret), with words a person reads; the operator's targets get none of them."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from gateway.cli.main import main as cli
from tests.e2e.test_notify_smtp import TO, mailing_gateway
from tests.support.dashboard_client import CSRF, page, sign_in
from tests.support.factories import tenant
from tests.support.fakes.webhook_sink import webhook_sink
from tests.support.harness import LOCAL_SINKS, Gateway
from tests.support.metering_client import event, service

ME = "me@people.test"
SCOPES = ["chat", "account:read", "billing"]


async def call(gw: Gateway, key: str, method: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {key}"}
    async with gw.http.request(method, gw.url + path, json=body, headers=headers) as r:
        return r.status, await r.json()


async def spend(gw: Gateway, account_id: str, calls: int) -> None:
    svc = await service(gw, "api_calls")  # 1,000 micros a call
    _, body = await svc.events([event(account_id, "api_calls", calls, f"spend-{calls}")])
    assert body["debited"] == 1, body
    await gw.settle_all()


async def until(check: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "nothing arrived"
        await asyncio.sleep(0.05)


def mails_to(box: Any, to: str) -> list[EmailMessage]:
    return [m for m in box.messages if m["To"] == to]


async def test_alerts_are_validated_listed_and_deleted(dsn: str, tmp_path: Path) -> None:
    # h.test (a name that resolves nowhere) is admitted on purpose: the dashboard's webhook
    # form is what this test is about, not the egress rules (test_egress_alerts.py).
    async with mailing_gateway(dsn, EGRESS_ALLOW_HOSTS="h.test") as (gw, _):
        t = await tenant(gw, scopes=SCOPES)
        bad = {"kind": "spend_above", "amount_micros": 5_000_000, "email": ME}
        status, body = await call(gw, t.key, "POST", "/v1/account/alerts", bad)
        assert status == 400 and body["error"]["param"] == "period"
        no_target = {"kind": "balance_below", "amount_micros": 1}
        status, body = await call(gw, t.key, "POST", "/v1/account/alerts", no_target)
        assert status == 400 and body["error"]["param"] == "email"
        for hostile in ({"email": "me\x00@people.test"}, {"webhook_url": "http://["}):
            body = {"kind": "balance_below", "amount_micros": 1} | hostile
            status, refused = await call(gw, t.key, "POST", "/v1/account/alerts", body)
            assert status == 400 and refused["error"]["param"] in hostile, refused
        good = {"kind": "balance_below", "amount_micros": 1_000_000, "email": ME}
        status, made = await call(gw, t.key, "POST", "/v1/account/alerts", good)
        assert status == 201 and "webhook_secret" not in made
        status, listed = await call(gw, t.key, "GET", "/v1/account/alerts")
        assert [a["id"] for a in listed["data"]] == [made["id"]]
        other = await tenant(gw, scopes=SCOPES)
        status, _ = await call(gw, other.key, "DELETE", f"/v1/account/alerts/{made['id']}")
        assert status == 404  # never another account's
        status, gone = await call(gw, t.key, "DELETE", f"/v1/account/alerts/{made['id']}")
        assert status == 200 and gone["deleted"] is True
        await the_cli_manages_them(gw, t.key, tmp_path)
        await the_dashboard_manages_them(gw, t.key)


async def the_dashboard_manages_them(gw: Gateway, key: str) -> None:
    http, _, _ = await sign_in(gw, key)
    async with http:
        _, html = await page(http, gw, "/dashboard/billing")
        found = CSRF.search(html)
        assert found is not None and 'id="alert-add"' in html
        form = {"csrf": found.group(1), "kind": "balance_below", "amount": "2.50", "email": ME}
        async with http.post(gw.url + "/dashboard/billing/alert-add", data=form) as r:
            assert r.status == 200 and r.url.query.get("notice") == "alert"
            html = await r.text()
        assert f"Balance below $2.50, to {ME}" in html
        alert_id = re.search(r'data-alert-id="([^"]+)"', html)
        assert alert_id is not None
        hook = form | {"kind": "spend_above", "period": "day", "webhook_url": "https://h.test/x"}
        del hook["email"]
        async with http.post(gw.url + "/dashboard/billing/alert-add", data=hook) as r:
            secret = re.search(r'id="alert-secret">(whsec_[0-9a-f]+)<', await r.text())
        assert secret is not None  # shown once, on the answer to the form
        gone = {"csrf": form["csrf"], "alert_id": alert_id.group(1)}
        async with http.post(gw.url + "/dashboard/billing/alert-remove", data=gone) as r:
            html = await r.text()
        assert "Balance below $2.50" not in html and "Spend above $2.50 a day" in html


async def the_cli_manages_them(gw: Gateway, key: str, tmp: Path) -> None:
    token, out = tmp / "token", tmp / "out.txt"
    token.write_text(key)

    async def run(*argv: str) -> tuple[int, str]:
        common = ["--api-url", gw.url, "--token-file", str(token), "--output", str(out)]
        code = await asyncio.to_thread(cli, ["billing", *argv, *common])
        return code, out.read_text()

    code, text = await run("alert-add", "--spend-above", "25", "--period", "day", "--email", ME)
    assert code == 0 and f"spend above $25.00 a day  to {ME}" in text, text
    alert_id = text.split()[1]
    code, text = await run("alerts")
    assert code == 0 and text.startswith("ALERT  ") and text.splitlines()[1].startswith(alert_id)
    assert (await run("alert-remove", alert_id))[0] == 0
    assert (await run("alerts"))[1] == "no alerts\n"


async def test_balance_below_reaches_the_persons_own_address_in_words(dsn: str) -> None:
    async with mailing_gateway(dsn) as (gw, box):
        t = await tenant(gw, credit=2_000_000, scopes=SCOPES)
        alert = {"kind": "balance_below", "amount_micros": 1_000_000, "email": ME}
        assert (await call(gw, t.key, "POST", "/v1/account/alerts", alert))[0] == 201
        await spend(gw, t.account_id, 1_600)  # 2,000,000 -> 400,000
        await until(lambda: bool(mails_to(box, ME)))
        await asyncio.sleep(0.5)  # five more notifier rounds: it fires once
        [mail] = mails_to(box, ME)
        assert mail["Subject"] == f"[meterway] Your balance is low ({t.account_id})"
        text = mail.get_body(("plain",))
        html = mail.get_body(("html",))
        assert text is not None and html is not None
        sentence = "The available balance is $0.40, under $1.00."
        assert sentence in text.get_content() and sentence in html.get_content()
        assert '"alert_id"' not in text.get_content()  # no raw JSON to read
        assert not [m for m in mails_to(box, TO) if "balance" in str(m["Subject"])]


async def test_spend_above_reaches_the_persons_webhook_signed_with_its_secret(
    dsn: str,
) -> None:
    async with webhook_sink() as sink, mailing_gateway(dsn, **LOCAL_SINKS) as (gw, _):
        t = await tenant(gw, credit=10_000_000, scopes=SCOPES)
        alert = {"kind": "spend_above", "amount_micros": 1_000_000, "period": "month"}
        status, made = await call(
            gw, t.key, "POST", "/v1/account/alerts", alert | {"webhook_url": sink.url}
        )
        assert status == 201 and made["webhook_secret"].startswith("whsec_")
        sink.secret = made["webhook_secret"]
        await spend(gw, t.account_id, 500)
        await asyncio.sleep(0.5)
        assert sink.events(t.account_id) == []  # $0.50 of a $1.00 alert
        await spend(gw, t.account_id, 600)
        await until(lambda: bool(sink.events(t.account_id)))
        [hooked] = sink.events(t.account_id)
        assert hooked["type"] == "alert.spend_above" and sink.bad_signatures == 0
        assert hooked["data"] == {
            "alert_id": made["id"],
            "period": "month",
            "spend_micros": 1_100_000,
            "threshold_micros": 1_000_000,
        }
