"""multipart/form-data bodies as the demo provider reads them: text fields as strings, each
file as its filename, size, content type and first bytes (several under one name ending in
[] as a list), parsed with the standard library's e-mail parser."""

from __future__ import annotations

from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

HEAD_BYTES = 64


def is_form(content_type: str) -> bool:
    return content_type.lower().startswith("multipart/form-data")


def _file(part: Message) -> dict[str, Any]:
    data = part.get_payload(decode=True)
    raw = data if isinstance(data, bytes) else b""
    return {
        "filename": part.get_filename(),
        "bytes": len(raw),
        "content_type": part.get_content_type(),
        "head": raw[:HEAD_BYTES],
        "data": raw,
    }


def parse_form(content_type: str, raw: bytes) -> dict[str, Any] | None:
    """The form's fields, or None when the body is no multipart form."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"content-type: {content_type}\r\n\r\n".encode() + raw
    )
    if not message.is_multipart():
        return None
    form: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            return None
        if part.get_filename() is None:
            payload = part.get_payload(decode=True)
            value: Any = payload.decode() if isinstance(payload, bytes) else ""
        else:
            value = _file(part)
        if name.endswith("[]"):
            form.setdefault(name, []).append(value)
        else:
            form[name] = value
    return form
