"""What a notification says to a person (billing/trust/alert_words.py) and the e-mail carrying it
(outbound/mail/notification.py): words and dollars, the JSON only as an attachment."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from billing.trust.alert_words import describe
from billing.trust.alerts import UserAlert, transitions, user_checks
from gateway.outbound.mail.notification import notification_mail
from gateway.outbound.notify import envelope


def test_each_event_reads_as_a_sentence() -> None:
    title, sentence = describe(
        "balance.low", {"balance_micros": 400_000, "threshold_micros": 500_000}
    )
    assert (title, sentence) == (
        "Your balance is low",
        "The available balance is $0.40, under $0.50. Add credit to keep your requests going.",
    )
    _, quota = describe(
        "quota.exhausted",
        {"window": "day", "metric": "meter:gpu_seconds", "used": 36000, "limit": 36000},
    )
    assert quota == "The quota of GPU seconds per day is used up (36,000 of 36,000)."
    data = {"period": "day", "spend_micros": 1_100_000, "threshold_micros": 1_000_000}
    assert describe("alert.spend_above", data)[1] == (
        "You have spent $1.10 today, at or over the $1.00 you set."
    )
    assert describe("balance.low.resolved", {})[0] == "Resolved: your balance is low"


def test_the_mail_has_text_html_and_the_json_attached() -> None:
    row = {
        "delivery_id": "dlv_1",
        "event": "balance.low",
        "account_id": "acct_1",
        "created_at": datetime(2026, 11, 25, tzinfo=UTC),
        "payload": json.dumps({"balance_micros": 400_000, "threshold_micros": 500_000}),
    }
    mail = notification_mail(envelope(row), "from@x.test", "to@x.test")
    assert mail["Subject"] == "[meterway] Your balance is low (acct_1)"
    assert mail["Message-ID"] == "<dlv_1@meterway>"
    text, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert text is not None and "$0.40" in text.get_content() and "{" not in text.get_content()
    assert html is not None and "<h1>Your balance is low</h1>" in html.get_content()
    [attached] = list(mail.iter_attachments())
    assert json.loads(attached.get_content())["id"] == "dlv_1"


def test_a_persons_alerts_fire_once_and_resolve() -> None:
    alerts = [
        UserAlert("a1", "balance_below", 1_000_000),
        UserAlert("a2", "spend_above", 500, "day"),
    ]
    fired = transitions(user_checks(alerts, 900_000, {"day": 500, "month": 900}), set())
    assert [(t.event, t.alert_id) for t in fired] == [
        ("alert.balance_below", "a1"),
        ("alert.spend_above", "a2"),
    ]
    active = {"user:a1", "user:a2"}
    assert transitions(user_checks(alerts, 900_000, {"day": 500}), active) == []
    back = transitions(user_checks(alerts, 1_100_000, {"day": 0}), active)
    assert [t.event for t in back] == ["alert.balance_below.resolved", "alert.spend_above.resolved"]
