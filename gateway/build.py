"""Which build is running: "compiled" when the hot path's modules are mypyc's extension
modules (setup.py, MW_MYPYC=1), "pure" when they run from their Python sources. Said by
`meterway version` and /healthz, so a deployment can tell which one it got."""

from __future__ import annotations

from importlib.machinery import EXTENSION_SUFFIXES

import gateway.stores.redis.resp as hot_path_module  # listed in setup.py's HOT_PATH


def build() -> str:
    origin = hot_path_module.__file__ or ""
    return "compiled" if origin.endswith(tuple(EXTENSION_SUFFIXES)) else "pure"
