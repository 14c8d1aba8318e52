"""A dashboard failure in people's words: a refusal names the role (never a scope) and who
can change it; an unknown page and a fault say what to do."""

from __future__ import annotations

from gateway.errors import InternalError, NotFound, PermissionDenied
from gateway.http.dashboard.error_page import words

SCOPE_WORDS = ("scope", "account:read", "billing:read", "org:write", "token")


def test_a_refusal_names_the_role_and_who_changes_it() -> None:
    said = words(
        PermissionDenied.lacking("billing:read", "This token lacks the 'billing:read' scope."),
        "viewer",
        "user",
    )
    text = f"{said.title} {said.message} {said.advice}"
    assert "viewer" in said.message and "owner or admin" in said.advice
    assert not any(w in text for w in SCOPE_WORDS)


def test_a_refusal_to_a_key_or_the_operator_speaks_of_signing_in() -> None:
    for kind in ("key", "user", ""):
        said = words(
            PermissionDenied.lacking("keys:read", "This API key lacks the 'keys:read' scope."),
            "",
            kind,
        )
        assert "sign in" in said.advice.lower()
        assert not any(w in said.message for w in ("scope", ":read"))


def test_an_unknown_page_and_a_fault_say_what_to_do() -> None:
    missing = words(NotFound("Unknown path."))
    assert (missing.title, missing.message) == ("Page not found", "There is no such page.")
    fault = words(InternalError("KeyError: 'x'"))
    assert "KeyError" not in fault.message and "Reload" in fault.advice


def test_a_rule_that_gives_its_reason_keeps_it() -> None:
    said = words(PermissionDenied("Operators only: sign in with the admin key."), "viewer", "user")
    assert said.message == "Operators only: sign in with the admin key."
