"""The audit log in words (billing/proof/audit_words.py): one sentence a record, in dollars and
names. Which actions need words is read off the route records (what each route audits)
and the log's own list, so a new audited action without a sentence fails here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from billing.proof.audit_words import KINDS, WORDS, ids_named, kind_of, sentence
from gateway.app import create_app
from gateway.http.route_actions import records
from gateway.services.audit import ACTIONS
from tests.support.harness import gateway_settings

ACCOUNT, ADA, PAYMENT = "acct_1", "mem_ada", "pi_3Q"
NAMES = {ACCOUNT: "Acme", ADA: "ada@example.com", PAYMENT: "R-1042"}


def audited_actions() -> set[str]:
    """Every action a route says it writes, read off the app's route records."""
    settings = gateway_settings("postgresql://nobody@127.0.0.1/none", "http://127.0.0.1:1", "p")
    app = create_app(settings)
    return {
        event
        for route in records(app).values()
        if route.audit is not None
        for event in route.audit.events
    }


def test_every_audited_action_has_its_sentence_and_its_kind() -> None:
    routed = audited_actions()
    assert len(routed) > 30
    assert sorted((routed | set(ACTIONS)) - set(WORDS)) == []
    assert [a for a in ACTIONS if not kind_of(a)] == []
    assert set(WORDS) <= set(ACTIONS)  # no words for an action nothing writes


def record(action: str, after: Any = None, before: Any = None, **more: Any) -> dict[str, Any]:
    return {"action": action, "actor_kind": "member", "actor_id": ADA, "actor_via": "jwt",
            "account_id": ACCOUNT, "target_kind": "x", "target_id": "t1",
            "before": before, "after": after} | more  # fmt: skip


def test_a_refund_reads_in_dollars_and_names() -> None:
    r = record("refund.create", {"payment_id": PAYMENT, "amount_micros": 5_000_000})
    assert sentence(r, NAMES) == "ada@example.com refunded $5.00 of payment R-1042 to Acme."


def test_amounts_are_exact_and_never_micros() -> None:
    after = {"amount_micros": -450, "reason": "fix", "entry_id": 7, "balance_micros": 1}
    said = sentence(record("adjustment.create", after, actor_kind="operator",
                           actor_id="admin key"), NAMES)  # fmt: skip
    assert said == "The operator took $0.00045 from Acme (fix)."
    grant = {"kind": "promotional", "expires_at": "2026-12-31T23:59:59+00:00", "priority": 50}
    credit = record("credit.create", {"amount_micros": 2_500_000, "grant": grant})
    assert sentence(credit, NAMES) == (
        "ada@example.com credited $2.50 to Acme as a promotional grant,"
        " expiring 31 Dec 2026 23:59 UTC."
    )


def test_who_did_it_is_named() -> None:
    paid = {"amount_micros": 3_000_000, "payment_id": PAYMENT}
    provider = record("credit.create", paid, actor_kind="system", actor_id="payments")
    assert sentence(provider, NAMES) == (
        "The payment provider credited $3.00 to Acme for payment R-1042."
    )
    key = record("auth.logout", actor_kind="key", actor_id="key_9")
    assert sentence(key, {"key_9": "ci"}).startswith("Key “ci” signed out")
    unknown = record("member.remove", None, {"email": "bo@example.com", "role": "viewer"},
                     actor_id="mem_gone")  # fmt: skip
    assert sentence(unknown, NAMES) == "Member mem_gone removed bo@example.com (viewer)."


def test_limits_and_plans_read_as_words() -> None:
    quotas = [{"window": "day", "metric": "spend_micros", "limit": 20_000_000},
              {"window": "hour", "metric": "requests", "limit": 1000}]  # fmt: skip
    r = record("key.quotas", {"name": "ci", "prefix": "mw-abc", "quotas": quotas},
               {"name": "ci", "prefix": "mw-abc", "quotas": []})  # fmt: skip
    assert sentence(r, NAMES) == (
        "ada@example.com set the limits of key “ci” (mw-abc…) to $20.00 spend per day,"
        " 1,000 requests per hour."
    )
    plan = record("account.plan", {"plan": "pro"}, {"plan": "free"})
    assert sentence(plan, NAMES) == "ada@example.com changed the plan of Acme from free to pro."
    revoked = record("user.tokens_revoke", {"revoked_before_ms": 1_795_701_894_558})
    when = datetime.fromtimestamp(1_795_701_894, UTC).strftime("%d %b %Y %H:%M")
    assert sentence(revoked, NAMES).endswith(f"issued before {when.lstrip('0')} UTC.")


def test_a_page_looks_up_every_id_its_sentences_name() -> None:
    r = record("refund.create", {"payment_id": PAYMENT, "amount_micros": 1})
    assert ids_named([r]) == {ADA, ACCOUNT, "t1", PAYMENT}


def test_each_kind_names_its_actions() -> None:
    for kind, (label, heads) in KINDS.items():
        assert label and heads, kind
        assert any(a.split(".")[0] in heads for a in ACTIONS), kind
