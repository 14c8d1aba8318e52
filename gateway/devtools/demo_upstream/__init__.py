"""A fake LLM provider speaking OpenAI's and Anthropic's real wire formats.

`meterway dev` runs it as the built-in demo upstream; the test-suite uses it as the only
fake provider, steering it through an `UpstreamControl` (or the `x-fake-behaviour` header)
and reading back what the gateway sent.
"""

from gateway.devtools.demo_upstream.app import (
    DEMO_MODELS,
    RunningUpstream,
    create_upstream_app,
    start_upstream,
)
from gateway.devtools.demo_upstream.control import (
    BEHAVIOUR_HEADER,
    Behaviour,
    CountTokens,
    FailMode,
    RecordedRequest,
    UpstreamControl,
    count_words,
)

__all__ = [
    "BEHAVIOUR_HEADER",
    "DEMO_MODELS",
    "Behaviour",
    "CountTokens",
    "FailMode",
    "RecordedRequest",
    "RunningUpstream",
    "UpstreamControl",
    "count_words",
    "create_upstream_app",
    "start_upstream",
]
