"""OpenAI's images answers as the official SDK parses them (ImagesResponse and the image
stream events): pure builders only.

DALL-E models answer with URLs and no usage; GPT image models with base64 images and a
`usage` of text and image input tokens and image output tokens, as many as OpenAI's table
gives for the size and quality (each partial image of a stream 100 more).
"""

from __future__ import annotations

import base64
import time
from typing import Any

from gateway.devtools.demo_upstream.control import JSON
from gateway.devtools.demo_upstream.frames import Frame

# A 1x1 transparent PNG: every image the demo makes.
PIXEL = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
    )
).decode()
OUTPUT_TOKENS = {
    "low": {"1024x1024": 272, "1024x1536": 408, "1536x1024": 400},
    "medium": {"1024x1024": 1056, "1024x1536": 1584, "1536x1024": 1568},
    "high": {"1024x1024": 4160, "1024x1536": 6240, "1536x1024": 6208},
}


def is_token_model(model: str) -> bool:
    return not model.startswith("dall-e")


def made(body: JSON) -> tuple[str, str]:
    """(size, quality) the demo makes: "auto" picks 1024x1024 at medium quality."""
    size = body.get("size") or "auto"
    quality = body.get("quality") or "auto"
    return (
        "1024x1024" if size == "auto" else str(size),
        "medium" if quality == "auto" else str(quality),
    )


def token_usage(text_tokens: int, image_tokens: int, output_tokens: int) -> JSON:
    return {
        "input_tokens": text_tokens + image_tokens,
        "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
        "output_tokens": output_tokens,
        "total_tokens": text_tokens + image_tokens + output_tokens,
    }


def output_tokens(body: JSON, n: int) -> int:
    size, quality = made(body)
    return OUTPUT_TOKENS.get(quality, OUTPUT_TOKENS["medium"]).get(size, 1056) * n


def images_response(model: str, n: int, usage: JSON | None) -> JSON:
    if is_token_model(model):
        data: list[JSON] = [{"b64_json": PIXEL} for _ in range(n)]
    else:
        data = [{"url": f"https://images.example/{i}.png", "revised_prompt": "p"} for i in range(n)]
    answer: dict[str, Any] = {"created": int(time.time()), "data": data}
    if usage is not None:
        answer["usage"] = usage
    return answer


def image_frames(kind: str, body: JSON, partial: int, usage: JSON | None) -> list[Frame]:
    """`kind` is "image_generation" or "image_edit": partial images, then the completed one."""
    size, quality = made(body)
    common = {"background": "opaque", "created_at": int(time.time()), "output_format": "png"}
    common |= {"quality": quality, "size": size, "b64_json": PIXEL}
    frames = [
        Frame.of(
            {**common, "type": f"{kind}.partial_image", "partial_image_index": i},
            event=f"{kind}.partial_image",
            content=True,
        )
        for i in range(partial)
    ]
    done: dict[str, Any] = {**common, "type": f"{kind}.completed"}
    if usage is not None:
        done["usage"] = usage
    frames.append(Frame.of(done, event=f"{kind}.completed", content=True))
    return frames
