"""Says what a run is doing while it runs, in the controller: each failure the moment it is
reported, and each test still running past a while; and ends a run that hangs.

Pytest names failures only in its summary at the end, so a run cut short (the session limit
in tests/conftest.py, CI's own clock) used to say nothing of what failed or what hung. A
worker that a test's timeout kills is reported by xdist as a failure of that test, so it is
named here too, with every thread's stack as the worker wrote it just before.
"""

from __future__ import annotations

import faulthandler
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest

# A test running longer than this is named once (it is not failed: its own timeout does that).
SLOW_NOTICE_S = float(os.environ.get("MW_TEST_SLOW_NOTICE_S", 240))
WATCH_EVERY_S = 15.0
GIST_LINES = 40
STACK_LINES = 300
# No run may hang for good (CI would only time out, saying nothing): past this, every process
# of the run prints every thread's stack and exits; just before it, the controller names the
# tests then running. Tests have their own timeouts. Five minutes inside CI's 90: a run CI
# stops says nothing, and one CI timed out went silent for its last 39 minutes.
SESSION_LIMIT_S = float(os.environ.get("MW_TEST_SESSION_LIMIT_S", 5100))
# A worker writes every thread's stack to a file of its own this long before a test's
# timeout ends it (pytest-timeout's own dump goes to the worker's captured output, which
# the crash loses); the controller prints the file when it reports the crash.
DUMP_BEFORE_TIMEOUT_S = 5.0
STACKS_DIR = "MW_TEST_STACKS_DIR"  # set by the controller, inherited by its workers
STARTED = time.monotonic()


def _dump_file(worker: str) -> Path:
    return Path(os.environ[STACKS_DIR]) / f"{worker}.txt"


def _session_left() -> float:
    return SESSION_LIMIT_S - (time.monotonic() - STARTED)


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
        if worker is not None and "crashed while running" in report.longreprtext:
            self._stacks(worker.id)

    def _stacks(self, worker: str) -> None:
        """What the crashed worker was doing: the stacks it wrote before its timeout."""
        try:
            text = _dump_file(worker).read_text(errors="replace")
        except OSError:
            return
        self._say(f"    stacks of {worker} {DUMP_BEFORE_TIMEOUT_S:.0f} s before its timeout:")
        for line in text.splitlines()[:STACK_LINES]:
            self._say(f"      {line}")

    @pytest.hookimpl
    def pytest_unconfigure(self) -> None:
        self._stop.set()
        shutil.rmtree(os.environ[STACKS_DIR], ignore_errors=True)

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
    does: session teardown, interpreter exit); the watch in the controller only, the stack
    dumps before a test's timeout in the workers only."""
    faulthandler.dump_traceback_later(SESSION_LIMIT_S, exit=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        os.environ[STACKS_DIR] = tempfile.mkdtemp(prefix="meterway-test-stacks-")
        config.pluginmanager.register(RunWatch(config), "meterway-run-watch")
    elif STACKS_DIR in os.environ:
        config.pluginmanager.register(StackDumps(worker), "meterway-stack-dumps")


class StackDumps:
    """In a worker: when pytest-timeout arms a test's timer (with the timeout it resolved
    from the marker, the ini or the environment), faulthandler is armed to write every
    thread's stack to the worker's file just before it; when the timer is cancelled, the
    session's limit is armed again (faulthandler holds one timer a process). Both hooks
    return None, so pytest-timeout's own run after them."""

    def __init__(self, worker: str) -> None:
        self._file: IO[str] = _dump_file(worker).open("w")

    @pytest.hookimpl(tryfirst=True)
    def pytest_timeout_set_timer(self, item: pytest.Item, settings: Any) -> None:
        dump_in = float(settings.timeout) - DUMP_BEFORE_TIMEOUT_S
        if 0 < dump_in < _session_left():
            self._file.seek(0)
            self._file.truncate()
            self._file.write(f"{item.nodeid}\n")
            self._file.flush()
            faulthandler.dump_traceback_later(dump_in, file=self._file)

    @pytest.hookimpl(tryfirst=True)
    def pytest_timeout_cancel_timer(self, item: pytest.Item) -> None:
        faulthandler.dump_traceback_later(max(_session_left(), 1.0), exit=True)
