"""An audit record as one sentence a person reads: who did what to whom, in dollars and
names ("ada@example.com refunded $5.00 of payment R-1042 to Acme."), never JSON or micros.

`sentence(record, names)` is the one function; `names` maps the ids a record carries
(members, keys, accounts, teams, payments) to what people call them, and an id it lacks is
shown as itself. Every action of the log has its words (`WORDS`, billing/proof/audit_phrases.py);
a test derives the audited actions from the route records and fails on one without words.
`KINDS` groups the actions for the log's filter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from billing.proof.audit_phrases import WORDS, Names, Said, quoted

__all__ = ["ACTOR_KINDS", "KINDS", "WORDS", "ids_named", "kind_of", "sentence", "who"]


# Who can make a change, as a record names them: the schema's enum and `build`'s check.
ACTOR_KINDS = ("operator", "member", "user", "key", "directory", "system")


def who(record: Mapping[str, Any], names: Names) -> str:
    """The actor as people call them: a member by e-mail, a key by name, the operator."""
    kind, actor, via = record["actor_kind"], str(record["actor_id"]), record.get("actor_via")
    if kind == "operator":
        return "The operator" if actor in ("", "admin key", "operator") else f"Operator {actor}"
    if kind == "member":
        return names.get(actor) or f"Member {actor}"
    if kind == "key":
        return f"Key {quoted(names.get(actor) or actor)}"
    if kind == "user":
        return f"User {actor}"
    if kind == "directory":
        return "The directory (SCIM)"
    if actor == "payments":
        return "The grace period" if via == "grace period" else "The payment provider"
    return "The gateway"


# The log's filter: each kind of action by the first part of its name.
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "keys": ("Keys", ("key",)),
    "people": (
        "People and sign-ins",
        ("member", "user", "token", "auth", "device", "signup", "scim"),
    ),
    "teams": ("Teams and budgets", ("team", "end_user_budget")),
    "money": ("Credits, adjustments and refunds", ("credit", "adjustment", "grant", "refund")),
    "payments": ("Payments, plans and invoices", ("payment", "invoice", "commitment")),
    "prices": ("Prices", ("price_change",)),
    "settings": ("Account settings and alerts", ("account", "alert", "service", "domain", "byok")),
}


def kind_of(action: str) -> str:
    """The filter kind an action belongs to ("" for none)."""
    head = action.split(".", 1)[0]
    return next((k for k, (_, heads) in KINDS.items() if head in heads), "")


def sentence(record: Mapping[str, Any], names: Names) -> str:
    """One record as one sentence, ending with a full stop. A record of an action with no
    words (a log older than this code) still reads as who, the action and its target."""
    actor = who(record, names)
    words = WORDS.get(str(record["action"]))
    if words is None:
        return f"{actor}: {record['action']} {record['target_kind']} {record['target_id']}."
    return f"{actor} {words(Said(record, names))}."


def ids_named(records: Sequence[Mapping[str, Any]]) -> set[str]:
    """Every id the records' sentences may name, to look up once for a page."""
    out: set[str] = set()
    for r in records:
        out |= {str(r[f]) for f in ("actor_id", "account_id", "target_id") if r.get(f)}
        for state in (r.get("before"), r.get("after")):
            if isinstance(state, Mapping):
                out |= {str(state[f]) for f in ("payment_id", "team_id") if state.get(f)}
    return out
