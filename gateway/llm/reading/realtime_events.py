"""OpenAI's Realtime events as far as metering reads them; both the GA and the beta shapes.

What a session is set to comes from the provider's own `session.created` and
`session.updated` (what it will do, not what a client asked for): its input and output audio
formats, whether voice detection starts responses by itself, and its output cap per response.
What a client adds to the conversation is estimated from its events: text a token per byte at
most, audio from its base64 length at the format's rate (billing/metering/realtime.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from billing.authority import REALTIME_EVENT, Action, message_actions
from billing.metering.realtime import audio_tokens, base64_bytes

# Every event type a client may send, GA and beta, and the action it needs (its scope:
# `realtime`, decided by billing/authority.py's `may_send`). The GET /v1/realtime route
# declares this very table as its messages, so the route printout, the reference and the
# authority matrix read it too. The relay looks each frame's type up here: a frame that is
# not a JSON object, or whose type has no entry, is answered with an `error` event and never
# reaches the provider. A new type is one entry here, and cannot be made without its action
# (`message_actions` refuses one at import); its metering, if any, is in the relay
# (`response.create` is held).
REALTIME_CLIENT_EVENTS: Mapping[str, Action] = message_actions(
    {
        "session.update": REALTIME_EVENT,
        "transcription_session.update": REALTIME_EVENT,  # the beta's transcription sessions
        "input_audio_buffer.append": REALTIME_EVENT,
        "input_audio_buffer.commit": REALTIME_EVENT,
        "input_audio_buffer.clear": REALTIME_EVENT,
        "conversation.item.create": REALTIME_EVENT,
        "conversation.item.retrieve": REALTIME_EVENT,
        "conversation.item.truncate": REALTIME_EVENT,
        "conversation.item.delete": REALTIME_EVENT,
        "response.create": REALTIME_EVENT,
        "response.cancel": REALTIME_EVENT,
        "output_audio_buffer.clear": REALTIME_EVENT,
    }
)

# Output the gateway tallies while a response is made (for a client that leaves before the
# provider reports): audio deltas, and text deltas (transcripts of audio are not billed).
AUDIO_DELTAS = frozenset({"response.output_audio.delta", "response.audio.delta"})
TEXT_DELTAS = frozenset({"response.output_text.delta", "response.text.delta"})
# The conversation's own events (what the model and the user said): only the operator's
# secrets are taken out of them. Every other provider event (the session, errors, limits,
# types this module does not know) passes the whole scrubber, as chat's error events do.
CONTENT_PREFIXES = ("response.", "conversation.item.")
TRANSCRIBED = "conversation.item.input_audio_transcription.completed"
TRANSCRIPT_FAILED = "conversation.item.input_audio_transcription.failed"


@dataclass(slots=True)
class SessionShape:
    input_format: str = "audio/pcm"
    output_format: str = "audio/pcm"
    vad_responds: bool = True  # OpenAI's default: server VAD, create_response true
    max_output_tokens: object = "inf"
    transcription_model: str = ""  # input audio transcribed, and billed, by this model

    def update(self, session: object) -> None:
        """Read a `session.created` or `session.updated` event's session."""
        if not isinstance(session, dict):
            return
        audio = _dict(session.get("audio"))
        given_in, given_out = _dict(audio.get("input")), _dict(audio.get("output"))
        self.input_format = _format(
            given_in.get("format"), session.get("input_audio_format"), self.input_format
        )
        self.output_format = _format(
            given_out.get("format"), session.get("output_audio_format"), self.output_format
        )
        if "turn_detection" in given_in or "turn_detection" in session:
            detection = given_in.get("turn_detection", session.get("turn_detection"))
            self.vad_responds = (
                isinstance(detection, dict) and detection.get("create_response", True) is not False
            )
        for name in ("max_output_tokens", "max_response_output_tokens"):
            if name in session:
                self.max_output_tokens = session[name]
        model = transcription_model(session)
        if model is not None:
            self.transcription_model = model


