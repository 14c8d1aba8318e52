"""Where a person goes back to after a provider's hosted page, and why only there.

A return URL is handed to Stripe (Checkout's success_url and cancel_url, the portal's
return_url) and shown as a link on the local provider's pages. Stripe refuses a path
(`url_invalid`, "Not a valid URL"), so every one is absolute, built on PUBLIC_URL. A caller
may name its own (`return_url`), but only on an origin the operator allowed
(RETURN_URL_ORIGINS; PUBLIC_URL's origin always): otherwise the gateway would be an open
redirect, sending a person from a trusted payment page to wherever a link's author chose.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from gateway.errors import InvalidRequest

DASHBOARD_BILLING = "/dashboard/billing"
# Stripe takes strings of up to 5,000 characters; a caller's URL is held well under that so
# the query the gateway adds (and Stripe's session id in it) always fits.
MAX_CHARS = 2000
SESSION_TEMPLATE = "{CHECKOUT_SESSION_ID}"  # Stripe fills it in on success_url only
DEFAULT_PORTS = {"http": 80, "https": 443}


class NotAnOrigin(ValueError):
    """A value that is not scheme://host[:port] (the form RETURN_URL_ORIGINS takes)."""


def origin(url: str) -> str:
    """scheme://host[:port] of an absolute http(s) URL, lower-cased, default port dropped."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # both raise ValueError: a broken [IPv6] host, a port past 65535
    except ValueError as exc:
        raise NotAnOrigin(f"{url!r} is not a URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        raise NotAnOrigin(f"{url!r} is not an absolute http(s) URL")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    shown = "" if port in (None, DEFAULT_PORTS[scheme]) else f":{port}"
    return f"{scheme}://{host}{shown}"


def parse_origin(raw: str) -> str:
    """An allowed origin as written in settings: nothing after the host and port."""
    try:
        parts = urlsplit(raw.strip())
    except ValueError as exc:
        raise NotAnOrigin(f"{raw!r} is not a URL: {exc}") from exc
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise NotAnOrigin(f"{raw!r} must be an origin (scheme://host[:port]), not a page")
    return origin(raw)


def with_params(url: str, params: Iterable[tuple[str, str]], template: bool = False) -> str:
    """`url` with `params` added to its query (its own query and fragment kept); with
    `template`, Stripe's literal {CHECKOUT_SESSION_ID} too, unescaped as Stripe wants it."""
    parts = urlsplit(url)
    added = urlencode(list(params))
    if template:
        added += f"&session_id={SESSION_TEMPLATE}"
    query = f"{parts.query}&{added}" if parts.query else added
    return urlunsplit(parts._replace(query=query))


@dataclass(frozen=True, slots=True)
class ReturnUrls:
    """The origins a caller's return_url may be on, besides the gateway's own."""

    origins: frozenset[str] = frozenset()

    def pick(self, requested: object, base: str) -> str:
        """The caller's return_url if allowed, else the dashboard's billing page on `base`
        (PUBLIC_URL); raises InvalidRequest naming return_url for anything else."""
        if requested is None:
            return base + DASHBOARD_BILLING
        if not isinstance(requested, str) or not requested or len(requested) > MAX_CHARS:
            raise _refused(f"an absolute http(s) URL of at most {MAX_CHARS} characters")
        if any(c.isspace() or ord(c) < 32 or c in "<>\"'`\\" for c in requested):
            raise _refused("a URL without spaces, quotes or control characters")
        try:
            found = origin(requested)
        except NotAnOrigin as exc:
            raise _refused("an absolute http(s) URL without a user name") from exc
        if found not in self.origins | {origin(base)}:
            raise _refused(f"on an allowed origin; {found} is not in RETURN_URL_ORIGINS")
        return requested


def _refused(what: str) -> InvalidRequest:
    return InvalidRequest(f"'return_url' must be {what}.", param="return_url")
