"""Whole numbers from people: every form field, query parameter and path segment that is a
number, and every JSON body field that is one, is read here and nowhere else.

Text is a number only as ASCII digits, with one leading '-' where the field allows
negatives: never a Unicode digit ('²', '٣', a full-width 5: `str.isdigit` and `int` take
some of them), a '+', an underscore, a space inside, or nothing. A form's field may come
with ASCII white space around it (a pasted value), which is cut; a query parameter or path
segment may not. Every field has a bound (at most 2^63-1, PostgreSQL's bigint), checked on
the digits' length before `int` sees them, so 5,000 digits are a 400 like any other. A
JSON field must be a JSON integer (`true` and `2.0` are not), within the same bounds.
Each refusal is an InvalidRequest naming the field.
"""

from __future__ import annotations

from gateway.errors import InvalidRequest

INT64_MAX = 2**63 - 1
ASCII_SPACE = " \t\n\r\x0b\x0c"


def refused(name: str, minimum: int, maximum: int, words: str | None = None) -> InvalidRequest:
    return InvalidRequest(
        words or f"'{name}' must be a whole number from {minimum} to {maximum}.", param=name
    )


def parse_whole(
    text: str,
    name: str,
    *,
    minimum: int = 0,
    maximum: int = INT64_MAX,
    form: bool = False,
    words: str | None = None,
) -> int:
    """`text` as an integer in [minimum, maximum]; `form`: ASCII white space around is cut.
    A '-' is read only when `minimum` is negative."""
    value = text.strip(ASCII_SPACE) if form else text
    negative = minimum < 0 and value.startswith("-")
    digits = value[1:] if negative else value
    longest = len(str(max(abs(minimum), abs(maximum))))
    if not digits.isascii() or not digits.isdigit() or len(digits.lstrip("0")) > longest:
        raise refused(name, minimum, maximum, words)
    n = int(digits.lstrip("0") or "0")
    return bounded(-n if negative else n, name, minimum, maximum, words)


def json_whole(
    value: object,
    name: str,
    *,
    minimum: int = 0,
    maximum: int = INT64_MAX,
    words: str | None = None,
) -> int:
    """A JSON body's integer field in [minimum, maximum] (a bool, a float or a string is
    not one)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise refused(name, minimum, maximum, words)
    return bounded(value, name, minimum, maximum, words)


def bounded(n: int, name: str, minimum: int, maximum: int, words: str | None = None) -> int:
    if not minimum <= n <= maximum:
        raise refused(name, minimum, maximum, words)
    return n
