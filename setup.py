"""The compiled build: `MW_MYPYC=1 pip install --no-build-isolation .` (the dependencies,
the pinned mypy, wheel and a C compiler installed first: docs/performance.md's recipe)
compiles with mypyc the typed modules every proxied request runs (the route, reading the
call, the provider client, the relay, the Redis client, settlement, its trace span and
the exporter's encoding of it) and the pure domain they use; any other install is the
pure-Python package, so `pip install -e .` needs no compiler. The Docker image
(gateway/Dockerfile) is this build.
`MW_MYPYC=1 python setup.py build_ext --inplace` puts the compiled modules beside the
sources, as the suite's compiled pass does in a copy (tests/speed/test_compiled_build.py).
What a listed module keeps to: ARCHITECTURE.md, Two builds. Figures: docs/performance.md.

Left out: every module off the hot path.

Each module is a group of its own (`separate=True`): its own C file and library, compiled in
parallel (`build_ext`'s `parallel`, one job a core), so a change to one module recompiles
that module and those whose C includes its header, where one C unit for all of them was
compiled whole after any change. With a compiler cache (`CC="ccache gcc"`) and mypy's cache
kept (`MYPY_CACHE_DIR`: separate groups make mypyc's mypy incremental), a one-module change
rebuilds in seconds; the suite builds so (tests/speed/test_compiled_build.py). The calls
between groups cost what the one unit's did: the speed guard's compiled figures held.
"""

from __future__ import annotations

import os

from setuptools import setup

HOT_PATH = [
    "billing/money/admission.py",
    "billing/pricing/byok.py",
    "billing/metering/encodings.py",
    "billing/metering/final_event.py",
    "billing/metering/finish.py",
    "billing/money/micros.py",
    "billing/money/plans.py",
    "billing/pricing/card.py",
    "billing/pricing/model.py",
    "billing/pricing/table.py",
    "billing/money/leases.py",
    "billing/money/quotas.py",
    "billing/metering/stream_tally.py",
    "billing/metering/token_cache.py",
    "billing/metering/tokens.py",
    "billing/metering/usage.py",
    "billing/values.py",
    "billing/money/windows.py",
    "gateway/build.py",
    "gateway/http/observability/call_metrics.py",
    "gateway/http/headers.py",
    "gateway/http/middleware.py",
    "gateway/http/observability/observe.py",
    "gateway/http/proxy/call_reading.py",
    "gateway/http/proxy/routes.py",
    "gateway/http/observability/span.py",
    "gateway/http/observability/span_attributes.py",
    "gateway/http/observability/trace_context.py",
    "gateway/http/observability/tracer.py",
    "gateway/llm/bounded.py",
    "gateway/llm/reading/calls.py",
    "gateway/llm/cost_field.py",
    "gateway/llm/endpoint.py",
    "gateway/llm/http1.py",
    "gateway/llm/providers.py",
    "gateway/llm/reading/readers.py",
    "gateway/llm/relay.py",
    "gateway/llm/sse.py",
    "gateway/llm/upstream.py",
    "gateway/outbound/otlp.py",
    "gateway/outbound/otlp_wire.py",
    "gateway/services/auth.py",
    "gateway/services/money/meter/metering.py",
    "gateway/services/money/settlement.py",
    "gateway/stores/records.py",
    "gateway/stores/redis/hotstore.py",
    "gateway/stores/redis/leases/record.py",
    "gateway/stores/redis/leases/wire.py",
    "gateway/stores/redis/leases/process.py",
    "gateway/stores/redis/wire/packing.py",
    "gateway/stores/redis/wire/replies.py",
    "gateway/stores/redis/wire/resp.py",
    "gateway/telemetry.py",
]

if os.environ.get("MW_MYPYC") == "1":
    from mypyc.build import mypycify

    setup(
        ext_modules=mypycify(HOT_PATH, opt_level="3", separate=True),
        options={"build_ext": {"parallel": os.cpu_count() or 1}},
    )
else:
    setup()
