"""What a dashboard failure says to a person: a page in words, never the API's JSON.

The API's error bodies are for scripts and speak of scopes; a person signed in to the
dashboard has a role (or an API key, or the operator's key), so a refusal names that and
who can change it, an unknown page says where to go, and a fault says nothing was changed
that the person cannot see and what to do next.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import (
    FormAlreadySubmitted,
    InternalError,
    MeterwayError,
    NotFound,
    PermissionDenied,
)


@dataclass(frozen=True, slots=True)
class Words:
    title: str
    message: str
    advice: str
    link: str = ""  # where the person goes next, when not the dashboard's start


def refusal(role: str, kind: str) -> Words:
    """A 403 as people read it: the caller's role (or kind of credential), not a scope."""
    if role:
        message = f"Your role in this organization, {role}, does not include this page."
        advice = (
            "An owner or admin of your organization can change your role on the "
            "Organization page; until then, use the pages in the menu above."
        )
    elif kind == "key":
        message = "The API key you signed in with does not allow this page."
        advice = "Sign out and sign in as a member of the organization, or with a key that does."
    else:
        message = "Your sign-in does not allow this page."
        advice = "Sign out and sign in as a member with the role it needs, or as the operator."
    return Words("Not allowed", message, advice)


def words(error: MeterwayError, role: str = "", kind: str = "") -> Words:
    """The title, message and next step of a failed dashboard page."""
    if isinstance(error, PermissionDenied) and error.scope is not None:
        return refusal(role, kind)
    if isinstance(error, PermissionDenied):  # a rule that says its own reason
        return Words("Not allowed", error.message, "Go back and choose another action.")
    if isinstance(error, NotFound):
        return Words(
            "Page not found",
            error.message if error.message != "Unknown path." else "There is no such page.",
            "Check the address, or go back to the dashboard and follow its menu.",
        )
    if isinstance(error, FormAlreadySubmitted):
        advice = "To do it again on purpose, open the page afresh and fill the form in again."
        return Words("Already submitted", error.message, advice, error.result)
    if isinstance(error, InternalError):
        return Words(
            "Something went wrong",
            "The gateway failed to draw this page. It has been logged for the operator.",
            "Reload the page in a moment; if it fails again, tell your operator the time "
            "it happened.",
        )
    return Words("Error", error.message, "")
