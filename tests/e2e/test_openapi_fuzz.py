"""Schemathesis against the running gateway: property-based requests to every documented
operation find no 5xx and no answer that violates /openapi.json.

Each surface is fuzzed with its own credential (operator key, an account key holding every
account scope, a proxy key), so generated requests reach the handlers, not only the auth.

The operator and account APIs are also fuzzed for the converse: a request the document
allows is not refused (positive_data_acceptance), so the document states what the handlers
check. Rules it cannot state are named in tests/e2e/fuzz_acceptance.py.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.services.usage.focus import parquet
from tests.support.factories import tenant
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway, temp_database

CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance"
)
ACCOUNT_SCOPES = ["chat", "account:read", "usage:read", "keys:write"]
ROOT = Path(__file__).resolve().parents[2]


async def schemathesis(
    gw: Gateway,
    tmp: Path,
    token: str,
    paths: str,
    *options: str,
    checks: str = CHECKS,
    hooks: str = "",
) -> tuple[int, str]:
    """`paths` selects operations by regex; a leading '!' excludes them instead; `hooks`
    names a module of schemathesis hooks (importable from the repository's root)."""
    # The process's first Parquet export imports pyarrow, numpy and pandas: seconds from a
    # cold cache, past the fuzzer's 20 s a request on a loaded machine. What is fuzzed is the
    # handlers, not that import: it is done first (the gateway runs in this process).
    await asyncio.to_thread(parquet.write, [])
    flag = "--exclude-path-regex" if paths.startswith("!") else "--include-path-regex"
    st = Path(sys.executable).with_name("st")
    env = dict(os.environ)
    if hooks:
        env["SCHEMATHESIS_HOOKS"] = hooks
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = await asyncio.create_subprocess_exec(
        str(st), "run", f"{gw.url}/openapi.json",
        "--checks", checks,
        flag, paths.lstrip("!"),
        "--header", f"Authorization: Bearer {token}",
        "--max-examples", os.environ.get("MW_FUZZ_EXAMPLES", "10"),
        "--workers", "1", "--seed", os.environ.get("MW_FUZZ_SEED", "14"), "--no-color",
        "--generation-database", "none",
        "--suppress-health-check", "all",
        "--request-timeout", "20",
        *(options or ("--phases", "examples,coverage,fuzzing")),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp, env=env,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return int(proc.returncode or 0), out.decode(errors="replace")


@pytest.fixture
async def gw() -> AsyncIterator[Gateway]:
    """A gateway on a database of its own. The fuzzer learns ids from the answers (the
    accounts listed...); on the worker's shared database it met other tests' accounts, one
    filled to the largest balance (its credits refused: ST202), another whose tax number
    belonged to a country the fuzzer did not send."""
    async with temp_database() as dsn, running_gateway(dsn) as gateway:
        yield gateway
        await gateway.settle_all()


# The run's key would log itself out (POST /v1/auth/logout revokes the key that calls it)
# and every later request would only meet a 401: tests/e2e/cli/test_cli_login.py holds logout.
ACCOUNT_PATHS = "^/v1/(account|auth/(?!logout))"


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    ("surface", "paths"),
    [
        ("admin", "^/admin/"),
        ("account", ACCOUNT_PATHS),
        ("everything else, with a proxy key", "!^/admin/|^/v1/(account|auth)"),
    ],
)
async def test_no_server_errors_and_no_schema_violations(
    gw: Gateway, tmp_path: Path, surface: str, paths: str
) -> None:
    t = await tenant(gw, credit=1_000_000_000, plan="enterprise", scopes=ACCOUNT_SCOPES)
    token = ADMIN_KEY if surface == "admin" else t.key
    code, out = await schemathesis(gw, tmp_path, token, paths)
    assert code == 0, out[-12000:]


# Refusals that depend on state the fuzzer cannot set up: a plan change needs the provider's
# payment to go through, a cancel a subscription, auto top-up a saved payment method, token
# revocation a user token (the run holds an API key), a device code's token a person's
# approval in the dashboard (400 authorization_pending until then). Under the authority
# rule the run's key
# also cannot read the audit log (a person's right, the owner's), change a member's role (a
# key holds no role to grant from), nor rotate or re-limit a key beyond its own grant and
# never loosen its own quotas: which of those a request asks depends on the key it names
# (docs/concepts/security.md; tests/e2e/test_key_lineage.py holds each).
NOT_STATIC = (
    "^/v1/(account/billing/(subscription|auto-topup)|auth/(revoke|device/token)|account/audit"
    "|account/members/[^/]+/role|account/keys/[^/]+/(rotate|quotas))"
)
ACCOUNT_ALL_SCOPES = [
    *ACCOUNT_SCOPES, "billing", "billing:read", "billing:setup", "org:write", "statements:read"
]  # fmt: skip


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("surface", "paths"), [("admin", "^/admin/"), ("account", ACCOUNT_PATHS)])
async def test_schema_valid_requests_are_accepted(
    gw: Gateway, tmp_path: Path, surface: str, paths: str
) -> None:
    t = await tenant(gw, credit=1_000_000_000, plan="enterprise", scopes=ACCOUNT_ALL_SCOPES)
    token = ADMIN_KEY if surface == "admin" else t.key
    code, out = await schemathesis(
        gw, tmp_path, token, paths,
        "--phases", "fuzzing", "--exclude-path-regex", NOT_STATIC,
        checks="positive_data_acceptance", hooks="tests.e2e.fuzz_acceptance",
    )  # fmt: skip
    assert code == 0, out[-12000:]
