"""Where and how spans and metrics are sent, from the environment (OTEL_* and LOKI_OTEL_*)."""
from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from eventlog import InvalidEventError

from ..endpoints import OTEL_ENDPOINT_VARIABLES as ENDPOINT_VARIABLES
_PROTOCOLS = {"http/protobuf": "application/x-protobuf", "http/json": "application/json"}


def otel_configured(env: Mapping[str, str] | None = None) -> bool:
    """True when an OTLP endpoint is set: the only condition under which export runs."""
    env = os.environ if env is None else env
    return any(env.get(name, "").strip() for name in ENDPOINT_VARIABLES)


@dataclass(frozen=True)
class OtelSettings:
    """The exporter's settings; build with :meth:`from_env`."""

    traces_url: str
    metrics_url: str
    protocol: str = "http/protobuf"
    headers: dict[str, str] = field(default_factory=dict)
    service_name: str = "lokilog"
    resource: dict[str, str] = field(default_factory=dict)
    project_id: str = "project"
    timeout: float = 10.0          # one attempt, seconds (OTEL_EXPORTER_OTLP_TIMEOUT is in ms)
    deadline: float = 30.0         # one batch, all attempts included
    attempts: int = 4
    batch_size: int = 100          # spans; the reference exporter's figure
    batch_seconds: float = 5.0     # ... or this long after the oldest unsent span

    @property
    def content_type(self) -> str:
        return _PROTOCOLS[self.protocol]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, loki_dir: Path | None = None) -> "OtelSettings":
        """Read the settings; raise InvalidEventError naming the variable that is wrong."""
        env = os.environ if env is None else env
        name, base = next(((n, env[n].strip()) for n in ENDPOINT_VARIABLES if env.get(n, "").strip()), (None, ""))
        if name is None:
            raise InvalidEventError(f"no OTLP endpoint: set {' or '.join(ENDPOINT_VARIABLES)}")
        traces = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip() or _signal_url(base, "traces")
        metrics = env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "").strip() or _signal_url(base, "metrics")
        for variable, url in ((name, traces), ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", metrics)):
            check_url(url, variable)
        protocol = env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf").strip() or "http/protobuf"
        if protocol not in _PROTOCOLS:
            raise InvalidEventError(
                f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: lokilog sends {' or '.join(_PROTOCOLS)}")
        resource = parse_pairs(env.get("OTEL_RESOURCE_ATTRIBUTES", ""), "OTEL_RESOURCE_ATTRIBUTES")
        project = env.get("LOKI_PROJECT_ID", "").strip() or resource.get("loki.project.id") or _project_name(loki_dir)
        return cls(
            traces_url=traces, metrics_url=metrics, protocol=protocol,
            headers=parse_pairs(env.get("OTEL_EXPORTER_OTLP_HEADERS", ""), "OTEL_EXPORTER_OTLP_HEADERS"),
            service_name=env.get("OTEL_SERVICE_NAME", "").strip() or resource.get("service.name") or "lokilog",
            resource=resource, project_id=project,
            timeout=_milliseconds(env, "OTEL_EXPORTER_OTLP_TIMEOUT", 10.0),
        )


def check_url(url: str, variable: str) -> None:
    """Accept only http and https URLs with a host (the reference exporter's SSRF rule)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InvalidEventError(f"{variable}={url!r}: the OTLP endpoint must be an http:// or https:// URL")


def parse_pairs(text: str, variable: str) -> dict[str, str]:
    """Parse ``key1=value1,key2=value2`` (values percent-decoded), the OTEL_* list syntax."""
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidEventError(f"{variable}: {item!r} is not key=value")
        pairs[urllib.parse.unquote(key.strip())] = urllib.parse.unquote(value.strip())
    return pairs


def _signal_url(base: str, signal: str) -> str:
    # The OTLP exporter spec: the base endpoint gets /v1/<signal> appended.
    return base.rstrip("/") + f"/v1/{signal}"


def _milliseconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text) / 1000
    except ValueError:
        raise InvalidEventError(f"{name}={text!r}: expected milliseconds, e.g. 10000") from None
    if value <= 0:
        raise InvalidEventError(f"{name}={text!r}: must be positive")
    return value


def _project_name(loki_dir: Path | None) -> str:
    if loki_dir is None:
        return "project"
    return Path(os.path.abspath(loki_dir)).parent.name or "project"
