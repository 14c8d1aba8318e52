"""Scrubbing secrets out of text a provider or a client wrote, before anyone else reads it.

Provider error bodies sometimes echo the request's headers (the operator's API key) or name
the operator's organization and project; aiohttp logs raw request bytes (a client's key)
when a request is malformed. Both pass through here, so the patterns live in one place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[redacted]"
# Bearer tokens, API keys by their well-known prefixes (sk-, sk-ant-, sk-proj-, rk-, mw-),
# and OpenAI organization / project ids.
_PATTERNS = (
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{4,}"), r"\1 " + REDACTED),
    (re.compile(r"\b(?:sk|rk|pk|mw)-[A-Za-z0-9_-]{6,}"), REDACTED),
    (re.compile(r"\b(?:org|proj)[-_][A-Za-z0-9]{6,}"), REDACTED),
    (
        re.compile(
            r"(?i)(\"?(?:x-api-key|api[_-]?key|authorization|openai-organization|"
            r"openai-project)\"?\s*[:=]\s*\"?)[^\"\s,}]+"
        ),
        r"\1" + REDACTED,
    ),
)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every credential-looking token and every given secret replaced.

    Replacements contain no quote or backslash, so a JSON document stays valid JSON."""
    for secret in secrets:
        if len(secret) >= 8:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
