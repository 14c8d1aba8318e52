"""The metered routes as values: chat, completions, embeddings, moderations, responses,
Anthropic messages, images and audio.

Kept whole: the table of metered routes, one value each, with the readers they share.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson

from billing.metering import gemini
from billing.metering.audio import speech_stream_tally, transcript_stream_tally
from billing.metering.images import image_stream_tally
from billing.metering.responses import (
    ResponsesStreamTally,
    is_terminal,
    response_text,
    usage_from_response,
)
from billing.metering.stated_cost import with_stated_cost
from billing.metering.stream_tally import AnthropicStreamTally, OpenAIStreamTally, StreamTally
from billing.metering.tokens import TokenCounter
from billing.metering.usage import Usage, usage_from_anthropic, usage_from_openai, with_tier
from billing.pricing import ModelKind, ModelPrice
from gateway.llm.converse import chat as converse_chat
from gateway.llm.converse import translate as converse_translate
from gateway.llm.endpoint import Body, Endpoint, RequestReader, Sizing
from gateway.llm.gemini import chat as gemini_chat
from gateway.llm.gemini import translate as gemini_translate
from gateway.llm.gemini.readers import read_gemini
from gateway.llm.media import audio_readers
from gateway.llm.media import readers as media_readers
from gateway.llm.media.answers import image_usage
from gateway.llm.media.audio_answers import speech_usage, transcription_usage
from gateway.llm.reading import readers

OPENAI_DONE = b"data: [DONE]\n\n"


def openai_error_event(message: str) -> bytes:
    """An in-stream error the OpenAI SDKs raise as APIError, then the terminator."""
    error = {"message": message, "type": "upstream_error", "code": "upstream_error", "param": None}
    return b"data: " + orjson.dumps({"error": error}) + b"\n\n" + OPENAI_DONE


def anthropic_error_event(message: str) -> bytes:
    body = {"type": "error", "error": {"type": "api_error", "message": message}}
    return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"


def openai_usage(payload: Body) -> Usage | None:
    """Chat Completions usage, with the cost an OpenAI-compatible upstream states for the
    call (OpenRouter's `usage.cost`) kept for the drift check, never billed
    (billing/proof/drift.py)."""
    raw = payload.get("usage")
    usage = usage_from_openai(raw) if isinstance(raw, dict) else None
    return with_tier(with_stated_cost(usage, raw), payload.get("service_tier"))


def xai_usage(payload: Body) -> Usage | None:
    """xAI's Chat Completions usage: its reasoning tokens are outside `completion_tokens`."""
    raw = payload.get("usage")
    usage = usage_from_openai(raw, reasoning_apart=True) if isinstance(raw, dict) else None
    return with_tier(usage, payload.get("service_tier"))


def embedding_usage(payload: Body) -> Usage | None:
    raw = payload.get("usage")
    return usage_from_openai(raw, output_required=False) if isinstance(raw, dict) else None


def anthropic_usage(payload: Body) -> Usage | None:
    raw = payload.get("usage")
    return usage_from_anthropic(raw) if isinstance(raw, dict) else None


def choices_text(payload: Body) -> list[str]:
    parts = []
    for choice in payload.get("choices") or []:
        if isinstance(choice, dict):
            message = choice.get("message") or {}
            parts.append(str(message.get("content") or choice.get("text") or ""))
    return parts


def content_text(payload: Body) -> list[str]:
    blocks = payload.get("content") or []
    return [b.get("text", "") for b in blocks if isinstance(b, dict)]


def no_text(payload: Body) -> list[str]:
    return []


def openai_tally(client_wants_usage: bool) -> StreamTally:
    return OpenAIStreamTally(client_wants_usage)


def xai_tally(client_wants_usage: bool) -> StreamTally:
    return OpenAIStreamTally(client_wants_usage, reasoning_apart=True)


def anthropic_tally(client_wants_usage: bool) -> StreamTally:
    return AnthropicStreamTally()


def _openai(
    name: str, path: str, kind: ModelKind, reader: RequestReader, scope: str = "", **kw: Any
) -> Endpoint:
    """An OpenAI-wire route (its scope is its name unless given); `kw` overrides what
    differs from chat's defaults."""
    fields: dict[str, Any] = {
        "read_usage": openai_usage,
        "answer_text": choices_text,
        "new_tally": openai_tally,
        "error_event": openai_error_event,
        "stream_end": OPENAI_DONE,
        "asks_stream_usage": True,
    }
    return Endpoint(name, path, scope or name, kind, "openai", reader, **{**fields, **kw})


CHAT = _openai("chat", "/chat/completions", "chat", readers.read_chat)
COMPLETIONS = _openai("completions", "/completions", "completion", readers.read_completion)
EMBEDDINGS = _openai(
    "embeddings",
    "/embeddings",
    "embedding",
    readers.read_embedding,
    read_usage=embedding_usage,
    answer_text=no_text,
    asks_stream_usage=False,
    clamps=False,
)
MODERATIONS = _openai(
    "moderations",
    "/moderations",
    "moderation",
    media_readers.read_moderation,
    read_usage=lambda payload: None,  # moderations report none: the input is counted
    answer_text=no_text,
    asks_stream_usage=False,
    clamps=False,
    default_model="omni-moderation-latest",  # OpenAI's default when `model` is absent
)
# The same routes read as a provider counting reasoning apart from the completion (xAI):
# a call is read by one or the other as its model's price says (`read_as`).
XAI_CHAT = replace(CHAT, read_usage=xai_usage, new_tally=xai_tally)
XAI_COMPLETIONS = replace(COMPLETIONS, read_usage=xai_usage, new_tally=xai_tally)
_CONVENTIONS = ((CHAT, XAI_CHAT), (COMPLETIONS, XAI_COMPLETIONS))


def read_as(endpoint: Endpoint, price: ModelPrice) -> Endpoint:
    """The route as its usage must be read for `price`'s provider: reasoning tokens inside
    the completion (OpenAI's convention) or apart from it (`price.reasoning_apart`)."""
    for inside, apart in _CONVENTIONS:
        if endpoint is inside or endpoint is apart:
            return apart if price.reasoning_apart else inside
    return endpoint


MESSAGES = Endpoint(
    name="messages",
    path="/v1/messages",
    scope="messages",
    kind="chat",
    wire="anthropic",
    read_request=readers.read_messages,
    read_usage=anthropic_usage,
    answer_text=content_text,
    new_tally=anthropic_tally,
    error_event=anthropic_error_event,
    wrong_provider="'{model}' is not an Anthropic model.",
    counts_tool_runs=True,
)


def responses_error_event(message: str) -> bytes:
    """The Responses API's own `error` event: the SDK yields it as a ResponseErrorEvent."""
    body = {
        "type": "error",
        "code": "upstream_error",
        "message": message,
        "param": None,
        "sequence_number": 0,
    }
    return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"


def response_id(answer: Body) -> str | None:
    rid = answer.get("id")
    return rid if answer.get("object") == "response" and isinstance(rid, str) else None


def responses_tally(client_wants_usage: bool) -> StreamTally:
    return ResponsesStreamTally()


RESPONSES = _openai(
    "responses",
    "/responses",
    "chat",
    readers.read_responses,
    read_usage=usage_from_response,
    answer_text=response_text,
    new_tally=responses_tally,
    error_event=responses_error_event,
    stream_end=b"",
    asks_stream_usage=False,
    max_tokens_field="max_output_tokens",
    wrong_provider="'{model}' is not served on /v1/responses.",
    providers=frozenset({"openai"}),
    provider_wires=frozenset({"azure"}),
    stores=True,
    counts_tool_runs=True,
    stored_id=response_id,
    finished=is_terminal,
    stream_cost_path=("response", "usage"),
)


def image_tally(client_wants_usage: bool) -> StreamTally:
    return image_stream_tally()


def _image_route(name: str, path: str, reader: RequestReader, upload: bool = False) -> Endpoint:
    """An images route: priced per image or in tokens (llm/media/answers.py), never clamped."""
    return _openai(
        name,
        path,
        "image",
        reader,
        scope="images",
        answer_text=no_text,
        answer_usage=image_usage,
        new_tally=image_tally,
        error_event=openai_error_event,
        stream_end=b"",
        asks_stream_usage=False,
        clamps=False,
        providers=frozenset({"openai"}),
        wrong_provider="'{model}' is not served on the images routes.",
        upload=upload,
    )


IMAGE_GENERATIONS = _image_route(
    "image_generations", "/images/generations", media_readers.read_image_generation
)
IMAGE_EDITS = _image_route(
    "image_edits", "/images/edits", media_readers.read_image_edit, upload=True
)
IMAGE_VARIATIONS = _image_route(
    "image_variations", "/images/variations", media_readers.read_image_variation, upload=True
)


# Azure's dated API: the same routes, the model named by the deployment in the path.
AZURE_CHAT = replace(CHAT, path_model="deployment")
AZURE_COMPLETIONS = replace(COMPLETIONS, path_model="deployment")
AZURE_EMBEDDINGS = replace(EMBEDDINGS, path_model="deployment")


def transcript_tally(client_wants_usage: bool) -> StreamTally:
    return transcript_stream_tally()


def speech_tally(client_wants_usage: bool) -> StreamTally:
    return speech_stream_tally()


def _audio_route(name: str, path: str, kind: ModelKind, **kw: Any) -> Endpoint:
    """An audio route: per second, per character or in tokens (llm/media/audio_answers.py)."""
    fields: dict[str, Any] = {
        "answer_text": no_text,
        "error_event": openai_error_event,
        "stream_end": b"",
        "asks_stream_usage": False,
        "clamps": False,
        "providers": frozenset({"openai"}),
        "wrong_provider": "'{model}' is not served on the audio routes.",
        "media": True,
    }
    reader = kw.pop("reader")
    return _openai(name, path, kind, reader, scope="audio", **{**fields, **kw})


TRANSCRIPTIONS = _audio_route(
    "transcriptions",
    "/audio/transcriptions",
    "transcription",
    reader=audio_readers.read_transcription,
    answer_usage=transcription_usage,
    new_tally=transcript_tally,
    upload=True,
)
TRANSLATIONS = _audio_route(
    "translations",
    "/audio/translations",
    "transcription",
    reader=audio_readers.read_transcription,
    answer_usage=transcription_usage,
    new_tally=transcript_tally,
    upload=True,
)
SPEECH = _audio_route(
    "speech",
    "/audio/speech",
    "speech",
    reader=audio_readers.read_speech,
    answer_usage=speech_usage,
    new_tally=speech_tally,
)


def gemini_error_event(message: str) -> bytes:
    """Google's error object, as its SDKs read one in a stream."""
    error = {"code": 502, "message": message, "status": "UNAVAILABLE"}
    return b"data: " + orjson.dumps({"error": error}) + b"\n\n"


def gemini_tally(client_wants_usage: bool) -> StreamTally:
    return gemini.GeminiStreamTally()


GEMINI = Endpoint(
    name="generate_content",
    path=":generateContent",
    scope="chat",
    kind="chat",
    wire="gemini",
    read_request=read_gemini,
    read_usage=gemini.answer_usage,
    answer_text=gemini.candidate_texts,
    new_tally=gemini_tally,
    error_event=gemini_error_event,
    clamps=False,  # its output cap sits in generationConfig
    max_tokens_field="maxOutputTokens",
    wrong_provider="'{model}' is not served by a Gemini API provider.",
    path_model="model",
    model_in_body=False,
    stream_cost_path=("usageMetadata",),
    answer_cost_path=("usageMetadata",),
)
GEMINI_STREAM = replace(
    GEMINI,
    name="stream_generate_content",
    path=":streamGenerateContent?alt=sse",
    always_streams=True,
)


def chat_from_gemini_tally(client_wants_usage: bool) -> StreamTally:
    return gemini_chat.ChatFromGeminiTally(client_wants_usage)


# OpenAI chat clients reaching a model on Google's wire: Gemini's paths and usage, the
# request and the answer translated (llm/gemini/translate.py).
CHAT_TO_GEMINI: Endpoint = replace(
    GEMINI,
    name="chat",
    wire="openai",
    read_request=gemini_translate.read_translated,
    new_tally=chat_from_gemini_tally,
    error_event=openai_error_event,
    stream_end=OPENAI_DONE,
    clamps=True,
    max_tokens_field="max_completion_tokens",
    path_model="",
    translate=gemini_translate.to_gemini,
    answer=gemini_chat.to_chat,
    answer_cost_path=("usage",),  # the translated answer's
)
CHAT_TO_GEMINI_STREAM: Endpoint = replace(
    CHAT_TO_GEMINI, path=GEMINI_STREAM.path, always_streams=True
)


def chat_from_converse_tally(client_wants_usage: bool) -> StreamTally:
    return converse_chat.ChatFromConverseTally(client_wants_usage)


# OpenAI chat clients reaching any Bedrock model through the Converse API.
CHAT_TO_CONVERSE: Endpoint = replace(
    CHAT_TO_GEMINI,
    name="chat",
    path="/converse",
    read_request=converse_translate.read_translated,
    read_usage=converse_chat.answer_usage,
    answer_text=converse_chat.answer_text,
    new_tally=chat_from_converse_tally,
    translate=converse_translate.to_converse,
    answer=converse_chat.to_chat,
    stream_cost_path=("usage",),
)
CHAT_TO_CONVERSE_STREAM: Endpoint = replace(
    CHAT_TO_CONVERSE, path="/converse-stream", always_streams=True
)


def _realtime_request(body: Body, price: ModelPrice, counter: TokenCounter) -> Sizing:
    """Never called: a Realtime session's responses are sized from its events
    (services/metering/realtime_meter.py), not from a request body."""
    raise NotImplementedError("a Realtime response is sized from its session's events")


# OpenAI's Realtime API over WebSocket (http/proxy/realtime.py): the value a response's
# reservation carries, so it is admitted, capped and settled like any other call.
REALTIME = _openai(
    "realtime",
    "/realtime",
    "realtime",
    _realtime_request,
    answer_text=no_text,
    asks_stream_usage=False,
    clamps=False,
    providers=frozenset({"openai"}),
    wrong_provider="'{model}' is not served on the Realtime route.",
)
