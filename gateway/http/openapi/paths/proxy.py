"""OpenAPI paths of the proxy: each provider wire's metered routes (OpenAI's, Anthropic's,
Azure OpenAI's and Gemini's forms). Moved out of paths.py, unchanged."""

from __future__ import annotations

from typing import Any

from gateway.http.openapi.paths.operator import PROXY
from gateway.http.openapi.schemas import BOOL, INT, JSON_OBJECT, STR, Operation, op, path_param

_CALL = {
    "type": "object",
    "required": ["model"],
    "properties": {"model": STR, "stream": BOOL, "max_tokens": INT},
    "description": "The provider's own request body (OpenAI or Anthropic wire format).",
}


def _proxy(summary: str) -> dict[str, Any]:
    return op(summary, "proxy", PROXY, ok=JSON_OBJECT, body=_CALL)


CHAT: Operation = _proxy("OpenAI chat completion, metered")
COMPLETIONS: Operation = _proxy("OpenAI legacy completion, metered")
EMBEDDINGS: Operation = _proxy("OpenAI embeddings, metered")
MODERATIONS: Operation = _proxy("OpenAI moderations, counted (free unless priced)")
MESSAGES: Operation = _proxy("Anthropic messages, metered")
IMAGE_GENERATIONS: Operation = _proxy("OpenAI image generation, per image (DALL-E) or in tokens")
IMAGE_EDITS: Operation = _proxy("OpenAI image edits (multipart upload), metered")
TRANSCRIPTIONS: Operation = _proxy(
    "OpenAI transcription (multipart upload), per second or in tokens"
)
TRANSLATIONS: Operation = _proxy("OpenAI translation to English (multipart upload), per second")
SPEECH: Operation = _proxy("OpenAI text to speech, per character or in tokens; audio relayed")
IMAGE_VARIATIONS: Operation = _proxy(
    "OpenAI image variations (multipart upload, DALL-E 2), metered"
)
LIST_MODELS: Operation = op("Models this key may use", "proxy", PROXY, ok=JSON_OBJECT)


_MODEL = path_param("model")


_GEMINI = {
    "generateContent": "Gemini generateContent, metered",
    "streamGenerateContent": "Gemini streamGenerateContent (SSE with alt=sse), metered",
    "countTokens": "Gemini countTokens: the provider's count, not billed",
}


def gemini(path: str) -> Operation:
    """Gemini's own form, for the google-genai SDK by base URL (the key as x-goog-api-key):
    the model and the method in the path."""
    summary = _GEMINI[path.rsplit(":", 1)[1]]
    return op(summary, "proxy", PROXY, ok=JSON_OBJECT, body=_CALL, params=(_MODEL,))


_DEPLOYMENT = path_param("deployment")


def azure(path: str) -> Operation:
    """Azure OpenAI's forms of the same routes, for `openai.AzureOpenAI` clients (the key
    as `api-key`): the dated API names the model by its deployment, the v1 API in the body."""
    if path == "/openai/responses":
        return _proxy("Azure OpenAI responses")
    dated, name = "/deployments/" in path, path.split("}/", 1)[-1].removeprefix("/openai/v1/")
    if not dated:
        return _proxy(f"Azure OpenAI v1 API {name}, metered")
    summary = f"Azure OpenAI {name}, the model named by the deployment, metered"
    return op(summary, "proxy", PROXY, ok=JSON_OBJECT, body=_CALL, params=(_DEPLOYMENT,))