def transcription_model(session: object) -> str | None:
    """The input transcription model a session (a client's update or the provider's own)
    names: "" for none, None when it does not say."""
    session = _dict(session)
    given_in = _dict(_dict(session.get("audio")).get("input"))
    if "transcription" not in given_in and "input_audio_transcription" not in session:
        return None
    config = _dict(given_in.get("transcription", session.get("input_audio_transcription")))
    model = config.get("model")
    return model if isinstance(model, str) else ""


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _format(ga: object, beta: object, current: str) -> str:
    if isinstance(ga, dict) and isinstance(ga.get("type"), str):
        return str(ga["type"])
    return beta if isinstance(beta, str) else current


def client_tokens(event: dict[str, Any], raw_length: int, shape: SessionShape) -> int:
    """The conversation tokens a client event may add, at most: appended audio, a created
    item (its audio parts as audio, the rest a token per byte), a session's instructions."""
    kind = event.get("type")
    if kind == "input_audio_buffer.append":
        audio = event.get("audio")
        return (
            audio_tokens(base64_bytes(len(audio)), shape.input_format)
            if isinstance(audio, str)
            else 0
        )
    if kind == "conversation.item.create":
        return _item_tokens(event.get("item"), raw_length, shape)
    if kind == "session.update":
        session = _dict(event.get("session"))
        instructions = session.get("instructions")
        return len(instructions.encode()) if isinstance(instructions, str) else 0
    return 0


def _item_tokens(item: object, raw_length: int, shape: SessionShape) -> int:
    audio_chars, audio = _audio_parts((item,), shape)
    return audio + max(raw_length - audio_chars, 0)


def _audio_parts(items: Iterable[object], shape: SessionShape) -> tuple[int, int]:
    """The base64 characters of the items' audio parts, and the tokens they may count as."""
    audio_chars, audio = 0, 0
    for item in items:
        for part in _dict(item).get("content") or ():
            data = _dict(part).get("audio")
            if isinstance(data, str):
                audio_chars += len(data)
                audio += audio_tokens(base64_bytes(len(data)), shape.input_format)
    return audio_chars, audio


def appended_tokens(event: dict[str, Any], shape: SessionShape) -> int:
    """The audio tokens an `input_audio_buffer.append` adds to the buffer."""
    if event.get("type") != "input_audio_buffer.append":
        return 0
    return client_tokens(event, 0, shape)


def response_cap(event: dict[str, Any], shape: SessionShape) -> object:
    """A `response.create`'s own output cap, else the session's."""
    response = _dict(event.get("response"))
    for name in ("max_output_tokens", "max_response_output_tokens"):
        if name in response:
            return response[name]
    return shape.max_output_tokens


def client_event(data: str | bytes) -> tuple[dict[str, Any] | None, str, object]:
    """A client frame as an event the relay may forward, or None and why not (a frame that
    is no JSON object, has no type, or a type REALTIME_CLIENT_EVENTS does not list); and the
    frame's `event_id`, which an `error` event about it names."""
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None, "A Realtime client frame must be one JSON event; this one is not JSON.", None
    if not isinstance(event, dict):
        return None, "A Realtime client event must be a JSON object with a string 'type'.", None
    kind, event_id = event.get("type"), event.get("event_id")
    if not isinstance(kind, str):
        return None, "A Realtime client event must have a string 'type'.", event_id
    if kind not in REALTIME_CLIENT_EVENTS:
        return None, f"The Realtime client event type '{kind:.64}' is not accepted here.", event_id
    return event, "", event_id


def delta_length(event: dict[str, Any]) -> int:
    delta = event.get("delta")
    return len(delta) if isinstance(delta, str) else 0


def response_own_tokens(event: dict[str, Any], raw_length: int, shape: SessionShape) -> int:
    """The tokens a `response.create` brings of its own (its instructions, input items and
    tools), at most: its items' audio as audio, every other byte of the event a token. A
    bare `response.create` brings nothing."""
    response = _dict(event.get("response"))
    if not response:
        return 0
    items = response.get("input")
    audio_chars, audio = _audio_parts(items if isinstance(items, list) else (), shape)
    return audio + max(raw_length - audio_chars, 0)


def in_band(event: dict[str, Any]) -> bool:
    """Whether a `response.create`'s answer joins the conversation (`conversation` "auto",
    the default) or stands apart ("none")."""
    return bool(_dict(event.get("response")).get("conversation", "auto") != "none")
