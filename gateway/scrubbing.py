"""The one secret scrubber: every text Meterway keeps, prints, logs or answers that a third
party wrote (a provider's error body, an identity provider's refusal, a report API's 401, an
SMTP server's reply) passes through `scrub` before anyone reads it.

Third parties echo what they were sent: a 401 body repeating the key ("Incorrect API key
provided: sk-admin-..."), a proxy quoting the request's headers, a URL with its token. Two
passes catch them: the exact secrets the caller sent (every outbound client passes its own,
and the process's configured secrets are added to every log line, gateway/logs.py), and
credentials by shape (bearer tokens, well-known key prefixes, echoed credential headers,
secret-named query values). Pure text in, text out: any room may call it
(tests/integration/test_scrubber_walk.py walks every outbound client through it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit

REDACTED = "[redacted]"

# Headers the gateway sends upstream with a credential or an identity in them, and those a
# provider may echo that carry someone's session.
HEADER_NAMES = (
    r"authorization|proxy-authorization|x-api-key|api[_-]?key|apikey|x-goog-api-key|"
    r"cookie|set-cookie|openai-organization|openai-project|x-amz-security-token|"
    r"x-amz-date|x-amz-content-sha256|x-ms-client-principal|x-fake-behaviour"
)
# A value that runs to the end of the quoted string or line it sits in.
_VALUE = r"(\"(?:[^\"\\]|\\.)*\"|\\\"(?:[^\"\\]|\\[^\"])*\\\"|[^\"\\\r\n]*)"
# A name begins a word, or follows a JSON string's escaped line break (`\nCookie: ...`).
_HEADER = re.compile(
    rf"(?i)((?:\\?\")?(?:(?<=\\[nrt])|\b)(?:{HEADER_NAMES})(?:\\?\")?\s*:\s*){_VALUE}"
)
# Bearer tokens, API keys by their well-known prefixes (sk-, sk-ant-, sk-proj-, rk-, mw-),
# and OpenAI organization / project ids.
_PATTERNS = (
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{4,}"), r"\1 " + REDACTED),
    (re.compile(r"\b(?:sk|rk|pk|mw)-[A-Za-z0-9_-]{6,}"), REDACTED),
    (re.compile(r"\b(?:org|proj)[-_][A-Za-z0-9]{6,}"), REDACTED),
)
# name=value where the name says it holds a secret (a query string or a form).
_QUERY = re.compile(
    r"(?i)((?:^|[?&;\s\"'(,])(?:x-amz-[a-z0-9-]+|[a-z0-9_.-]*"
    r"(?:token|key|secret|signature|sig|password|passwd|auth|code|credential)[a-z0-9_.-]*)=)"
    r"([^&#\s\"'<>\\]*)"
)


def _header(match: re.Match[str]) -> str:
    value = match.group(2)
    if value.startswith('\\"'):
        return f'{match.group(1)}\\"{REDACTED}\\"'
    if value.startswith('"'):
        return f'{match.group(1)}"{REDACTED}"'
    return match.group(1) + REDACTED


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with each given secret (of 8 characters or more) replaced."""
    for secret in secrets:
        if len(secret) >= 8 and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every given secret, credential-looking token, echoed header and
    secret-named query value replaced (log lines, and the first pass of `for_client`).

    Replacements contain no quote or backslash, so a JSON document stays valid JSON."""
    text = redact(text, secrets)
    text = _HEADER.sub(_header, text)
    text = _QUERY.sub(lambda m: m.group(1) + REDACTED, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


_SECRET_NAME = re.compile(r"(?i)token|key|secret|signature|sig|password|passwd|auth|credential")


def url_secrets(url: str) -> tuple[str, ...]:
    """What a URL the operator configured may carry that an error must not repeat: its
    password and its query's values (a webhook's `?token=`, a rate source's `access_key=`)."""
    try:
        parts = urlsplit(url)
        password = parts.password or ""
    except ValueError:
        return ()
    named = (v for k, v in parse_qsl(parts.query) if _SECRET_NAME.search(k))
    return tuple(v for v in (password, *named) if v)


def kept(text: str, secrets: Iterable[str] = (), limit: int = 0) -> str:
    """Text a third party wrote, fit to keep or print: scrubbed, then cut to `limit`
    characters (never cut first: a secret cut in two is no longer found)."""
    text = scrub(text, secrets)
    return text[:limit] if limit else text
