"""The client's cache headers: Cache-Control's directives and the TTL it asks for."""

from __future__ import annotations

import pytest

from billing.cache import TTL_HEADER, CacheControlError, CacheControls, read_controls


def controls(cache_control: str | None = None, ttl: str | None = None) -> CacheControls:
    return read_controls(cache_control, ttl, 3600)


def test_no_headers_read_and_store_for_the_operators_maximum() -> None:
    assert controls() == CacheControls(no_cache=False, no_store=False, ttl_s=3600)
    assert controls().reads and controls().stores
    assert controls("") == controls()


@pytest.mark.parametrize(
    "value",
    [
        "no-cache",
        "NO-CACHE",
        " no-cache ",
        "max-age=0, no-cache",
        'no-cache="x-a, x-b"',
        ",,no-cache,",
    ],
)
def test_no_cache_skips_the_read_but_may_store(value: str) -> None:
    found = controls(value)
    assert (found.no_cache, found.no_store, found.reads, found.stores) == (True, False, False, True)


@pytest.mark.parametrize(
    "value",
    ["no-store", "No-Store", "private,no-store", "foo=bar ,\tno-store", 'x="a\\"b", no-store'],
)
def test_no_store_neither_reads_nor_stores(value: str) -> None:
    found = controls(value)
    assert (found.no_cache, found.no_store, found.reads, found.stores) == (True, True, False, False)


@pytest.mark.parametrize(
    "value",
    [
        "max-age=60",
        "private",
        'foo="no-store"',  # a quoted argument is not a directive
        'foo="no-cache, no-store"',
        "no-cacheX",
        "no cache",
        "no-store-please",
        "=no-store",
    ],
)
def test_other_and_unknown_directives_are_ignored(value: str) -> None:
    assert controls(value) == controls()


def test_an_unclosed_quote_is_read_as_no_store() -> None:
    assert controls('foo="bar, no-cache').no_store
    assert controls('foo="bar\\"').no_store


@pytest.mark.parametrize(
    ("value", "ttl"),
    [("60", 60), (" 60\t", 60), ("0", 0), ("007", 7), ("3600", 3600), ("3601", 3600)],
)
def test_a_ttl_is_whole_seconds_clamped_to_the_maximum(value: str, ttl: int) -> None:
    assert controls(ttl=value).ttl_s == ttl


def test_a_huge_ttl_is_clamped_without_reading_it_whole() -> None:
    assert controls(ttl="9" * 5000).ttl_s == 3600


def test_a_zero_ttl_stores_nothing_but_may_read() -> None:
    found = controls(ttl="0")
    assert found.reads and not found.stores


@pytest.mark.parametrize("value", ["", " ", "-1", "+5", "1.5", "1e3", "sixty", "٣", "6 0", "0x10"])
def test_a_malformed_ttl_is_refused_naming_the_header(value: str) -> None:
    with pytest.raises(CacheControlError) as refused:
        controls(ttl=value)
    assert refused.value.header == TTL_HEADER == "x-meterway-cache-ttl"
    assert TTL_HEADER in str(refused.value)


def test_the_operators_maximum_must_be_positive() -> None:
    with pytest.raises(ValueError, match="maximum"):
        read_controls(None, None, 0)
