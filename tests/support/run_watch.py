"""Says what a run is doing while it runs, in the controller: each failure the moment it is
reported, and each test still running past a while; and ends a run that hangs.

Pytest names failures only in its summary at the end, so a run cut short (the session limit
in tests/conftest.py, CI's own clock) used to say nothing of what failed or what hung. A
worker that a test's timeout kills is reported by xdist as a failure of that test, so it is
named here too.
"""

from __future__ import annotations

import faulthandler
import os
import threading
import time

import pytest

# A test running longer than this is named once (it is not failed: its own timeout does that).
SLOW_NOTICE_S = float(os.environ.get("MW_TEST_SLOW_NOTICE_S", 240))
WATCH_EVERY_S = 15.0
GIST_LINES = 40
# No run may hang for good (CI would only time out, saying nothing): past this, every process
# of the run prints every thread's stack and exits; just before it, the controller names the
# tests then running. Tests have their own timeouts.
SESSION_LIMIT_S = float(os.environ.get("MW_TEST_SESSION_LIMIT_S", 7200))


class RunWatch:
    def __init__(self, config: pytest.Config) -> None:
        self._config = config
        self._started = time.monotonic()
        self._running: dict[str, float] = {}
        self._noticed: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="run-watch", daemon=True)
        self._thread.start()

    def _say(self, line: str) -> None:
        minutes, seconds = divmod(int(time.monotonic() - self._started), 60)
        reporter = self._config.pluginmanager.get_plugin("terminalreporter")
        text = f"[{minutes:02d}:{seconds:02d}] {line}"
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(text)
            reporter.flush()

    @pytest.hookimpl
    def pytest_runtest_logstart(self, nodeid: str) -> None:
        with self._lock:
            self._running[nodeid] = time.monotonic()

    @pytest.hookimpl
    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        with self._lock:
            self._running.pop(nodeid, None)

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not report.failed:
            return
        node = getattr(report, "node", None)
        worker = getattr(node, "gateway", None)
        where = f" [{worker.id}]" if worker is not None else ""
        self._say(f"FAILED ({report.when}, {report.duration:.0f} s){where} {report.nodeid}")
        for line in _gist(report.longreprtext):
            self._say(f"    {line}")

    @pytest.hookimpl
    def pytest_unconfigure(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        named_at_limit = False
        while not self._stop.wait(WATCH_EVERY_S):
            now = time.monotonic()
            if not named_at_limit and now - self._started > SESSION_LIMIT_S - 2 * WATCH_EVERY_S:
                named_at_limit = True
                with self._lock:
                    running = sorted(self._running.items(), key=lambda item: item[1])
                self._say(f"session limit near; running: {len(running)}")
                for nodeid, since in running:
                    self._say(f"RUNNING for {now - since:.0f} s: {nodeid}")
            with self._lock:
                late = [
                    (nodeid, now - since)
                    for nodeid, since in self._running.items()
                    if now - since > SLOW_NOTICE_S and nodeid not in self._noticed
                ]
                self._noticed.update(nodeid for nodeid, _ in late)
            for nodeid, seconds in late:
                self._say(f"STILL RUNNING after {seconds:.0f} s: {nodeid}")


def _gist(text: str) -> list[str]:
    """What a failure says, short: its `E` lines (the assertion and its message), else its
    last lines; at most `GIST_LINES`, each cut at 300 characters."""
    lines = text.splitlines()
    said = [line[2:] for line in lines if line.startswith("E ")] or lines[-GIST_LINES:]
    return [line[:300] for line in said[:GIST_LINES]]


def pytest_configure(config: pytest.Config) -> None:
    """In the controller and in each xdist worker (the limit covers what no test's timeout
    does: session teardown, interpreter exit); the watch in the controller only."""
    faulthandler.dump_traceback_later(SESSION_LIMIT_S, exit=True)
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        config.pluginmanager.register(RunWatch(config), "meterway-run-watch")
