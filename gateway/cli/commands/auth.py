"""`meterway signup`, `verify`, `login`, `logout` and `auth token|status`: a person's way in
from a terminal. `login` is a device authorization (RFC 8628's flow): it prints a page and a
code, the person approves the code in their signed-in dashboard, and the token it receives
is written to the token file readable by its owner only (0600)."""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from billing.money.display import lifetime
from gateway.cli.client import (
    ACTION_NEEDED,
    OK,
    CliError,
    add_common,
    call,
    emit,
    expect,
    run,
    when,
)


def save_secret(path: Path, secret: str) -> None:
    """Write `secret` to `path`, readable and writable by its owner only, whatever was there."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(secret + "\n")


def signup(args: argparse.Namespace) -> int:
    sent = {"email": args.email}
    body = expect(call(args, "POST", "/v1/auth/register", sent, anonymous=True), 202)
    text = (
        f"A link and a code are on their way to {body['email']} (if it may sign up).\n"
        f"then  meterway verify --email {body['email']} --code CODE"
    )
    emit(args, text, body)
    return OK


def verify(args: argparse.Namespace) -> int:
    path, sent = "/v1/auth/verify", {"email": args.email, "code": args.code}
    body = expect(call(args, "POST", path, sent, anonymous=True), 200)
    lines = [
        f"account   {body['account_id']} ({body['status']})",
        f"sign in   {body['signin_url']}",
    ]
    if body["status"] == "pending":
        lines.append("The operator approves new accounts; you will get an e-mail.")
    lines.append("then      meterway login")
    emit(args, "\n".join(lines), body)
    return ACTION_NEEDED if body["status"] == "pending" else OK


def login(args: argparse.Namespace) -> int:
    """Print the page and the code, poll until the person answers, save the token."""
    asked = {"scope": args.scope} if args.scope else {}
    start = expect(call(args, "POST", "/v1/auth/device", asked, anonymous=True), 200)
    if not args.quiet:
        page, code = start["verification_uri_complete"], start["user_code"]
        print(f"Open {page}\nand approve the code {code}.", flush=True)
    deadline = time.monotonic() + int(start["expires_in"])
    polled = {"device_code": start["device_code"]}
    while time.monotonic() < deadline:
        time.sleep(max(1, int(start["interval"])))
        answer = call(args, "POST", "/v1/auth/device/token", polled, anonymous=True)
        if answer.status == 200:
            return _saved(args, answer.body)
        error = answer.body.get("error", {}) if isinstance(answer.body, dict) else {}
        if error.get("code") != "authorization_pending":
            raise CliError(f"login refused: {answer.error_message()}")
    raise CliError("the code expired before it was approved; run `meterway login` again")


def _saved(args: argparse.Namespace, body: dict[str, Any]) -> int:
    save_secret(args.token_file, str(body["access_token"]))
    seconds = int(body["expires_in"])
    until = datetime.now(UTC) + timedelta(seconds=seconds)
    text = (
        f"Signed in: the token is in {args.token_file} (0600), for {lifetime(seconds)}"
        f" (until {when(until, relative=False)})."
    )
    emit(args, text, {k: v for k, v in body.items() if k != "access_token"})
    return OK


def logout(args: argparse.Namespace) -> int:
    body = expect(call(args, "POST", "/v1/auth/logout"), 200)
    if not os.environ.get(str(args.token_env)) and args.token_file.exists():
        args.token_file.unlink()
    emit(args, f"Logged out: key {body['key_id']} revoked.", body)
    return OK


def token(args: argparse.Namespace) -> int:
    sent: dict[str, Any] = {"scope": args.scope}
    if args.expires_in is not None:
        sent["expires_in"] = args.expires_in
    body = expect(call(args, "POST", "/v1/auth/tokens", sent), 201)
    if args.output is not None:
        save_secret(args.output, str(body["access_token"]))
        if not args.quiet:
            print(f"token {body['key_id']} ({body['scope']}) written to {args.output} (0600)")
        return OK
    if not args.quiet:
        print(body["access_token"])
    return OK


def status(args: argparse.Namespace) -> int:
    body = expect(call(args, "GET", "/v1/auth/whoami"), 200)
    lines = [
        f"who       {body['email'] or body['key_id']} ({body['role'] or body['kind']})",
        f"org       {body['organization']} ({body['account_id']}, {body['status']})",
        f"scopes    {' '.join(body['scopes'])}",
        f"expires   {when(body['expires_at'])}",
    ]
    emit(args, "\n".join(lines), body)
    return ACTION_NEEDED if body["status"] == "pending" else OK


def _command(sub: Any, name: str, handler: Any, text: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=text, allow_abbrev=False)
    add_common(p, "token", "METERWAY_TOKEN")
    p.set_defaults(client=handler)
    return p


def add_parser(sub: Any) -> None:
    p = _command(sub, "signup", signup, "sign up: e-mail yourself a verification code")
    p.add_argument("--email", required=True)
    p = _command(sub, "verify", verify, "verify the e-mailed code: your organization")
    p.add_argument("--email", required=True)
    p.add_argument("--code", required=True, help="the 6-digit code from the e-mail")
    p = _command(sub, "login", login, "sign this terminal in (approve a code in the dashboard)")
    p.add_argument("--scope", help="space-separated scopes (default: all your role allows)")
    _command(sub, "logout", logout, "revoke this terminal's token and forget it")
    auth = sub.add_parser("auth", help="this terminal's token: status, or a narrower token")
    commands = auth.add_subparsers(dest="auth_command", required=True)
    _command(commands, "status", status, "who, which organization, scopes and expiry")
    p = _command(commands, "token", token, "mint a token no wider than your role")
    p.add_argument("--scope", required=True, help='space-separated, e.g. "chat billing:read"')
    p.add_argument("--expires-in", type=int, help="seconds (default CLI_TOKEN_TTL_S)")


def main(args: argparse.Namespace) -> int:
    return run(args.client, args)
