"""Attacks on provider reconciliation (docs/guides/reconciliation.md) through the CLI and
the operator API, with the provider's reports rewritten in flight by tests/attack/reports.py."""

from __future__ import annotations

import asyncio
import codecs
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.attack.reports import (
    ANTHROPIC_ADMIN,
    OPENAI_ADMIN,
    Rewrite,
    Scene,
    add_to_first_bucket,
    cost_line,
    costs_path,
    scene,
    usage_path,
    with_cost_lines,
)
from tests.support.harness import temp_database

LEAKED = "o1-pro-2025-03-19"  # a model Meterway's card does not price and never forwarded


@pytest.fixture
async def own_dsn() -> AsyncIterator[str]:
    """A database of the test's own: reconciliation compares every ledger row of the day."""
    async with temp_database() as name:
        yield name


def usage_row(model: str, key: str, inp: int, out: int, cached: int = 0) -> dict[str, Any]:
    return {
        "object": "organization.usage.completions.result",
        "api_key_id": key,
        "model": model,
        "input_tokens": inp,
        "input_cached_tokens": cached,
        "input_cache_write_tokens": 0,
        "output_tokens": out,
        "num_model_requests": 1,
    }


def output_billed(amount: str) -> Rewrite:
    """The costs report with one more line billing gpt-4o-mini's output `amount` (as written)."""

    def billed(method: str, path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
        if costs_path(path):
            return status, with_cost_lines(body, cost_line(amount, "gpt-4o-mini, output"))
        return None

    return billed


def rows(found: Any) -> list[dict[str, Any]]:
    assert isinstance(found, list), found
    return [dict(r) for r in found]


def one(found: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    hits = [r for r in found if all(r.get(k) == v for k, v in match.items())]
    assert len(hits) == 1, (match, found)
    return hits[0]


async def ledger_micros(s: Scene) -> dict[str, int]:
    return {k: v[0] for k, v in (await ledger_side(s)).items()}


async def ledger_side(s: Scene) -> dict[str, tuple[int, int]]:
    """Meterway's cost of gpt-4o-mini's input and output today, learnt by a report whose
    cost lines are $0 (each then a difference that names the ledger's side)."""

    def zero_costs(method: str, path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
        if costs_path(path):
            return status, with_cost_lines(
                body,
                cost_line("0", "gpt-4o-mini-2024-07-18, input"),
                cost_line("0", "gpt-4o-mini-2024-07-18, output"),
            )
        return None

    s.reports.rewrite = zero_costs
    rc, found, text = await s.reconcile()
    assert rc == 3, text
    side = {r["kind"]: (int(r["ledger_micros"]), int(r["ledger_tokens"])) for r in rows(found)}
    assert side["output"][0] > 0, found
    return side


async def test_reports_that_agree_exit_0_and_name_nothing(own_dsn: str) -> None:
    async with scene(own_dsn, calls=2) as s:
        rc, found, text = await s.reconcile()
        assert rc == 0, text
        assert found == []
        assert any(usage_path(p) for p in s.reports.seen)


async def test_no_admin_key_exits_2(own_dsn: str) -> None:
    async with scene(own_dsn) as s:
        rc, _, text = await s.reconcile(
            RECONCILE_OPENAI_ADMIN_KEY="", RECONCILE_ANTHROPIC_ADMIN_KEY=""
        )
        assert rc == 2, text


async def test_leak_on_a_model_never_forwarded_is_worth_the_providers_bill(own_dsn: str) -> None:
    async with scene(own_dsn) as s:

        def leak(method: str, path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
            if usage_path(path):
                return status, add_to_first_bucket(body, usage_row(LEAKED, "key_x", 1000, 500))
            if costs_path(path):
                return status, with_cost_lines(
                    body,
                    cost_line("0.5", f"{LEAKED}, input"),
                    cost_line("0.25", f"{LEAKED}, output"),
                )
            return None

        s.reports.rewrite = leak
        rc, found, text = await s.reconcile()
        assert rc == 3, text
        got = rows(found)
        inp = one(got, model="o1-pro", kind="input")
        out = one(got, model="o1-pro", kind="output")
        for row, tokens, micros in ((inp, 1000, 500_000), (out, 500, 250_000)):
            assert row["class"] == "unmetered_traffic"
            assert row["valued_by"] == "provider_bill"
            assert row["provider_tokens"] == tokens and row["ledger_tokens"] == 0
            assert row["delta_micros"] == micros


async def test_leak_without_a_cost_line_is_never_worth_zero(own_dsn: str) -> None:
    """The provider bills the leaked tokens in one line (`o1-pro-2025-03-19`, no kind):
    the extra tokens are still worth what the provider billed, never $0."""
    async with scene(own_dsn) as s:

        def leak(method: str, path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
            if usage_path(path):
                return status, add_to_first_bucket(body, usage_row(LEAKED, "key_x", 1000, 500))
            if costs_path(path):
                return status, with_cost_lines(body, cost_line("0.75", LEAKED))
            return None

        s.reports.rewrite = leak
        rc, found, text = await s.reconcile()
        assert rc == 3, text
        leaked = [r for r in rows(found) if r["model"] == "o1-pro"]
        assert leaked, found
        tokens = [r for r in leaked if r["kind"] in ("input", "output")]
        assert len(tokens) == 2, found
        for row in tokens:
            assert row["valued_by"] == "provider_bill", row
            assert int(row["delta_micros"]) > 0, row
        assert sum(int(r["delta_micros"]) for r in leaked) == 750_000, found


async def test_leak_on_a_forwarded_models_snapshot_is_unmetered(own_dsn: str) -> None:
    async with scene(own_dsn) as s:

        def leak(method: str, path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
            if usage_path(path):
                extra = usage_row("gpt-4o-mini-2024-07-18", "key_x", 100_000, 0)
                return status, add_to_first_bucket(body, extra)
            return None

        s.reports.rewrite = leak
        rc, found, text = await s.reconcile()
        assert rc == 3, text
        row = one(rows(found), model="gpt-4o-mini", kind="input")
        assert row["class"] == "unmetered_traffic", row
        assert int(row["provider_tokens"]) - int(row["ledger_tokens"]) == 100_000
        assert row["valued_by"] == "ledger_rates"
        assert int(row["delta_micros"]) == 15_000, row  # 100,000 tokens at $0.15 per 1M


async def test_meterway_tokens_the_provider_does_not_report_are_unbilled(own_dsn: str) -> None:
    async with scene(own_dsn) as s:

        def drop(method: str, path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
            if usage_path(path):
                page = json.loads(body)
                for bucket in page["data"]:
                    bucket["results"] = []
                return status, json.dumps(page).encode()
            return None

        s.reports.rewrite = drop
        rc, found, text = await s.reconcile()
        assert rc == 3, text
        out = one(rows(found), model="gpt-4o-mini", kind="output")
        assert out["class"] == "unbilled_by_provider"
        assert int(out["delta_micros"]) < 0 and out["provider_tokens"] == 0


async def test_one_micro_is_openai_rounding_and_two_are_price_drift(own_dsn: str) -> None:
    """gpt-4o-mini's output is $0.60 per 1M tokens: Meterway's exact cost of N tokens is
    0.6 N micros. A bill within 1 micro of it is rounding; 2 micros beyond is drift."""
    async with scene(own_dsn, calls=3) as s:
        tokens = (await ledger_side(s))["output"][1]
        low, high = (tokens * 6) // 10, -((-tokens * 6) // 10)  # floor and ceil of 0.6 N
        for provider, cls in ((low, "provider_rounding"), (high, "provider_rounding"),
                              (high + 2, "price_drift"), (low - 2, "price_drift")):  # fmt: skip
            s.reports.rewrite = output_billed(f"{provider / 1_000_000:.6f}")
            rc, found, text = await s.reconcile()
            out = [r for r in rows(found) if r["kind"] == "output"]
            if cls == "provider_rounding":
                assert all(r["class"] == cls for r in out), json.dumps([provider, found])
            else:
                assert rc == 3, text
                row = one(out, model="gpt-4o-mini")
                assert row["class"] == cls, json.dumps([provider, row])
                assert int(row["provider_micros"]) == provider, row
                assert abs(int(row["delta_micros"])) >= 2, row


async def test_rounding_is_never_read_from_the_digits_of_an_amount(own_dsn: str) -> None:
    """`0.0001` (one significant digit) is $0.000100: 100 micros, not "about 0.0001"."""
    async with scene(own_dsn, calls=3) as s:
        output = (await ledger_micros(s))["output"]
        for written, provider in (("0.0001", 100), ("1.5e-4", 150), ("0.00030", 300)):
            s.reports.rewrite = output_billed(written)
            rc, found, text = await s.reconcile()
            assert rc == 3, text
            row = one(rows(found), model="gpt-4o-mini", kind="output")
            assert row["class"] == "price_drift", (written, row)
            assert int(row["provider_micros"]) == provider, (written, row)
            assert int(row["delta_micros"]) == provider - output, (written, row)


def leak_report(method: str, path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
    if usage_path(path):
        return status, add_to_first_bucket(body, usage_row(LEAKED, "key_x", 1000, 500))
    if costs_path(path):
        return status, with_cost_lines(
            body, cost_line("0.5", f"{LEAKED}, input"), cost_line("0.25", f"{LEAKED}, output")
        )
    return None


async def good_run_then(s: Scene, failure: Any) -> tuple[int, str, dict[str, Any]]:
    """A good run (two differences) then a failed one; (exit code, output, API answer)."""
    s.reports.rewrite = leak_report
    rc, found, text = await s.reconcile()
    assert rc == 3 and len(rows(found)) == 2, text
    before = await s.differences()
    good_at = one(before["runs"], credential="openai")["compared_at"]
    s.reports.rewrite = failure
    rc, _, text = await s.reconcile()
    after = await s.differences()
    kept = [d for d in after["differences"] if d["credential"] == "openai"]
    assert len(kept) == 2, after
    assert {(d["model"], d["kind"], d["delta_micros"]) for d in kept} == {
        ("o1-pro", "input", 500_000), ("o1-pro", "output", 250_000)
    }, after  # fmt: skip
    assert all(d["failed_run_at"] and d["failed_run_error"] for d in kept), kept
    run = one(after["runs"], credential="openai")
    assert run["error"], run
    assert run["compared_at"] == good_at, run
    return rc, text, after


async def test_a_500_after_the_first_page_keeps_the_last_good_differences(own_dsn: str) -> None:
    async with scene(own_dsn) as s:

        def midway(method: str, path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
            if "page=" in path:
                return 500, b'{"error": {"message": "internal error"}}'
            if usage_path(path):
                page = json.loads(body)
                page["has_more"], page["next_page"] = True, "page_2"
                return status, json.dumps(page).encode()
            return None

        rc, text, _ = await good_run_then(s, midway)
        assert rc == 1, text
        assert any("page=" in p for p in s.reports.seen), s.reports.seen


async def test_a_truncated_report_keeps_the_last_good_differences(own_dsn: str) -> None:
    async with scene(own_dsn) as s:

        def cut(method: str, path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
            if costs_path(path):
                return status, body[: len(body) // 2]
            return None

        rc, text, _ = await good_run_then(s, cut)
        assert rc == 1, text


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": null, "has_more": false}',
        b'{"object": "list"}',
        b"[]",
        b"<html>ok</html>",
        b'{"data": [{"results": "none"}], "has_more": false}',
    ],
)
async def test_a_body_that_is_not_a_report_replaces_nothing(own_dsn: str, body: bytes) -> None:
    async with scene(own_dsn) as s:

        def bogus(method: str, path: str, status: int, _: bytes) -> tuple[int, bytes] | None:
            return (200, body) if usage_path(path) else None

        rc, text, _ = await good_run_then(s, bogus)
        assert rc == 1, text


def echoing(secret_text: str, path_test: Any) -> Any:
    def reply(method: str, path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
        if path_test(path):
            return 401, secret_text.encode()
        return None

    return reply


def escaped(secret: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in secret)


@pytest.mark.parametrize(
    "template",
    [
        '{"error": {"message": "Incorrect API key provided: KEY", "type": "invalid_request"}}',
        "unauthorized: Bearer KEY",
        '{"error": {"message": "bad key ESC"}}',
    ],
    ids=["json", "plain", "json-escaped"],
)
async def test_a_401_echoing_the_openai_admin_key_never_shows_it(
    own_dsn: str, template: str
) -> None:
    async with scene(own_dsn) as s:
        text_body = template.replace("KEY", OPENAI_ADMIN).replace("ESC", escaped(OPENAI_ADMIN))
        rc, text, after = await good_run_then(s, echoing(text_body, usage_path))
        assert rc == 1, text
        status, csv = await csv_export(s)
        assert status == 200
        for where, seen in (("cli", text), ("api", json.dumps(after)), ("csv", csv)):
            assert_no_secret(where, seen, OPENAI_ADMIN)


async def test_a_401_echoing_the_anthropic_admin_key_never_shows_it(own_dsn: str) -> None:
    async with scene(own_dsn) as s:
        body = '{"type": "error", "error": {"type": "authentication_error", "message": "KEY"}}'

        def echo(method: str, path: str, status: int, _: bytes) -> tuple[int, bytes] | None:
            if "/v1/organizations/" in path:
                return 401, body.replace("KEY", f"invalid x-api-key {ANTHROPIC_ADMIN}").encode()
            return None

        s.reports.rewrite = echo
        rc, _, text = await s.reconcile()
        assert rc == 1, text
        after = await s.differences()
        run = one(after["runs"], credential="anthropic")
        assert run["error"], run
        status, csv = await csv_export(s)
        assert status == 200
        for where, seen in (("cli", text), ("api", json.dumps(after)), ("csv", csv)):
            assert_no_secret(where, seen, ANTHROPIC_ADMIN)


async def csv_export(s: Scene) -> tuple[int, str]:
    async with s.gw.http.get(
        f"{s.gw.url}/admin/v1/reconciliation/providers?day={s.day}&format=csv",
        headers={"Authorization": "Bearer test-admin-key-0123456789"},
    ) as r:
        return r.status, await r.text()


def assert_no_secret(where: str, seen: str, secret: str) -> None:
    tail = secret[-20:]
    decoded = codecs.decode(seen.replace("\\\\", "\\"), "unicode_escape", errors="ignore")
    for form in (seen, decoded):
        assert secret not in form and tail not in form, (where, seen[:2000])


async def test_two_runs_at_once_keep_each_difference_once(own_dsn: str) -> None:
    async with scene(own_dsn) as s:
        s.reports.rewrite = leak_report
        s.reports.delay_s = 0.3
        (rc1, _, t1), (rc2, _, t2) = await asyncio.gather(s.reconcile(), s.reconcile())
        assert (rc1, rc2) == (3, 3), (t1, t2)
        after = await s.differences()
        keys = [(d["credential"], d["model"], d["kind"]) for d in after["differences"]]
        assert sorted(keys) == [("openai", "o1-pro", "input"), ("openai", "o1-pro", "output")]
        assert len([r for r in after["runs"] if r["credential"] == "openai"]) == 1, after


async def meterways_key_id(s: Scene) -> str:
    found: list[str] = []

    def spy(method: str, path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
        if usage_path(path):
            for bucket in json.loads(body)["data"]:
                found.extend(r["api_key_id"] for r in bucket["results"])
        return None

    s.reports.rewrite = spy
    rc, _, text = await s.reconcile()
    assert rc == 0 and found, text
    return found[0]


async def test_another_keys_usage_is_not_meterways_when_its_key_is_named(own_dsn: str) -> None:
    async with scene(own_dsn) as s:
        ours = await meterways_key_id(s)

        def other(method: str, path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
            if usage_path(path):
                return status, add_to_first_bucket(
                    body, usage_row("gpt-4o-mini", "key_someone_else", 50_000, 9_000)
                )
            if costs_path(path):
                return status, with_cost_lines(
                    body, cost_line("0.0075", "gpt-4o-mini, input", "key_someone_else")
                )
            return None

        s.reports.rewrite = other
        rc, found, text = await s.reconcile(RECONCILE_OPENAI_KEY_ID=ours)
        assert rc == 0 and found == [], text
        # The same report without the key named: the whole organization counts.
        rc, found, text = await s.reconcile(RECONCILE_OPENAI_KEY_ID="")
        assert rc == 3, text
        assert one(rows(found), model="gpt-4o-mini", kind="input")["class"] == "unmetered_traffic"


async def test_a_customer_key_cannot_read_the_reconciliation(own_dsn: str) -> None:
    async with scene(own_dsn) as s:
        s.reports.rewrite = leak_report
        rc, _, text = await s.reconcile()
        assert rc == 3, text
        for fmt in ("", "&format=csv"):
            async with s.gw.http.get(
                f"{s.gw.url}/admin/v1/reconciliation/providers?day={s.day}{fmt}",
                headers={"Authorization": f"Bearer {s.payer.key}"},
            ) as r:
                body = await r.text()
                assert r.status in (401, 403), body
                assert "o1-pro" not in body


async def test_the_next_good_run_replaces_the_kept_differences(own_dsn: str) -> None:
    async with scene(own_dsn) as s:

        def down(method: str, path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
            return (503, b'{"error": "busy"}') if costs_path(path) else None

        rc, text, _ = await good_run_then(s, down)
        assert rc == 1, text
        s.reports.rewrite = None
        rc, found, text = await s.reconcile()
        assert rc == 0 and found == [], text
        after = await s.differences()
        assert [d for d in after["differences"] if d["credential"] == "openai"] == [], after
        run = one(after["runs"], credential="openai")
        assert run["error"] is None and run["compared_at"], run
