"""Spans and metric state as OTLP request bodies (protobuf, or OTLP/JSON), via opentelemetry-proto.

Imported only to send: it needs the ``lokilog[otel]`` extra.
"""
from __future__ import annotations

from typing import Iterable

from eventlog import InvalidEventError

try:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
    from opentelemetry.proto.metrics.v1 import metrics_pb2
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1 import trace_pb2
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise InvalidEventError(
        f"OpenTelemetry export needs the otel extra: pip install 'lokilog[otel]' ({exc})") from None

from .metrics import DURATION_BOUNDS, MetricState
from .settings import OtelSettings
from .spans import AttributeValue, Span

SCOPE = InstrumentationScope(name="lokilog")
_CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def trace_request(spans: Iterable[Span], settings: OtelSettings) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add(resource=_resource(settings))
    scope_spans = resource_spans.scope_spans.add(scope=SCOPE)
    for span in spans:
        scope_spans.spans.append(_span(span))
    return request


def metrics_request(state: MetricState, settings: OtelSettings) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add(resource=_resource(settings))
    scope = resource_metrics.scope_metrics.add(scope=SCOPE)
    start, now = state.start_ns, state.time_ns
    durations = scope.metrics.add(name="loki_task_duration_seconds", unit="s",
                                  description="Task execution duration")
    durations.histogram.aggregation_temporality = _CUMULATIVE
    durations.histogram.data_points.add(
        start_time_unix_nano=start, time_unix_nano=now, count=state.duration_count, sum=state.duration_sum,
        bucket_counts=state.duration_counts, explicit_bounds=DURATION_BOUNDS,
    )
    for name, counts, description in (
        ("loki_quality_gate_pass_total", state.gate_pass, "Quality gate passes by gate name"),
        ("loki_quality_gate_fail_total", state.gate_fail, "Quality gate failures by gate name"),
    ):
        metric = scope.metrics.add(name=name, description=description)
        _sum(metric, start, now, ((({"loki.quality_gate.name": gate}), count) for gate, count in sorted(counts.items())))
    tokens = scope.metrics.add(name="loki_tokens_consumed_total", unit="{token}",
                               description="Token consumption by model, agent type and token kind")
    _sum(tokens, start, now, (
        (dict(zip(("loki.model", "loki.agent.type", "loki.token.kind"), key.split("\x1f"))), count)
        for key, count in sorted(state.tokens.items())
    ))
    active = scope.metrics.add(name="loki_agent_active", description="Currently active agents")
    active.gauge.data_points.add(time_unix_nano=now, as_int=len(state.agents))
    rate = scope.metrics.add(name="loki_council_approval_rate", description="Council approval rate (0.0-1.0)")
    if state.council_votes:
        rate.gauge.data_points.add(time_unix_nano=now, as_double=state.council_approved / state.council_votes)
    return request


def to_bytes(request, settings: OtelSettings) -> bytes:
    """The request body in the configured protocol."""
    if settings.protocol == "http/json":
        return to_json(request).encode()
    return request.SerializeToString(deterministic=True)


def to_json(request) -> str:
    """OTLP/JSON: protobuf's JSON mapping, but trace and span ids in hex and enums as numbers."""
    import json

    body = json_format.MessageToDict(request, use_integers_for_enums=True)
    _hex_ids(body)
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def _hex_ids(node) -> None:
    import base64

    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _hex_ids(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids(item)


def _resource(settings: OtelSettings) -> Resource:
    attributes = {**settings.resource, "service.name": settings.service_name, "loki.project.id": settings.project_id}
    return Resource(attributes=_attributes(attributes))


def _span(span: Span) -> trace_pb2.Span:
    status = trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_ERROR, message=span.error) if span.error \
        else trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_OK)
    attributes = {**span.attributes, "loki.event.first_seq": span.first_seq, "loki.event.last_seq": span.last_seq}
    return trace_pb2.Span(
        trace_id=bytes.fromhex(span.trace_id), span_id=bytes.fromhex(span.span_id),
        parent_span_id=bytes.fromhex(span.parent_span_id) if span.parent_span_id else b"",
        name=span.name, kind=trace_pb2.Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=span.start_ns, end_time_unix_nano=span.end_ns,
        attributes=_attributes(attributes), status=status,
    )


def _sum(metric, start: int, now: int, points) -> None:
    metric.sum.aggregation_temporality = _CUMULATIVE
    metric.sum.is_monotonic = True
    for attributes, count in points:
        metric.sum.data_points.add(start_time_unix_nano=start, time_unix_nano=now, as_int=count,
                                   attributes=_attributes(attributes))


def _attributes(values: dict[str, AttributeValue]) -> list[KeyValue]:
    return [KeyValue(key=key, value=_value(value)) for key, value in sorted(values.items())]


def _value(value: AttributeValue) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))
