"""One exception class per client-visible error, each with its own status and code."""

from __future__ import annotations

import inspect

from gateway import errors


def error_classes() -> list[type[errors.MeterwayError]]:
    return [
        c
        for _, c in inspect.getmembers(errors, inspect.isclass)
        if issubclass(c, errors.MeterwayError) and c is not errors.MeterwayError
    ]


def test_each_class_has_a_distinct_status_and_code() -> None:
    pairs = [(c.status, c.code) for c in error_classes()]
    assert len(pairs) == len(set(pairs))
    statuses = {c.status for c in error_classes()}
    assert {400, 401, 402, 403, 404, 413, 429, 502, 503, 504} <= statuses


def test_tree_in_the_docstring_names_every_class() -> None:
    doc = errors.__doc__ or ""
    for cls in error_classes():
        assert cls.__name__ in doc
        assert str(cls.status) in doc


def test_bodies() -> None:
    exc = errors.QuotaExceeded("full", extra={"window": "day"})
    assert exc.openai_body() == {
        "error": {
            "message": "full",
            "type": "quota_exceeded",
            "code": "quota_exceeded",
            "param": None,
            "window": "day",
        }
    }
    assert exc.anthropic_body()["error"]["type"] == "rate_limit_error"
    assert exc.anthropic_body()["type"] == "error"
