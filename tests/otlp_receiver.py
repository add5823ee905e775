"""A real OTLP/HTTP receiver on 127.0.0.1 for the export tests: decodes bodies with opentelemetry-proto.

It can be told to fail: answer 500 or 429 (with Retry-After), reset the connection, or stall
past the client's timeout, for the next N requests; everything it accepts is kept, per span id.
"""
from __future__ import annotations

import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


class Receiver:
    """Start with ``with Receiver() as r:``; ``r.url`` is the base endpoint (…:port)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spans: dict[bytes, object] = {}       # span_id -> the last Span received
        self.span_copies = 0                        # every span received, duplicates included
        self.metrics: list[ExportMetricsServiceRequest] = []
        self.requests: list[tuple[str, str]] = []  # (path, content type) of every request
        self.faults: list[str] = []                 # "500", "429", "reset", "stall:<seconds>" for the next requests
        self.headers: list[dict[str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.requests.append((self.path, self.headers.get("Content-Type", "")))
                    receiver.headers.append(dict(self.headers))
                    fault = receiver.faults.pop(0) if receiver.faults else None
                if fault == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    return
                if fault and fault.startswith("stall:"):
                    time.sleep(float(fault.split(":")[1]))
                    self._answer(503)
                    return
                if fault in ("500", "429"):
                    self._answer(int(fault), {"Retry-After": "1"} if fault == "429" else {})
                    return
                receiver.accept(self.path, self.headers.get("Content-Type", ""), body)
                self._answer(200)

            def _answer(self, status: int, headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the client gave up first

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def accept(self, path: str, content_type: str, body: bytes) -> None:
        is_json = content_type.startswith("application/json")
        if path.endswith("/v1/traces"):
            request = ExportTraceServiceRequest()
            if is_json:
                json_format.Parse(_ids_to_base64(body), request)
            else:
                request.ParseFromString(body)
            with self.lock:
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        for span in scope.spans:
                            self.spans[span.span_id] = (resource.resource, span)
                            self.span_copies += 1
        elif path.endswith("/v1/metrics"):
            request = ExportMetricsServiceRequest()
            if is_json:
                json_format.Parse(body, request)
            else:
                request.ParseFromString(body)
            with self.lock:
                self.metrics.append(request)

    def last_metrics(self) -> dict[str, object]:
        """The newest data of each metric, by name."""
        found: dict[str, object] = {}
        for request in self.metrics:
            for resource in request.resource_metrics:
                for scope in resource.scope_metrics:
                    for metric in scope.metrics:
                        found[metric.name] = metric
        return found

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _ids_to_base64(body: bytes) -> str:
    # OTLP/JSON writes ids in hex; protobuf's JSON parser wants bytes fields in base64.
    import base64

    def convert(node):
        if isinstance(node, dict):
            return {k: (base64.b64encode(bytes.fromhex(v)).decode() if k in ("traceId", "spanId", "parentSpanId")
                        and isinstance(v, str) else convert(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [convert(v) for v in node]
        return node

    return json.dumps(convert(json.loads(body)))
