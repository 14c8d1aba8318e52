"""Return URLs: absolute, on an allowed origin, never an open redirect; and the boot refuses
Stripe without PUBLIC_URL (Stripe refuses a path as success_url)."""

from __future__ import annotations

import pytest

from gateway.config.return_urls import ReturnUrls, origin, with_params
from gateway.config.settings import load_settings
from gateway.config.values import ConfigError
from gateway.errors import InvalidRequest
from tests.support.fakes.stripe_stack import url_rule_breaks

GOOD = {"DATABASE_URL": "postgresql://u@h/db", "ADMIN_API_KEY": "0123456789abcdef-secret"}
STRIPE = GOOD | {"STRIPE_API_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET": "whsec_x"}
BASE = "https://meter.example.com"
URLS = ReturnUrls(frozenset({"https://app.example.com", "http://localhost:3000"}))


def test_no_return_url_is_the_dashboards_billing_page_on_public_url() -> None:
    assert URLS.pick(None, BASE) == "https://meter.example.com/dashboard/billing"


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example.com/billing?x=1#done",
        "HTTPS://App.Example.com:443/back",
        "http://localhost:3000/",
        "https://meter.example.com/elsewhere",  # PUBLIC_URL's origin is always allowed
    ],
)
def test_allowed_origins_pass_unchanged(url: str) -> None:
    assert URLS.pick(url, BASE) == url


@pytest.mark.parametrize(
    "url",
    [
        "/dashboard/billing",
        "//evil.example.net/x",
        "https://evil.example.net/",
        "https://app.example.com.evil.example.net/",
        "https://app.example.com:8443/",
        "http://app.example.com/",  # scheme is part of the origin
        "https://user@app.example.com/",
        "javascript:alert(1)",
        "http://[x",  # urlsplit raises ValueError: a 400, not a 500
        "https://app.example.com:99999/",
        "https://app.example.com/a b",
        'https://app.example.com/"><script>',
        "https://app.example.com/" + "a" * 2000,
        "",
        42,
        ["https://app.example.com/"],
    ],
)
def test_anything_else_is_a_400_naming_return_url(url: object) -> None:
    with pytest.raises(InvalidRequest) as caught:
        URLS.pick(url, BASE)
    assert caught.value.param == "return_url"


def test_origin_normalizes_case_and_default_ports() -> None:
    assert origin("HTTP://Example.COM:80/a?b") == "http://example.com"
    assert origin("https://[::1]:8443/") == "https://[::1]:8443"


def test_params_join_the_query_and_keep_the_fragment() -> None:
    assert with_params("https://a.example/p?x=1#f", [("checkout", "success")], template=True) == (
        "https://a.example/p?x=1&checkout=success&session_id={CHECKOUT_SESSION_ID}#f"
    )
    assert with_params("https://a.example/p", [("checkout", "cancel")]) == (
        "https://a.example/p?checkout=cancel"
    )


def test_stripes_rules_refuse_what_the_gateway_used_to_send() -> None:
    assert url_rule_breaks("success_url", "/v1/account/billing?checkout=success")
    assert url_rule_breaks("return_url", "https://a.example/?" + "q" * 5000)
    assert url_rule_breaks("cancel_url", "https://a.example/?s={CHECKOUT_SESSION_ID}")
    assert not url_rule_breaks("success_url", "https://a.example/?s={CHECKOUT_SESSION_ID}")


def test_stripe_needs_public_url_and_origins_must_be_origins() -> None:
    with pytest.raises(ConfigError, match="PAYMENTS_PROVIDER=stripe needs PUBLIC_URL"):
        load_settings(STRIPE)
    s = load_settings(
        STRIPE | {"PUBLIC_URL": BASE, "RETURN_URL_ORIGINS": "https://A.example, http://b:81"}
    )
    assert s.payments.return_url_origins == ("https://a.example", "http://b:81")
    for bad in ("https://a.example/path", "ftp://a.example", "a.example", "http://[::1"):
        with pytest.raises(ConfigError, match="RETURN_URL_ORIGINS"):
            load_settings(GOOD | {"RETURN_URL_ORIGINS": bad})


def test_stripe_tax_needs_stripe_and_a_tax_code() -> None:
    with pytest.raises(ConfigError, match="INVOICE_TAX=stripe needs PAYMENTS_PROVIDER=stripe"):
        load_settings(GOOD | {"INVOICE_TAX": "stripe"})
    with pytest.raises(ConfigError, match="INVOICE_TAX must be table or stripe"):
        load_settings(GOOD | {"INVOICE_TAX": "avalara"})
    with pytest.raises(ConfigError, match="INVOICE_TAX_CODE"):
        load_settings(STRIPE | {"PUBLIC_URL": BASE, "INVOICE_TAX": "stripe",
                                "INVOICE_TAX_CODE": "10000000"})  # fmt: skip
    s = load_settings(STRIPE | {"PUBLIC_URL": BASE, "INVOICE_TAX": "Stripe"})
    assert (s.invoice_tax, s.invoice_tax_code) == ("stripe", "txcd_10000000")
    assert load_settings(GOOD).invoice_tax == "table"
