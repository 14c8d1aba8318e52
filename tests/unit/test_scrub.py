"""What a client may read of a provider's text: no internal URL or address, no secret-named
query value, no echoed credential header; JSON stays JSON."""

from __future__ import annotations

import json

import pytest

from gateway.errors import UpstreamError
from gateway.llm.scrub import INTERNAL_URL, ClientScrubber, for_client, internal_address
from gateway.scrubbing import REDACTED, scrub

UPSTREAM = "llm-proxy.corp.example"


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3:8443/internal/v1",
        "https://192.168.0.7/v1/chat",
        "http://172.16.9.9/x",
        "http://127.0.0.1:6379/",
        "http://169.254.169.254/latest/meta-data/iam",
        "http://100.64.0.1/",
        "http://[::1]:8080/",
        "http://[fd00:ec2::254]/",
        "http://[fe80::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://localhost:9000/a",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://svc.namespace.svc/x",
        "http://litellm:4000/v1",
        f"https://{UPSTREAM}/v1/chat/completions",
        f"https://{UPSTREAM.upper()}:443/v1",
    ],
)
def test_an_internal_or_upstream_url_becomes_a_placeholder(url: str) -> None:
    text = for_client(f"upstream {url} failed", hosts=[UPSTREAM])
    assert text == f"upstream {INTERNAL_URL} failed", text


def test_a_public_url_stays_but_loses_its_secret_query_values() -> None:
    url = (
        "https://files.example.com/o?X-Amz-Signature=abc123&X-Amz-Credential=AKIA/x"
        "&token=t0k&sig=s1g&api_key=k3y&password=pw&code=c0de&auth=a&page=2"
    )
    text = for_client(f"see {url}", hosts=[UPSTREAM])
    for leaked in ("abc123", "AKIA", "t0k", "s1g", "k3y", "=pw", "c0de", "auth=a"):
        assert leaked not in text, (leaked, text)
    assert "https://files.example.com/o?" in text and "page=2" in text
    assert f"X-Amz-Signature={REDACTED}" in text


def test_a_json_escaped_internal_url_is_hidden_too() -> None:
    text = for_client(r'{"m": "via http:\/\/10.1.2.3:8443\/internal\/v1 failed"}')
    assert "internal" not in text.replace(INTERNAL_URL, "") and "10.1.2.3" not in text
    assert json.loads(text)["m"] == f"via {INTERNAL_URL} failed"


def test_a_public_ipv6_url_stays() -> None:
    assert for_client("see http://[2606:4700::1111]/x") == "see http://[2606:4700::1111]/x"


def test_bare_internal_addresses_are_hidden_public_ones_stay() -> None:
    text = for_client("connect 10.1.2.3:8443 refused; resolver 8.8.8.8 ok")
    assert "10.1.2.3" not in text and "8.8.8.8" in text


def test_echoed_headers_are_stripped_in_every_shape() -> None:
    body = {
        "error": {
            "message": (
                "request headers: Authorization: AWS4-HMAC-SHA256 Credential=AKIAX/20240101,"
                " SignedHeaders=host, Signature=deadbeef\\nnext\nCookie: session=s3ss"
            ),
            "echo": {
                "authorization": "Bearer opaque-token-value",
                "x-api-key": "anything-at-all",
                "api-key": "azure-key-value",
                "x-goog-api-key": "AIzaSyD-google",
                "Cookie": "sid=abcd; other=1",
                "x-amz-security-token": "FwoGZXIvYXdzE",
                "openai-organization": "acme-org",
            },
            "nested": json.dumps({"authorization": "Bearer nested-secret-1"}),
        }
    }
    text = for_client(json.dumps(body))
    doc = json.loads(text)  # still JSON
    for leaked in (
        "AKIAX",
        "deadbeef",
        "s3ss",
        "opaque-token",
        "anything-at-all",
        "azure-key-value",
        "AIzaSyD",
        "sid=abcd",
        "FwoGZXIvYXdzE",
        "acme-org",
        "nested-secret",
    ):
        assert leaked not in text, (leaked, text)
    assert doc["error"]["echo"]["authorization"] == REDACTED


def test_header_lines_of_a_text_body() -> None:
    text = "HTTP/1.1 401\r\nX-Api-Key: plain-key-value\r\nContent-Type: text/plain\r\n"
    out = for_client(text)
    assert "plain-key-value" not in out and "Content-Type: text/plain" in out


def test_given_secrets_and_known_shapes_still_go() -> None:
    secret = "operator-secret-0123456789"
    text = for_client(f"key {secret} and sk-proj-ABCDEF123456 org-AbCdEf0123456789", [secret])
    assert secret not in text and "sk-proj" not in text and "org-AbCdEf" not in text


def test_logs_keep_internal_addresses_but_not_credentials() -> None:
    line = scrub("POST http://10.1.2.3:8443/v1?token=abc failed: x-api-key: k")
    assert "http://10.1.2.3:8443/v1?token=" in line and "abc" not in line
    assert "x-api-key: " + REDACTED in line


@pytest.mark.parametrize(
    ("host", "internal"),
    [
        ("10.0.0.1", True),
        ("100.127.255.255", True),
        ("169.254.169.254", True),
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("::ffff:127.0.0.1", True),
        ("fc00::1", True),
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
        ("example.com", False),
    ],
)
def test_internal_address(host: str, internal: bool) -> None:
    assert internal_address(host) is internal


def test_an_upstream_failure_is_scrubbed_in_place_before_a_client_reads_it() -> None:
    scrubber = ClientScrubber(("sk-operator-0123456789",), frozenset({"api.corp.example"}))
    failed = UpstreamError(
        "Could not open: 401, url='wss://api.corp.example/v1/realtime?key=sk-operator-0123456789'",
        extra={"upstream_body": "seen http://10.1.2.3/internal", "upstream_status": 401},
    )
    scrubber.error(failed)
    body = str(failed.openai_body())
    assert "sk-operator" not in body and "api.corp.example" not in body and "10.1.2.3" not in body
    assert failed.extra["upstream_status"] == 401 and str(failed) == failed.message
