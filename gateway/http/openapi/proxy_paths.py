"""OpenAPI paths of the proxy: each provider wire's metered routes (OpenAI's, Anthropic's,
Azure OpenAI's and Gemini's forms). Moved out of paths.py, unchanged."""

from __future__ import annotations

from typing import Any

from gateway.http.openapi.paths import PROXY
from gateway.http.openapi.schemas import BOOL, INT, JSON_OBJECT, STR, op, path_param

_CALL = {
    "type": "object",
    "required": ["model"],
    "properties": {"model": STR, "stream": BOOL, "max_tokens": INT},
    "description": "The provider's own request body (OpenAI or Anthropic wire format).",
}


def _proxy(summary: str) -> dict[str, Any]:
    return op(summary, "proxy", PROXY, ok=JSON_OBJECT, body=_CALL)


def proxy_paths() -> dict[str, Any]:
    return {
        "/v1/chat/completions": {"post": _proxy("OpenAI chat completion, metered")},
        "/v1/completions": {"post": _proxy("OpenAI legacy completion, metered")},
        "/v1/embeddings": {"post": _proxy("OpenAI embeddings, metered")},
        "/v1/moderations": {"post": _proxy("OpenAI moderations, counted (free unless priced)")},
        "/v1/messages": {"post": _proxy("Anthropic messages, metered")},
        "/v1/images/generations": {
            "post": _proxy("OpenAI image generation, per image (DALL-E) or in tokens")
        },
        "/v1/images/edits": {"post": _proxy("OpenAI image edits (multipart upload), metered")},
        "/v1/audio/transcriptions": {
            "post": _proxy("OpenAI transcription (multipart upload), per second or in tokens")
        },
        "/v1/audio/translations": {
            "post": _proxy("OpenAI translation to English (multipart upload), per second")
        },
        "/v1/audio/speech": {
            "post": _proxy("OpenAI text to speech, per character or in tokens; audio relayed")
        },
        "/v1/images/variations": {
            "post": _proxy("OpenAI image variations (multipart upload, DALL-E 2), metered")
        },
        "/v1/models": {"get": op("Models this key may use", "proxy", PROXY, ok=JSON_OBJECT)},
        **azure_paths(),
        **gemini_paths(),
    }


_MODEL = path_param("model")


def gemini_paths() -> dict[str, Any]:
    """Gemini's own form, for the google-genai SDK by base URL (the key as x-goog-api-key)."""
    what = {
        "generateContent": "Gemini generateContent, metered",
        "streamGenerateContent": "Gemini streamGenerateContent (SSE with alt=sse), metered",
        "countTokens": "Gemini countTokens: the provider's count, not billed",
    }
    return {
        f"/{version}/models/{{model}}:{method}": {
            "post": op(summary, "proxy", PROXY, ok=JSON_OBJECT, body=_CALL, params=(_MODEL,))
        }
        for version in ("v1", "v1beta")
        for method, summary in what.items()
    }


_DEPLOYMENT = path_param("deployment")


def azure_paths() -> dict[str, Any]:
    """Azure OpenAI's forms of the same routes, for `openai.AzureOpenAI` clients (the key
    as `api-key`): the dated API names the model by its deployment, the v1 API in the body."""
    dated = {
        f"/openai/deployments/{{deployment}}/{name}": {
            "post": op(
                f"Azure OpenAI {name}, the model named by the deployment, metered",
                "proxy",
                PROXY,
                ok=JSON_OBJECT,
                body=_CALL,
                params=(_DEPLOYMENT,),
            )
        }
        for name in ("chat/completions", "completions", "embeddings")
    }
    v1 = {
        f"/openai/v1/{name}": {"post": _proxy(f"Azure OpenAI v1 API {name}, metered")}
        for name in ("chat/completions", "completions", "embeddings", "responses")
    }
    return {**dated, **v1, "/openai/responses": {"post": _proxy("Azure OpenAI responses")}}
