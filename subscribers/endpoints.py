"""The environment variables that turn OpenTelemetry export on.

A leaf module of its own: the subscriber registry reads them without loading `subscribers.otel`
(so that without them nothing of it loads), and `subscribers.otel.settings` reads the same names
without importing the registry.
"""

#: Either variable turns OpenTelemetry export on.
OTEL_ENDPOINT_VARIABLES = ("LOKI_OTEL_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
