"""OpenTelemetry traces: the standard OTEL_* variables as the SDK reads them, and Meterway's
own two (which tenant ids go on spans, which providers get `traceparent`). Read once at
start-up with the other settings (gateway/settings.py holds them as `settings.traces`).

Export is off when no endpoint is named (or OTEL_SDK_DISABLED / OTEL_TRACES_EXPORTER=none):
then the gateway does no trace work at all. Only OTLP over HTTP/protobuf is spoken; another
OTEL_EXPORTER_OTLP_PROTOCOL fails the boot by name rather than exporting nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

from gateway import config_values as v
from gateway.config_values import ConfigError

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
Get = Callable[..., object]


@dataclass(frozen=True)
class TraceSettings:
    endpoint: str = ""  # the traces URL (…/v1/traces); "" is off
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # may hold an API key
    timeout_s: float = 10.0
    gzip: bool = False
    service_name: str = "meterway"
    resource: tuple[tuple[str, str], ...] = ()
    sampler: str = "parentbased_always_on"
    ratio: float = 1.0
    queue_size: int = 2048
    batch_size: int = 512
    delay_s: float = 5.0
    tenant: tuple[str, ...] = ()  # TENANT_ATTRIBUTES names, in the operator's order
    forward_to: frozenset[str] = frozenset()  # providers sent the gateway's traceparent

    @property
    def enabled(self) -> bool:
        return bool(self.endpoint)


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


def _endpoint(get: Get) -> str:
    """OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, else OTEL_EXPORTER_OTLP_ENDPOINT with
    /v1/traces appended (the spec's rule for the two)."""
    own = str(get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "") or "")
    base = str(get("OTEL_EXPORTER_OTLP_ENDPOINT", "") or "")
    if own:
        return v.url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", own, ("http", "https"))
    if base:
        v.url("OTEL_EXPORTER_OTLP_ENDPOINT", base, ("http", "https"))
        return base.rstrip("/") + "/v1/traces"
    return ""


def _off(get: Get) -> bool:
    exporter = str(get("OTEL_TRACES_EXPORTER", "otlp") or "otlp").strip().lower()
    if exporter not in ("otlp", "none"):
        raise ConfigError(f"OTEL_TRACES_EXPORTER must be otlp or none, got {exporter!r}")
    return v.flag(get("OTEL_SDK_DISABLED", "false")) or exporter == "none"


def _protocol(get: Get) -> None:
    for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = str(get(name, "") or "").strip().lower()
        if value and value != "http/protobuf":
            raise ConfigError(f"{name}: only http/protobuf is supported, got {value!r}")


def _compression(get: Get) -> bool:
    raw = get("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "") or get(
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


def _headers(get: Get) -> tuple[tuple[str, str], ...]:
    name = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
    raw = str(get(name, "") or "")
    if not raw:
        name, raw = "OTEL_EXPORTER_OTLP_HEADERS", str(get("OTEL_EXPORTER_OTLP_HEADERS", "") or "")
    return _pairs(name, raw)


def _timeout_s(get: Get) -> float:
    own = get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "")
    raw = own or get("OTEL_EXPORTER_OTLP_TIMEOUT", 10000)
    return v.whole("OTEL_EXPORTER_OTLP_TIMEOUT", raw, 1) / 1000


def trace_settings(get: Get) -> TraceSettings:
    _protocol(get)
    endpoint = "" if _off(get) else _endpoint(get)
    resource = _pairs("OTEL_RESOURCE_ATTRIBUTES", str(get("OTEL_RESOURCE_ATTRIBUTES", "") or ""))
    service = str(get("OTEL_SERVICE_NAME", "") or "") or dict(resource).get(
        "service.name", "meterway"
    )
    sampler, ratio = _sampler(get)
    forward = str(get("TRACE_FORWARD_PROVIDERS", "") or "")
    return TraceSettings(
        endpoint=endpoint,
        headers=_headers(get),
        timeout_s=_timeout_s(get),
        gzip=_compression(get),
        service_name=service,
        resource=resource,
        sampler=sampler,
        ratio=ratio,
        queue_size=v.whole("OTEL_BSP_MAX_QUEUE_SIZE", get("OTEL_BSP_MAX_QUEUE_SIZE", 2048), 1),
        batch_size=v.whole(
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512), 1
        ),
        delay_s=v.whole("OTEL_BSP_SCHEDULE_DELAY", get("OTEL_BSP_SCHEDULE_DELAY", 5000), 1) / 1000,
        tenant=_tenant(get),
        forward_to=frozenset(p.strip() for p in forward.split(",") if p.strip()),
    )
