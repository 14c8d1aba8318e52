# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Which build is running: "compiled" when the hot path's modules are mypyc's extension
modules (setup.py, MW_MYPYC=1), "pure" when they run from their Python sources. Said by
`meterway version` and /healthz, so a deployment can tell which one it got.

`COMPILED` is the one build flag: this module is compiled with the rest of the hot path
(setup.py compiles its list in one go), so where it runs from says which build runs."""

from __future__ import annotations

from typing import Final

COMPILED: Final = not __file__.endswith(".py")


def build() -> str:
    return "compiled" if COMPILED else "pure"
