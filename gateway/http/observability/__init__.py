"""What every request leaves for operators: its span (W3C and B3 context, the tracer, the
exporter's attributes) and its measurements for /metrics and OTLP metrics."""
