# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""What one proxied route is, as a value: where it goes, who may call it, how it is metered.

Each route the gateway meters is one frozen `Endpoint`; the request reader, the usage reader,
the stream tally and the error events are its fields, so the proxy, the relay and the meter
never compare endpoint names. A new API (Responses, a metering API) is a new value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, final

from billing.metering.stream_tally import StreamTally
from billing.metering.tokens import TokenCounter
from billing.metering.usage import Usage
from billing.pricing import ModelKind, ModelPrice
from billing.values import Value
from gateway.config.providers import BODIES

Wire = Literal["openai", "anthropic", "gemini"]

Body = dict[str, Any]


@final
class Sizing(Value):
    """A request's worst case as its reader found it, before the meter reserves it."""

    def __init__(
        self,
        input_tokens: int,
        max_output_tokens: int,
        max_tokens_field: str | None = None,
        choices: int = 1,
        service_tier: str = "",
        fees_micros: int = 0,
        kinds: tuple[str, ...] = (),
        streams: bool | None = None,
        assembled: bool = False,
    ) -> None:
        self.input_tokens: Final = input_tokens
        self.max_output_tokens: Final = max_output_tokens  # per choice
        # The body field that set it, None if defaulted
        self.max_tokens_field: Final = max_tokens_field
        self.choices: Final = choices
        # The tier asked for: the reservation assumes its rates if dearer
        self.service_tier: Final = service_tier
        self.fees_micros: Final = fees_micros  # built-in tool fees the request may run up
        self.kinds: Final = kinds  # usage keys beyond text it may bill (reading/kinds.py)
        self.streams: Final = streams  # streamed whatever `stream` says (speech's stream_format)
        # Asked of the provider as server-sent events (its usage is only there) and answered to
        # the client assembled, as the plain answer it asked for (token-priced speech's audio).
        self.assembled: Final = assembled


RequestReader = Callable[[Body, ModelPrice, TokenCounter], Sizing]
# (price, request body, answer, counted input tokens) -> the usage billed, for routes whose
# bill depends on the request as much as the answer (images by size and quality).
AnswerUsage = Callable[[ModelPrice, Body, Body, int], Usage]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One metered route.

    `read_usage` is the provider's usage of a complete JSON answer (None: it reported none,
    so `answer_text` is counted instead); `new_tally(client_wants_usage)` reads its stream;
    `error_event(message)` ends a failed stream in the wire's own terms and `stream_end`
    follows a provider's own error event.
    """

    name: str
    path: str  # relative to the provider's API root
    scope: str
    kind: ModelKind
    wire: Wire
    read_request: RequestReader
    read_usage: Callable[[Body], Usage | None]
    answer_text: Callable[[Body], list[str]]
    new_tally: Callable[[bool], StreamTally]
    error_event: Callable[[str], bytes]
    stream_end: bytes = b""
    asks_stream_usage: bool = False  # the provider must be asked to put usage on streams
    clamps: bool = True  # output can be lowered through a max-tokens field
    max_tokens_field: str = "max_tokens"
    wrong_provider: str = "'{model}' is served on /v1/messages only."
    providers: frozenset[str] | None = None  # None: every provider speaking this wire
    provider_wires: frozenset[str] = frozenset()  # with `providers`: wires serving it too
    # The path segment naming the model (Azure's deployment, Gemini's model), "" the body's;
    # `model_in_body` False: the provider takes it in the path, never in the body.
    path_model: str = ""
    model_in_body: bool = True
    always_streams: bool = False  # the route streams (Gemini's streamGenerateContent)
    # A client's wire reaching a provider of another (llm/translations.py): the body the
    # provider takes, and its JSON answer in the client's shape (with the model's name).
    translate: Callable[[Body], Body] | None = None
    answer: Callable[[Body, str], Body] | None = None
    stores: bool = False  # it keeps what it makes, so `store` is no extra
    counts_tool_runs: bool = False  # its usage says how often a fee tool ran
    stored_id: Callable[[Body], str | None] = lambda answer: None  # an object the key owns
    finished: Callable[[Body], bool] = lambda answer: True  # False: settle when it ends
    # Where the usage object sits in the stream event carrying the final usage (its debit is
    # added there as `cost_micros`); a JSON answer has it at the top level on every route.
    stream_cost_path: tuple[str, ...] = ("usage",)
    answer_usage: AnswerUsage | None = None  # None: `read_usage`, else the answer counted
    upload: bool = False  # a multipart/form-data body (http/proxy/uploads.py), not JSON
    media: bool = False  # its plain answer may be other than JSON (audio, text formats)
    answer_cost_path: tuple[str, ...] = ("usage",)  # the same in a JSON answer
    default_model: str = ""  # the model the provider assumes when a body names none

    def serves(self, price: ModelPrice, wire: str) -> bool:
        """A model is served on the routes of the wire its provider speaks (`wire`)."""
        if self.providers is not None:
            return price.provider in self.providers or wire in self.provider_wires
        return BODIES.get(wire, wire) == self.wire
