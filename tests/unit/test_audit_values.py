"""The audit record's building and the idempotency fingerprint, pure: secrets never reach a
record whatever their depth, an unknown action is refused, and a fingerprint is the same for
the same request however its fields are ordered and different for any other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from billing.proof.audit_words import ACTOR_KINDS
from gateway.http.openapi.paths.audit import RECORD
from gateway.services.audit import Actor, AuditEvent, Origin, build
from gateway.services.metering.idempotency import conflict, credit_use, first_use, plan_use
from gateway.stores.records import GrantSpec

SECRET = "mw-live-very-secret"


def test_secrets_are_dropped_at_any_depth() -> None:
    after = {
        "name": "k",
        "key": SECRET,
        "nested": {"token": SECRET, "list": [{"secret": SECRET, "kept": 1}]},
        "key_hash": SECRET,
    }
    event = AuditEvent("key.create", "key", "key_1", "acct_1", None, after)
    record = build(Actor("operator", "admin key", "admin key"), event, Origin("r1", "::1"))
    assert SECRET not in repr(record)
    assert record.after == {"name": "k", "nested": {"list": [{"kept": 1}]}}
    assert (record.actor_kind, record.request_id, record.client_address) == (
        "operator",
        "r1",
        "::1",
    )


def test_an_unknown_action_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown audit action"):
        build(Actor("key", "key_1"), AuditEvent("key.steal", "key", "k"), Origin())


def test_every_actor_kind_the_schema_names_is_written_and_no_other() -> None:
    """The audit page's schema enumerates ACTOR_KINDS; a record by any other kind would break
    it (a SCIM token's `directory` once did), so building one fails loudly instead."""
    event = AuditEvent("scim.user_create", "member", "m1", "acct_1")
    for kind in ACTOR_KINDS:
        assert build(Actor(kind, "x"), event, Origin()).actor_kind == kind
    assert RECORD["properties"]["actor_kind"]["enum"] == list(ACTOR_KINDS)
    with pytest.raises(ValueError, match="unknown audit actor kind 'robot'"):
        build(Actor("robot", "r2"), event, Origin())


def test_a_fingerprint_is_the_request_not_its_spelling() -> None:
    a = first_use("x", {"a": 1, "b": [1, 2]}, "s")
    assert a == first_use("x", {"b": [1, 2], "a": 1}, "s")
    assert a.fingerprint != first_use("y", {"a": 1, "b": [1, 2]}, "s").fingerprint
    assert a.fingerprint != first_use("x", {"a": 2, "b": [1, 2]}, "s").fingerprint
    when = datetime(2030, 1, 1, tzinfo=UTC)
    same_instant = when.astimezone(timezone(timedelta(hours=2)))
    g1, g2 = GrantSpec("promotional", when, 10), GrantSpec("promotional", same_instant, 10)
    assert credit_use("acct", 5, g1).fingerprint == credit_use("acct", 5, g2).fingerprint
    assert credit_use("acct", 5, g1).fingerprint != credit_use("acct", 5, None).fingerprint


def test_a_conflict_names_the_key_and_both_uses() -> None:
    first = credit_use("acct_x", 2_500_000, None)
    message = conflict("k1", first, credit_use("acct_x", 6_000_000, None)).message
    assert "'k1'" in message and "a credit of $2.50 (2500000 micros) to acct_x" in message
    assert "asks for $6.00 (6000000 micros) to acct_x" in message
    other = conflict("k1", first, plan_use("acct_x", "pro", None, None))
    assert "asks for a plan change of acct_x to pro" in other.message
    assert (other.status, other.code, other.param) == (
        409,
        "idempotency_conflict",
        "idempotency_key",
    )
