"""HTTP spelling of rate-limit windows and retry policy (gateway/http/headers.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from billing.money.admission import RateWindow
from billing.money.answers import rfc3339
from gateway import errors
from gateway.http.headers import duration, error_headers, ratelimit_headers

NOW = int(datetime(2026, 11, 21, 12, 0, tzinfo=UTC).timestamp() * 1000)


def test_ratelimit_headers_and_durations() -> None:
    headers = ratelimit_headers(
        RateWindow(60, 59, NOW + 1000), RateWindow(1000, 0, NOW + 62_500), NOW
    )
    assert headers == {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "59",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "1m2s",
    }
    assert ratelimit_headers(None, None, NOW) == {}
    assert [duration(x) for x in (20, 3_723_000)] == ["20ms", "1h2m3s"]
    assert rfc3339(0) == "1970-01-01T00:00:00Z"


def test_retry_policy_is_declared_by_the_error_class() -> None:
    never = [errors.InvalidRequest, errors.BillingRequired, errors.PermissionDenied,
             errors.NotFound, errors.ModelNotFound, errors.PayloadTooLarge]  # fmt: skip
    for cls in never:
        assert error_headers(cls("x")) == {"x-should-retry": "false"}, cls
    for cls in (errors.InvalidApiKey, errors.QuotaExceeded, errors.UpstreamError):
        assert error_headers(cls("x")) == {}, cls


def test_an_instance_may_advise_and_explicit_headers_win() -> None:
    busy = errors.ServiceUnavailable("x", retry_after_s=5)
    assert error_headers(busy) == {"retry-after": "5"}
    late = errors.QuotaExceeded("x", retry_after_s=90, should_retry=False)
    assert error_headers(late) == {"retry-after": "90", "x-should-retry": "false"}
    told = errors.InvalidRequest("x", headers={"x-should-retry": "true"})
    assert error_headers(told) == {"x-should-retry": "true"}


def test_provider_error_keeps_its_back_off_and_ours_move_aside() -> None:
    from gateway.http.headers import provider_error_headers, request_id_headers

    ours = {**request_id_headers("rid"), "x-ratelimit-limit-requests": "60"}
    provider = {
        "Retry-After": "3",
        "retry-after-ms": "2500",
        "x-ratelimit-remaining-tokens": "0",
        "anthropic-ratelimit-requests-remaining": "0",
        "set-cookie": "never=forwarded",
    }
    assert provider_error_headers(ours, provider) == {
        "x-request-id": "rid",
        "request-id": "rid",
        "x-meterway-ratelimit-limit-requests": "60",
        "retry-after": "3",
        "retry-after-ms": "2500",
        "x-ratelimit-remaining-tokens": "0",
        "anthropic-ratelimit-requests-remaining": "0",
    }
