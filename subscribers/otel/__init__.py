"""OpenTelemetry export: spans and metrics folded from the log, sent over OTLP/HTTP.

Enabled by ``LOKI_OTEL_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``; with neither set nothing
here is imported. The folds (:mod:`.spans`, :mod:`.metrics`) are pure and need no extra; the
wire encoding needs ``lokilog[otel]`` (opentelemetry-proto) and is imported only to send.
"""
from .settings import OtelSettings, otel_configured

__all__ = ["OtelSettings", "otel_configured"]
