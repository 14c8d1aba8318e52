"""Multipart uploads through the gateway: image edits and variations with the official SDK,
the file reaching the provider byte for byte under the gateway's own encoding, fields in any
order, MAX_UPLOAD_BYTES, and malformed bodies refused by name at no cost.

Prices by hand: dall-e-2 $0.016 (256x256) and $0.018 (512x512) an image; gpt-image-1 $5 per
1M text input tokens, $10 per 1M image input tokens, $40 per 1M image output tokens."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import openai
import pytest

from tests.support.factories import balance, debits, held, openai_client, tenant
from tests.support.harness import COUNTER, Gateway, running_gateway

PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(40_000)
PROMPT = "add a red kite in the sky"
CREDIT = 10_000_000


async def test_a_gpt_image_edit_is_billed_for_its_input_image_and_output(gw: Gateway) -> None:
    t = await tenant(gw, credit=CREDIT)
    async with openai_client(gw, t.key) as client:
        answer = await client.images.edit(
            model="gpt-image-1",
            image=("kite.png", PNG, "image/png"),
            prompt=PROMPT,
            quality="low",
            size="1024x1024",
        )
    assert answer.usage is not None
    # The demo counts 85 image tokens per input image; a low 1024x1024 image is 272 out.
    text = COUNTER.count_text("o200k_base", PROMPT)
    expected = text * 5 + 85 * 10 + 272 * 40
    rows = await debits(gw, t.account_id)
    assert [-r["amount_micros"] for r in rows] == [expected]
    sent = gw.control.last_request
    assert sent.path == "/v1/images/edits"
    assert sent.body["image"]["data"] == PNG and sent.body["image"]["filename"] == "kite.png"
    assert (sent.body["model"], sent.body["prompt"]) == ("gpt-image-1", PROMPT)
    assert "meterway-" in sent.headers["content-type"]  # re-encoded, not the client's bytes


async def test_dall_e_2_edit_and_variation_are_billed_per_image(gw: Gateway) -> None:
    t = await tenant(gw, credit=CREDIT)
    async with openai_client(gw, t.key) as client:
        await client.images.edit(
            model="dall-e-2",
            image=("a.png", PNG, "image/png"),
            mask=("m.png", PNG[:100], "image/png"),
            prompt=PROMPT,
            size="256x256",
        )
        with pytest.warns(DeprecationWarning):  # the SDK marks variations deprecated
            varied = await client.images.create_variation(
                model="dall-e-2", image=("a.png", PNG, "image/png"), n=2, size="512x512"
            )
    assert len(varied.data or []) == 2
    rows = await debits(gw, t.account_id)
    assert sorted(-r["amount_micros"] for r in rows) == [16_000, 2 * 18_000]
    assert await balance(gw, t.account_id) == CREDIT - 16_000 - 36_000


def _form(*parts: tuple[str, str | None, bytes]) -> tuple[bytes, str]:
    boundary = "client-boundary-1"
    body = b""
    for name, filename, value in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"\r\ncontent-type: image/png'
        body += f"--{boundary}\r\ncontent-disposition: {disposition}\r\n\r\n".encode()
        body += value + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


async def _post(
    gw: Gateway, key: str, body: bytes | AsyncIterator[bytes], content_type: str
) -> tuple[int, dict[str, object]]:
    headers = {"authorization": f"Bearer {key}", "content-type": content_type}
    async with gw.http.post(gw.url + "/v1/images/variations", data=body, headers=headers) as r:
        return r.status, await r.json()


async def test_the_file_may_come_before_the_fields(gw: Gateway) -> None:
    t = await tenant(gw, credit=CREDIT)
    body, kind = _form(
        ("image", "a.png", PNG), ("model", None, b"dall-e-2"), ("size", None, b"256x256")
    )
    status, answer = await _post(gw, t.key, body, kind)
    assert status == 200, answer
    assert [-r["amount_micros"] for r in await debits(gw, t.account_id)] == [16_000]


@pytest.mark.parametrize(
    ("body", "content_type", "param"),
    [
        (b"{}", "application/json", "content-type"),
        (b"--x\r\ncontent-disposition: form-data\r\n\r\nv\r\n--x--\r\n", "boundary=x", "body"),
        (_form(("model", None, b"dall-e-2"))[0][:-30], _form()[1], "body"),
        (_form(("model", None, b"dall-e-2"), ("model", None, b"dall-e-3"))[0], _form()[1], "model"),
        (_form(("model", None, b"dall-e-2"), ("n", None, b"two"))[0], _form()[1], "n"),
        (_form(("model", None, b"dall-e-2"))[0], _form()[1], "image"),
    ],
)
async def test_a_malformed_upload_is_refused_by_name_and_costs_nothing(
    gw: Gateway, body: bytes, content_type: str, param: str
) -> None:
    t = await tenant(gw, credit=CREDIT)
    kind = content_type if "/" in content_type else f"multipart/form-data; {content_type}"
    status, answer = await _post(gw, t.key, body, kind)
    assert status == 400, answer
    error = answer["error"]
    assert isinstance(error, dict) and error["param"] == param
    assert gw.control.requests == []
    assert (await balance(gw, t.account_id), await held(gw, t.account_id)) == (CREDIT, 0)


async def test_an_upload_over_the_limit_is_refused_with_413(dsn: str) -> None:
    async with running_gateway(dsn, MAX_UPLOAD_BYTES="32768") as small:
        t = await tenant(small, credit=CREDIT)
        async with openai_client(small, t.key) as client:
            with pytest.raises(openai.APIStatusError) as caught, pytest.warns(DeprecationWarning):
                await client.images.create_variation(
                    model="dall-e-2", image=("a.png", PNG, "image/png")
                )
        assert caught.value.status_code == 413
        body, kind = _form(("model", None, b"dall-e-2"), ("image", "a.png", PNG))

        async def trickle() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
            for start in range(0, len(body), 8192):
                yield body[start : start + 8192]

        status, answer = await _post(small, t.key, trickle(), kind)
        assert status == 413 and answer["error"]["param"] == "image"  # type: ignore[index]
        assert small.control.requests == []
        assert await balance(small, t.account_id) == CREDIT


async def test_a_streamed_edit_is_relayed_and_billed(gw: Gateway) -> None:
    t = await tenant(gw, credit=CREDIT)
    async with openai_client(gw, t.key) as client:
        stream = await client.images.edit(
            model="gpt-image-1",
            image=("kite.png", PNG, "image/png"),
            prompt=PROMPT,
            quality="low",
            size="1024x1024",
            stream=True,
            partial_images=1,
        )
        events = [event async for event in stream]
    assert [e.type for e in events] == ["image_edit.partial_image", "image_edit.completed"]
    text = COUNTER.count_text("o200k_base", PROMPT)
    expected = text * 5 + 85 * 10 + (272 + 100) * 40  # a partial image is 100 tokens more
    assert events[-1].model_dump()["usage"]["cost_micros"] == expected
    assert [-r["amount_micros"] for r in await debits(gw, t.account_id)] == [expected]
