"""OpenTelemetry traces and metrics: the standard OTEL_* variables as the SDK reads them
(OTEL_PROPAGATORS among them: W3C trace context, and B3 single or multi-header), and
Meterway's own two (which tenant ids go on spans, which providers get the gateway's trace
context). Read once at start-up with the other settings (gateway/config/settings.py holds
them as `settings.traces` and `settings.metrics`).

Each signal is off when no endpoint is named (or OTEL_SDK_DISABLED, or its
OTEL_<SIGNAL>_EXPORTER says none): then the gateway does none of its work. Only OTLP over
HTTP/protobuf is spoken; another OTEL_EXPORTER_OTLP_PROTOCOL fails the boot by name rather
than exporting nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from gateway.config import values as v
from gateway.config.values import ConfigError

# What TRACE_TENANT_ATTRIBUTES may list, each the span attribute it adds.
TENANT_ATTRIBUTES = {
    "account": "meterway.account.id",
    "key": "meterway.key.id",
    "plan": "meterway.plan.id",
    "end_user": "meterway.end_user.id",
}
SAMPLERS = (
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
    "always_on",
    "always_off",
    "traceidratio",
)
# OTEL_PROPAGATORS' values Meterway reads and writes; `baggage` is accepted and not used
# (no baggage reaches a span), `none` reads no context at all.
PROPAGATORS = ("tracecontext", "b3", "b3multi")
IGNORED_PROPAGATORS = ("baggage", "none")
Get = Callable[..., object]


@dataclass(frozen=True)
class Export:
    """Where a signal goes (its OTLP/HTTP URL: …/v1/traces, …/v1/metrics; "" is off), how,
    and the resource it names."""

    endpoint: str = ""
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # may hold an API key
    timeout_s: float = 10.0
    gzip: bool = False
    service_name: str = "meterway"
    resource: tuple[tuple[str, str], ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.endpoint)


@dataclass(frozen=True)
class TraceSettings(Export):
    sampler: str = "parentbased_always_on"
    ratio: float = 1.0
    queue_size: int = 2048
    batch_size: int = 512
    delay_s: float = 5.0
    tenant: tuple[str, ...] = ()  # TENANT_ATTRIBUTES names, in the operator's order
    forward_to: frozenset[str] = frozenset()  # providers sent the gateway's traceparent
    propagators: tuple[str, ...] = ("tracecontext",)  # OTEL_PROPAGATORS, in its order


def _pairs(name: str, raw: str) -> tuple[tuple[str, str], ...]:
    """`k1=v1,k2=v2` with percent-encoded values (the W3C Baggage form the spec names)."""
    out = []
    for item in raw.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{name}: {item.strip()!r} is not key=value")
        out.append((key.strip(), unquote(value.strip())))
    return tuple(out)


def _endpoint(get: Get, signal: str) -> str:
    """OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT as given, else OTEL_EXPORTER_OTLP_ENDPOINT with
    /v1/<signal> appended (the spec's rule for the two)."""
    name = f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT"
    own = str(get(name, "") or "")
    base = str(get("OTEL_EXPORTER_OTLP_ENDPOINT", "") or "")
    if own:
        return v.url(name, own, ("http", "https"))
    if base:
        v.url("OTEL_EXPORTER_OTLP_ENDPOINT", base, ("http", "https"))
        return base.rstrip("/") + "/v1/" + signal
    return ""


def _off(get: Get) -> bool:
    exporter = str(get("OTEL_TRACES_EXPORTER", "otlp") or "otlp").strip().lower()
    if exporter not in ("otlp", "none"):
        raise ConfigError(f"OTEL_TRACES_EXPORTER must be otlp or none, got {exporter!r}")
    return v.flag(get("OTEL_SDK_DISABLED", "false")) or exporter == "none"


def _protocol(get: Get, signal: str) -> None:
    for name in (f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = str(get(name, "") or "").strip().lower()
        if value and value != "http/protobuf":
            raise ConfigError(f"{name}: only http/protobuf is supported, got {value!r}")


def _compression(get: Get, signal: str) -> bool:
    raw = get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_COMPRESSION", "") or get(
        "OTEL_EXPORTER_OTLP_COMPRESSION", "none"
    )
    value = str(raw).strip().lower()
    if value not in ("gzip", "none"):
        raise ConfigError(f"OTEL_EXPORTER_OTLP_COMPRESSION must be gzip or none, got {value!r}")
    return value == "gzip"


def _tenant(get: Get) -> tuple[str, ...]:
    raw = str(get("TRACE_TENANT_ATTRIBUTES", "") or "")
    names = tuple(n.strip().lower() for n in raw.split(",") if n.strip())
    for n in names:
        if n not in TENANT_ATTRIBUTES:
            raise ConfigError(
                f"TRACE_TENANT_ATTRIBUTES: {n!r} is not one of {', '.join(TENANT_ATTRIBUTES)}"
            )
    return names


def _sampler(get: Get) -> tuple[str, float]:
    sampler = v.one_of("OTEL_TRACES_SAMPLER", get, "parentbased_always_on", SAMPLERS)
    ratio = v.number("OTEL_TRACES_SAMPLER_ARG", get("OTEL_TRACES_SAMPLER_ARG", 1.0), 0.0)
    if ratio > 1.0:
        raise ConfigError(f"OTEL_TRACES_SAMPLER_ARG must be within 0..1, got {ratio}")
    return sampler, ratio


def _headers(get: Get, signal: str) -> tuple[tuple[str, str], ...]:
    name = f"OTEL_EXPORTER_OTLP_{signal.upper()}_HEADERS"
    raw = str(get(name, "") or "")
    if not raw:
        name, raw = "OTEL_EXPORTER_OTLP_HEADERS", str(get("OTEL_EXPORTER_OTLP_HEADERS", "") or "")
    return _pairs(name, raw)


def _timeout_s(get: Get, signal: str) -> float:
    own = get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_TIMEOUT", "")
    raw = own or get("OTEL_EXPORTER_OTLP_TIMEOUT", 10000)
    return v.whole("OTEL_EXPORTER_OTLP_TIMEOUT", raw, 1) / 1000


def _export(get: Get, signal: str, *, on: bool) -> dict[str, Any]:
    """Where and how a signal is exported (its OTEL_EXPORTER_OTLP_<SIGNAL>_* variables, else
    the shared ones), and the resource every signal names: the service and
    OTEL_RESOURCE_ATTRIBUTES."""
    _protocol(get, signal)
    resource = _pairs("OTEL_RESOURCE_ATTRIBUTES", str(get("OTEL_RESOURCE_ATTRIBUTES", "") or ""))
    service = str(get("OTEL_SERVICE_NAME", "") or "") or dict(resource).get(
        "service.name", "meterway"
    )
    return {
        "endpoint": _endpoint(get, signal) if on else "",
        "headers": _headers(get, signal),
        "timeout_s": _timeout_s(get, signal),
        "gzip": _compression(get, signal),
        "service_name": service,
        "resource": resource,
    }


def _propagators(get: Get) -> tuple[str, ...]:
    raw = str(get("OTEL_PROPAGATORS", "") or "tracecontext,baggage")
    names = tuple(n.strip().lower() for n in raw.split(",") if n.strip())
    for n in names:
        if n not in PROPAGATORS + IGNORED_PROPAGATORS:
            raise ConfigError(
                f"OTEL_PROPAGATORS: {n!r} is not supported; use {', '.join(PROPAGATORS)}"
                " (baggage and none are accepted)"
            )
    return tuple(n for n in names if n in PROPAGATORS)


def trace_settings(get: Get) -> TraceSettings:
    sampler, ratio = _sampler(get)
    forward = str(get("TRACE_FORWARD_PROVIDERS", "") or "")
    return TraceSettings(
        **_export(get, "traces", on=not _off(get)),
        sampler=sampler,
        ratio=ratio,
        queue_size=v.whole("OTEL_BSP_MAX_QUEUE_SIZE", get("OTEL_BSP_MAX_QUEUE_SIZE", 2048), 1),
        batch_size=v.whole(
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512), 1
        ),
        delay_s=v.whole("OTEL_BSP_SCHEDULE_DELAY", get("OTEL_BSP_SCHEDULE_DELAY", 5000), 1) / 1000,
        tenant=_tenant(get),
        forward_to=frozenset(p.strip() for p in forward.split(",") if p.strip()),
        propagators=_propagators(get),
    )


