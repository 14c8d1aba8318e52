"""The reference pages of the documentation site, written from the code so they cannot drift.

`python -m gateway.devtools.docs_reference` rewrites docs/reference/{cli,http-api,error-types,
settings}.md; tests/unit/test_docs_reference.py fails when a committed page differs from what
the code says now (a command, flag, route, error type or setting added without its page).
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from gateway import errors
from gateway.cli.main import _parser
from gateway.config.settings import load_settings
from gateway.http.openapi.document import build_document
from gateway.http.route_actions import message_table, records, reference_app
from gateway.http.routing import Route

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "reference"
HEADER = "<!-- Written by `python -m gateway.devtools.docs_reference`: do not edit by hand. -->\n\n"
MINIMAL_ENV = {"DATABASE_URL": "postgresql://meterway@db/meterway", "ADMIN_API_KEY": "x" * 16}


def _subcommands(parser: argparse.ArgumentParser) -> tuple[bool, list[tuple[str, str, Any]]]:
    """(whether a subcommand is required, then (name, its help, its parser) each)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            subs = [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]
            return bool(action.required), subs
    return False, []


def _summary(parser: argparse.ArgumentParser, help_text: str) -> str:
    """The command's help, else its description's first paragraph, on one line."""
    text = help_text or (parser.description or "").strip().split("\n\n")[0]
    return " ".join(text.split())


def _commands(parser: argparse.ArgumentParser, prefix: str, help_text: str = "") -> Iterator[str]:
    required, subs = _subcommands(parser)
    options = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    positional = [a for a in parser._actions if not a.option_strings and a.dest != "help"]
    positional = [a for a in positional if not isinstance(a, argparse._SubParsersAction)]
    if not required or options or positional:
        usage = " ".join([prefix, *(a.dest.upper() for a in positional)])
        yield f"## `{usage}`\n\n"
        if summary := _summary(parser, help_text):
            yield summary + "\n\n"
        for a in options:
            flags = ", ".join(f"`{f}`" for f in a.option_strings)
            yield f"- {flags}: {a.help or ''}".rstrip(": ") + "\n"
        if options:
            yield "\n"
    for name, sub_help, sub in subs:
        yield from _commands(sub, f"{prefix} {name}", sub_help)


def cli_page() -> str:
    """Every command and flag of `meterway`, from its argument parser."""
    return HEADER + "# The `meterway` command\n\n" + "".join(_commands(_parser(), "meterway"))


HTTP_INTRO = """Each route's action is what a caller must hold (docs/concepts/security.md); a
changing route names the audit log's records it writes, or says why it writes none.

| method | path | what it does | action | audit log |
|---|---|---|---|---|
"""


MESSAGES_INTRO = """
## Messages of the WebSocket and JSON-RPC routes

A Realtime client event or MCP method is refused (an `error` event, a JSON-RPC error) unless
its key holds the message's scope (`mcp` narrowed to the server or tool counts); `not-offered`
is refused by name to every caller and never sent. A type or method not listed is refused too.

| method | path | message | action | scope |
|---|---|---|---|---|
"""


def _audit_words(route: Route | None) -> str:
    if route is None or route.audit is None:
        return ""
    if route.audit.events:
        return ", ".join(f"`{e}`" for e in route.audit.events)
    return f"none: {route.audit.none_because}"


def http_page(document: Mapping[str, Any] | None = None) -> str:
    """Every route of the gateway, from its OpenAPI document (served at /openapi.json), with
    its action and audit records from its route record."""
    app = reference_app()
    doc, declared = document or build_document(app), records(app)
    lines = [HEADER, "# HTTP API\n\n", HTTP_INTRO]
    for path, ops in sorted(doc["paths"].items()):
        for method, op in sorted(ops.items()):
            summary = str(op.get("summary", "")).replace("|", "\\|")
            route = declared.get((method.upper(), path))
            action = f"`{route.action.name}`" if route else ""
            audit = _audit_words(route).replace("|", "\\|")
            lines.append(f"| {method.upper()} | `{path}` | {summary} | {action} | {audit} |\n")
    lines.append(MESSAGES_INTRO)
    for (method, path, name), decided in message_table(app).items():
        scope = f"`{decided.scope}`" if decided.scope else ""
        lines.append(f"| {method} | `{path}` | `{name}` | `{decided.name}` | {scope} |\n")
    return "".join(lines)


