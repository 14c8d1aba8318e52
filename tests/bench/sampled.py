"""`python -m tests.bench.sampled OUT TARGET [ARGS...]`: TARGET (a module run as `python -m`
would, or `module:function` called with ARGS as its argv) with a
CPU-time sampler of its Python stacks (`tests.bench.by_function` reads what it writes).

SIGUSR1 starts sampling, SIGUSR2 stops it and writes OUT: one line per distinct stack
(`file:function;file:function ... count`, outermost first). The timer is ITIMER_VIRTUAL, the
process's own user-space CPU time (what callgrind counts too: not the kernel's side of its
sockets), so other work on a busy machine does not move the shares. A Python
signal handler runs between bytecodes: time in a C call (json, tiktoken, the socket) is
charged to the Python function that made it, which is the attribution wanted here.
"""

from __future__ import annotations

import importlib
import runpy
import signal
import sys
from collections import Counter
from pathlib import Path
from types import FrameType

INTERVAL_S = 0.0002
_stacks: Counter[tuple[str, ...]] = Counter()
_HERE = __file__
_out: list[Path] = []


def _name(frame: FrameType) -> str:
    code = frame.f_code
    return f"{code.co_filename}:{code.co_qualname}"


def _sample(_signum: int, frame: FrameType | None) -> None:
    stack = []
    while frame is not None:
        if frame.f_code.co_filename != _HERE:
            stack.append(_name(frame))
        frame = frame.f_back
    _stacks[tuple(reversed(stack))] += 1


def _start(_signum: int, _frame: FrameType | None) -> None:
    _stacks.clear()
    signal.signal(signal.SIGVTALRM, _sample)
    signal.setitimer(signal.ITIMER_VIRTUAL, INTERVAL_S, INTERVAL_S)


def _stop(_signum: int, _frame: FrameType | None) -> None:
    signal.setitimer(signal.ITIMER_VIRTUAL, 0, 0)
    lines = [f"{';'.join(stack)} {n}" for stack, n in _stacks.items()]
    _out[0].write_text("\n".join(lines) + "\n")


def main() -> None:
    out, target, *args = sys.argv[1:]
    _out.append(Path(out))
    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _stop)
    sys.argv = [target, *args]
    module, _, function = target.partition(":")
    if not function:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return
    raise SystemExit(getattr(importlib.import_module(module), function)(args))


if __name__ == "__main__":
    main()
