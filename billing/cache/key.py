"""The cache key: a hash of everything that determines the answer, and of whose it is.

The key is sha256 over one canonical JSON encoding (sorted keys, no whitespace, UTF-8, not
ASCII-escaped) of the scope's token, the route, the upstream and model after aliasing and
deployments, and the body as it reaches the provider. Only what changes how the answer is
delivered, never the answer, is left out: `stream` and `stream_options`, so a streamed and a
plain call share an entry (Gemini's streaming route shares its plain route's). Every other
field stays, so two calls differing in any field the provider reads never share one.

Numbers equal as numbers key alike: a float with no fraction is written as the integer
(1.0 and 1, -0.0 and 0), since JSON does not tell them apart and neither do the providers.
NaN and infinities are not JSON and are refused. The key starts with a version tag: a
change to this encoding changes the tag, so old entries are missed by construction, never
misread.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

VERSION = "mwc1:"
NOT_KEYED = frozenset({"stream", "stream_options"})
# A route whose streamed twin has a name of its own keys as the plain one.
PLAIN_ROUTE: Mapping[str, str] = {"stream_generate_content": "generate_content"}


def cache_key(
    *, scope_token: str, route: str, upstream: str, model: str, body: Mapping[str, object]
) -> str:
    """The entry's key: "mwc1:" and 64 hex digits (see the module's docstring)."""
    keyed = {name: value for name, value in body.items() if name not in NOT_KEYED}
    document = {
        "scope": scope_token,
        "route": PLAIN_ROUTE.get(route, route),
        "upstream": upstream,
        "model": model,
        "body": canonical(keyed),
    }
    encoded = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return VERSION + hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def canonical(value: object) -> object:
    """`value` with every float that holds an integer written as that integer, at any depth."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {name: canonical(item) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    return value