@dataclass(frozen=True)
class MetricSettings(Export):
    """Metrics over OTLP (OTEL_METRICS_EXPORTER and the OTEL_EXPORTER_OTLP_* variables, the
    METRICS forms first): tokens, cost and the gateway's time, pushed."""

    interval_s: float = 60.0  # OTEL_METRIC_EXPORT_INTERVAL
    delta: bool = False  # OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta
    queue_size: int = 65536  # settlements and timings waiting to be added up


# OTEL_METRICS_EXPORTER's values: Meterway's /metrics is always Prometheus's, so `prometheus`
# names what is there anyway; only `otlp` pushes.
METRICS_EXPORTERS = ("otlp", "prometheus", "none")
TEMPORALITIES = ("cumulative", "delta")


def _metrics_on(get: Get) -> bool:
    raw = str(get("OTEL_METRICS_EXPORTER", "otlp") or "otlp")
    names = {n.strip().lower() for n in raw.split(",") if n.strip()}
    unknown = sorted(names - set(METRICS_EXPORTERS))
    if unknown:
        raise ConfigError(
            f"OTEL_METRICS_EXPORTER: {unknown[0]!r} is not one of {', '.join(METRICS_EXPORTERS)}"
        )
    return "otlp" in names and not v.flag(get("OTEL_SDK_DISABLED", "false"))


def metric_settings(get: Get) -> MetricSettings:
    temporality = v.one_of(
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", get, "cumulative", TEMPORALITIES
    )
    interval = get("OTEL_METRIC_EXPORT_INTERVAL", 60000)
    return MetricSettings(
        **_export(get, "metrics", on=_metrics_on(get)),
        interval_s=v.whole("OTEL_METRIC_EXPORT_INTERVAL", interval, 1) / 1000,
        delta=temporality == "delta",
    )
