"""The OpenAPI document's patterns are the handlers' rules: read alike by Python and ECMA."""

from __future__ import annotations

import re

from aiohttp import web

from gateway.http import bodies
from gateway.http.openapi.document import Catalogue, build_document


def test_space_is_what_str_isspace_calls_white_space() -> None:
    space = re.compile(f"[{bodies.SPACE}]")
    assert all(chr(c).isspace() == bool(space.fullmatch(chr(c))) for c in range(0x110000))


def test_text_is_what_text_field_took_before_it_had_a_pattern() -> None:
    for value in ("a", " a ", "a\x00", "", " \t\u3000", "\u00a0x", "x" * 200, "x" * 201):
        old = bool(value.strip()) and len(value) <= 200 and "\x00" not in value
        assert (len(value) <= bodies.TEXT_MAX and bool(bodies.TEXT.fullmatch(value))) == old


def test_member_email_is_one_at_with_something_either_side() -> None:
    for value in ("a@b", " a@b ", "@b", "a@", " @b", "a@b@c", "a @ b", "a@\x00"):
        trimmed = value.strip()
        old = trimmed.count("@") == 1 and trimmed[0] != "@" and trimmed[-1] != "@"
        assert bool(bodies.EMAIL.fullmatch(value)) == (old and "\x00" not in value)


def test_the_apps_names_are_enums() -> None:
    catalogue = Catalogue(("free", "pro"), ("free",), ("openai",), ("ocr_page",), (100, 200))
    schemas = build_document(web.Application(), catalogue)["components"]["schemas"]
    assert schemas["PlanName"]["enum"] == ["free", "pro"]
    assert schemas["PlanForSale"]["enum"] == ["free"]
    assert schemas["Provider"]["enum"] == ["openai"]
    assert schemas["MeterName"]["enum"] == ["ocr_page"]
    assert (schemas["TopupAmount"]["minimum"], schemas["TopupAmount"]["maximum"]) == (100, 200)
    assert "enum" not in build_document(web.Application())["components"]["schemas"]["PlanName"]
