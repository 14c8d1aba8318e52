"""One exit-code rule for every command (issue 48): 0 done, 1 a failure (the gateway refused
or could not be reached), 2 a usage error (the command line, or a value the gateway called
invalid), 3 done with something to do. A table of commands x bad input, each run as people
run it (a subprocess); list commands print a header row; the CLI is safe in a pipe."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.e2e.cli.test_cli_billing import STATUS_SCOPES, login, meterway
from tests.support.factories import tenant
from tests.support.harness import ADMIN_KEY, Gateway, free_port

USAGE, FAILURE, ACTION = 2, 1, 3
# (argv with ACCT for the tenant's account, the exit code, words on stderr)
TABLE = [
    (("billing", "topup", "--amount", "abc"), USAGE, "in dollars"),
    (("billing", "topup", "--amount", "0"), USAGE, "more than $0.00"),
    (("billing", "topup", "--amount", "1.0000001"), USAGE, "one micro"),
    (("billing", "status", "--no-such-flag"), USAGE, "unrecognized arguments"),
    (("billing", "no-such-command"), USAGE, "invalid choice"),
    (("admin", "credit", "ACCT", "--amount", "-5"), USAGE, "in dollars"),
    (("admin", "credit", "ACCT", "--amount", "$0"), USAGE, "more than $0.00"),
    (("admin", "key-team", "key_x"), USAGE, "give a team id, or --none"),
    (("admin", "markup", "ACCT"), USAGE, "or --clear"),
    (("admin", "team-create", "ACCT", "x", "--quota", "day:spend:lots"), USAGE, "in dollars"),
    (("admin", "team-create", "ACCT", "x", "--quota", "nonsense"), USAGE, "WINDOW:METRIC:LIMIT"),
    (("admin", "team-create", "ACCT", "x", "--quota", "fortnight:requests:5"), USAGE, "400"),
    (("admin", "usage", "ACCT", "--from", "yesterday"), USAGE, "400"),
    (("admin", "grants", "acct_no_such_account"), FAILURE, "404"),
    (("admin", "keys", "acct_no_such_account"), FAILURE, "404"),
    (("admin", "account-create", "x", "--credit", "lots"), USAGE, "in dollars"),
    (("admin", "account-create", "x", "--credit", "0"), USAGE, "more than $0.00"),
    (("admin", "account-create", "x", "--plan", "no-such-plan"), USAGE, "400"),
    (("admin", "account-create"), USAGE, "arguments are required"),
    (("admin", "account", "acct_no_such_account"), FAILURE, "404"),
    (("admin", "key-create", "acct_no_such_account", "x"), FAILURE, "404"),
    (("admin", "key-create", "ACCT", "x", "--expires", "someday"), USAGE, "400"),
    (("admin", "key-create", "ACCT", "x", "--quota", "day:spend:lots"), USAGE, "in dollars"),
    (("admin", "key-rotate", "key_no_such_key"), FAILURE, "404"),
    (("admin", "key-rotate", "key_x", "--grace", "soon"), USAGE, "invalid int"),
    (("admin", "key-revoke", "key_no_such_key"), FAILURE, "404"),
    (("admin", "members", "acct_no_such_account"), FAILURE, "404"),
    (("admin", "member-invite", "ACCT", "not-an-address"), USAGE, "400"),
    (("admin", "member-invite", "ACCT", "a@example.com", "--role", "emperor"), USAGE, "400"),
    (("admin", "member-role", "ACCT", "mem_no_such_member", "admin"), FAILURE, "404"),
    (("admin", "member-remove", "ACCT", "mem_no_such_member"), FAILURE, "404"),
]


@pytest.mark.parametrize(("argv", "code", "words"), TABLE, ids=[" ".join(t[0]) for t in TABLE])
async def test_bad_input_exits_by_one_rule(
    gw: Gateway, tmp_path: Path, argv: tuple[str, ...], code: int, words: str
) -> None:
    t = await tenant(gw, scopes=[*STATUS_SCOPES, "billing"])
    login(tmp_path, t.key)
    login(tmp_path, ADMIN_KEY, "admin-key")
    run = await meterway(gw, tmp_path, *(t.account_id if a == "ACCT" else a for a in argv))
    assert (run.code, words in run.err) == (code, True), run
    assert "Traceback" not in run.err


async def test_an_unreachable_gateway_is_a_failure(gw: Gateway, tmp_path: Path) -> None:
    login(tmp_path, ADMIN_KEY, "admin-key")
    closed = f"http://127.0.0.1:{free_port()}"
    run = await meterway(gw, tmp_path, "admin", "accounts", api_url=closed)
    assert run.code == FAILURE and "Traceback" not in run.err, run


async def test_something_to_do_is_exit_3(gw: Gateway, tmp_path: Path) -> None:
    t = await tenant(gw, credit=0, scopes=STATUS_SCOPES)
    login(tmp_path, t.key)
    run = await meterway(gw, tmp_path, "billing", "status")
    assert run.code == ACTION, run


@pytest.mark.timeout(360)  # 14 runs of the CLI, each a Python start-up
async def test_list_commands_print_a_header_and_take_json(gw: Gateway, tmp_path: Path) -> None:
    t = await tenant(gw)
    login(tmp_path, ADMIN_KEY, "admin-key")
    at = f"/admin/v1/accounts/{t.account_id}"
    quotas = [{"window": "day", "metric": "requests", "limit": 5}]
    for path, method, body in (
        ("/members", "POST", {"email": "ana@example.com"}),
        ("/teams", "POST", {"name": "web", "quotas": quotas}),
        ("/end-user-budgets", "PUT", {"quotas": quotas}),
    ):
        assert (await gw.admin(method, at + path, body))[0] in (200, 201), path
    heads = {
        ("admin", "accounts", "--query", t.account_id): "ACCOUNT  ",
        ("admin", "grants", t.account_id): "GRANT  ",
        ("admin", "keys", t.account_id): "KEY  ",
        ("admin", "usage", t.account_id, "--group-by", "model"): "MODEL  ",
        ("admin", "members", t.account_id): "MEMBER  ",
        ("admin", "teams", t.account_id): "TEAM  ",
        ("admin", "end-user-budgets", t.account_id): "APPLIES TO  ",
    }
    for argv, head in heads.items():
        run = await meterway(gw, tmp_path, *argv)
        assert run.code == 0 and run.out.startswith(head), (argv, run)
        as_json = await meterway(gw, tmp_path, *argv, "--json")
        assert as_json.code == 0 and as_json.out.lstrip().startswith("{"), (argv, as_json)


async def test_a_reader_that_stops_early_gets_no_traceback(gw: Gateway, tmp_path: Path) -> None:
    """Issue 48: `billing status --json | head` ended in a BrokenPipeError traceback. The
    pipe's reader is closed before the command writes, so every write fails."""
    t = await tenant(gw, scopes=STATUS_SCOPES)
    login(tmp_path, t.key)
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path), "METERWAY_API_URL": gw.url}
    env.pop("METERWAY_TOKEN", None)
    read, write = os.pipe()
    os.close(read)
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli", "billing", "status", "--json",
            stdout=write, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
    finally:
        os.close(write)
    _, err = await proc.communicate()
    assert proc.returncode == FAILURE, err
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err
