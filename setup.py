"""The optional compiled build: `MW_MYPYC=1 pip install --no-build-isolation .` (mypy and a C
compiler installed) compiles with mypyc the pure domain's modules that every proxied request
runs (its usage, prices, tokens, windows and stream tally); any other install is the
pure-Python package, so `pip install -e .` needs no compiler. Both builds behave the same;
the compiled one spends fewer instructions per request (docs/performance.md). `MW_MYPYC=1
python setup.py build_ext --inplace` puts the compiled modules beside the sources (CI's
second pass).

The gateway's own hot-path modules (gateway/llm, gateway/http/proxy, the Redis client) are
not in it yet: compiled, they meet aiohttp's C objects where its stubs promise other types,
which a compiled module checks and refuses (docs/performance.md, "The compiled build").
"""

from __future__ import annotations

import os

from setuptools import setup

HOT_PATH = [
    "billing/admission.py",
    "billing/encodings.py",
    "billing/final_event.py",
    "billing/money.py",
    "billing/plans.py",
    "billing/pricing/card.py",
    "billing/pricing/model.py",
    "billing/pricing/table.py",
    "billing/quotas.py",
    "billing/stream_tally.py",
    "billing/token_cache.py",
    "billing/tokens.py",
    "billing/usage.py",
    "billing/windows.py",
]

if os.environ.get("MW_MYPYC") == "1":
    from mypyc.build import mypycify

    setup(ext_modules=mypycify(HOT_PATH, opt_level="3"))
else:
    setup()