def _error_classes() -> list[type[errors.MeterwayError]]:
    found = [
        c
        for _, c in inspect.getmembers(errors, inspect.isclass)
        if issubclass(c, errors.MeterwayError) and c.__module__ == errors.__name__
    ]
    return sorted(found, key=lambda c: (c.status, c.__name__))


def errors_page() -> str:
    """Every client-visible error: its status, `error.type` and retry advice."""
    lines = [HEADER, "# Error types\n\n"]
    lines.append("Every error answer is OpenAI-shaped (Anthropic-shaped on `/v1/messages`): ")
    lines.append('`{"error": {"message", "type", "code", "param"}}`.\n\n')
    lines.append("| status | error.type | class | retry |\n|---|---|---|---|\n")
    for c in _error_classes():
        retry = {None: "SDK default", True: "yes", False: "no"}[c.should_retry]
        lines.append(f"| {c.status} | `{c.type}` | `{c.__name__}` | {retry} |\n")
    return "".join(lines)


class _Recording(dict[str, str]):
    """An environment that remembers every name the settings loader asked for, and the
    default it passed: the reference's defaults are the code's, not a guide's words."""

    def __init__(self, base: Mapping[str, str]) -> None:
        super().__init__(base)
        self.asked: set[str] = set()
        self.defaults: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        if default is not None:
            self.defaults.setdefault(key, default)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.asked.add(key)
        return super().__contains__(key)


def _read_settings() -> _Recording:
    env = _Recording(MINIMAL_ENV)
    load_settings(env)
    return env


def setting_names() -> list[str]:
    """Every environment variable `load_settings` reads."""
    return sorted(n for n in _read_settings().asked if n.isupper())


def _default(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, Path) and value.is_relative_to(ROOT):
        value = value.relative_to(ROOT)
    text = str(value)
    return f"`{text}`" if text else "(empty)"


CONFIG_FILE = (
    "The config file (`meterway serve --config FILE`, TOML) may hold them under `[gateway]`"
    " in lower case (the environment wins), and the tables of what Meterway forwards to:"
    " `[providers.NAME]` ([Providers](../guides/providers.md)) and `[mcp.NAME]`, an MCP"
    " server and its tools' prices ([MCP tool calls](../guides/mcp.md)).\n\n"
)


def settings_page(described: Mapping[str, str]) -> str:
    """Every setting with the default the loader passes and the meaning a guide gives it."""
    env = _read_settings()
    lines = [HEADER, "# Settings\n\n", "Environment variables read at start-up ("]
    lines.append("[production guide](../guides/production.md) for how they fit together).\n\n")
    lines.append(CONFIG_FILE)
    lines.append("| setting | default | meaning |\n|---|---|---|\n")
    for name in sorted(n for n in env.asked if n.isupper()):
        default = "(required)" if name in MINIMAL_ENV else _default(env.defaults.get(name))
        lines.append(f"| `{name}` | {default} | {described.get(name, '')} |\n")
    return "".join(lines)


SETTING = re.compile(r"[A-Z][A-Z0-9_]+")


def described_settings(guides: list[Path]) -> dict[str, str]:
    """The meaning column of `| NAME | default | meaning |` rows in the guides' tables. A
    row names one setting: two settings never share one description (a row naming several
    is refused, naming the row)."""
    out: dict[str, str] = {}
    lines = [line for guide in guides for line in guide.read_text().splitlines()]
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`") and cells[0][1:2].isupper():
            names = re.split(r"[/,]", cells[0].replace("`", "").replace(" ", ""))
            if not all(SETTING.fullmatch(n) for n in names):
                continue  # a route or a command, not a setting
            if len(names) > 1:
                raise ValueError(f"one setting a row, with its own meaning: {line}")
            out[names[0]] = re.sub(r"\]\((?!\.\./|https?:)", "](../guides/", cells[2])
    return out


def pages() -> dict[str, str]:
    guides = sorted((DOCS.parent / "guides").glob("*.md"))
    return {
        "cli.md": cli_page(),
        "http-api.md": http_page(),
        "error-types.md": errors_page(),
        "settings.md": settings_page(described_settings(guides)),
    }


def main() -> int:
    for name, text in pages().items():
        (DOCS / name).write_text(text)
        print(f"wrote docs/reference/{name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
