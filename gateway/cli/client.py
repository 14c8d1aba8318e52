"""What the user-facing commands share: the API URL, the token file, HTTP calls, output.

Tokens never come from the command line (they would land in shell history and `ps`): they
are read from a file (default under ~/.config/meterway/) or an environment variable.
Exit codes: 0 ok, 3 action needed (the output says which), 1 error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from billing.dates import human
from billing.money.display import DollarsError, parse_dollars

# One rule for every command: 0 done, 1 a failure (the gateway refused or could not be
# reached), 2 a usage error (the command line, or a value the gateway called invalid),
# 3 done but something needs doing (`billing status` with a next step).
OK, ERROR, USAGE, ACTION_NEEDED = 0, 1, 2, 3
# Answers that mean the request itself was wrong: a usage error, as argparse's own.
INVALID = frozenset({400, 422})
DEFAULT_API_URL = "http://127.0.0.1:8080"
TIMEOUT_S = 30


class CliError(Exception):
    """A failure to report as one line on stderr, with exit code 1 (`code` overrides)."""

    code = ERROR


class UsageError(CliError):
    """A value on the command line that is wrong: exit code 2, as argparse's own errors."""

    code = USAGE


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "meterway"


def add_common(parser: argparse.ArgumentParser, token_name: str, token_env: str) -> None:
    parser.add_argument(
        "--api-url", default=os.environ.get("METERWAY_API_URL", DEFAULT_API_URL), help="gateway URL"
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        default=config_dir() / token_name,
        help=f"file holding the token (default ~/.config/meterway/{token_name}; ${token_env} wins)",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=os.environ.get("METERWAY_TIMEOUT", str(TIMEOUT_S)),
        help=f"seconds to wait for the gateway (default {TIMEOUT_S}; $METERWAY_TIMEOUT)",
    )
    parser.add_argument("--output", type=Path, help="write the output to FILE instead of stdout")
    parser.add_argument("--quiet", action="store_true", help="print nothing; use the exit code")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(token_env=token_env)


def _seconds(text: str) -> float:
    """A positive, finite number of seconds (argparse turns ValueError into a usage error)."""
    value = float(text)
    if not 0 < value < float("inf"):
        raise ValueError(text)
    return value


def amount_micros(text: str, flag: str = "--amount") -> int:
    """A positive USD amount given on the command line ("10", "$2.50"), in micros."""
    try:
        micros = parse_dollars(text, flag)
    except DollarsError as exc:
        raise UsageError(str(exc)) from exc
    if micros <= 0:
        raise UsageError(f"{flag} must be more than $0.00")
    return micros


def read_token(args: argparse.Namespace) -> str:
    token = os.environ.get(str(args.token_env), "").strip()
    if token:
        return token
    path: Path = args.token_file
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise CliError(
            f"no token: put it in {args.token_file} (chmod 600) or set ${args.token_env}"
        ) from exc
    if not token:
        raise CliError(f"{args.token_file} is empty")
    return token


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    def error_message(self) -> str:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"].get("message", self.body))
        return str(self.body)[:500]


def call(
    args: argparse.Namespace, method: str, path: str, body: Any = None, *, anonymous: bool = False
) -> Answer:
    """One HTTP call with the token (none when `anonymous`: signing up, starting a login);
    any HTTP status comes back, a network failure raises."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if not anonymous:
        headers["Authorization"] = f"Bearer {read_token(args)}"
    request = urllib.request.Request(
        args.api_url.rstrip("/") + path, data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as resp:
            return Answer(resp.status, _decode(resp.read(), resp.headers.get_content_type()))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, _decode(exc.read(), exc.headers.get_content_type()))
    except (urllib.error.URLError, OSError) as exc:
        if isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError):
            raise CliError(f"{args.api_url} did not answer within {args.timeout:g} s") from exc
        raise CliError(f"cannot reach {args.api_url}: {exc}") from exc


def _decode(raw: bytes, content_type: str) -> Any:
    if content_type == "application/json":
        try:
            return json.loads(raw)
        except ValueError:
            pass
    return raw.decode(errors="replace")


def expect(answer: Answer, *statuses: int) -> Any:
    if answer.status not in statuses:
        said = f"the gateway answered {answer.status}: {answer.error_message()}"
        raise UsageError(said) if answer.status in INVALID else CliError(said)
    return answer.body


def when(value: str | datetime | None, none: str = "never", relative: bool = True) -> str:
    """A time the CLI prints, as people read it (billing/dates.py `human`): "26 Nov 2026
    14:05 UTC (in 3 days)"; `relative=False` for a log's own times, without the distance."""
    return human(value, datetime.now(UTC) if relative else None, none)


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], empty: str) -> str:
    """A list as people read it: a header row, then columns padded to their widest cell
    (the last column left ragged); `empty` when there are no rows."""
    if not rows:
        return empty
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]]).rstrip()
        for r in (header, *rows)
    )


def emit(args: argparse.Namespace, text: str, data: Any) -> None:
    """Print `text` (or `data` as JSON with --json) to stdout or --output; nothing if --quiet."""
    out = json.dumps(data, indent=2) if args.json else text
    if args.output is not None:
        args.output.write_text(out + "\n")
    elif not args.quiet:
        print(out)


def run(handler: Any, args: argparse.Namespace) -> int:
    try:
        return int(handler(args))
    except CliError as exc:
        print(f"meterway: {exc}", file=sys.stderr)
        return exc.code
