"""Prometheus exposition of the metrics and cost ledgers, printed once or served over HTTP.

The ledgers give the run's metrics (a function of the log); the log's health (head seq, ingest
errors, how far each consumer lags) is read from disk at each scrape. Observability fails open:
a broken policies file drops the budget gauges, never the whole scrape.
"""
from __future__ import annotations

import threading
from pathlib import Path

import msgspec

from eventlog import EventDecodeError, FileEventLog, InvalidEventError, LokiPaths
from eventlog.legacy.parse import parse_file
from eventlog.pending import is_own_file, list_pending
from eventlog.safeio import check_json_depth, read_regular, read_small
from projections.cost import CostProjection, CostState
from projections.cost.report import breakdown
from projections.metrics import MetricsProjection
from projections.metrics.views import exposition, metric_families

from .ledgers import LiveLedger


class LedgerCollector:
    """A prometheus_client collector over the live ledgers of one `.loki/`."""

    def __init__(self, loki_dir: Path) -> None:
        self.loki_dir = Path(loki_dir)
        self.metrics = LiveLedger(self.loki_dir, MetricsProjection())
        self.cost = LiveLedger(self.loki_dir, CostProjection())

    def collect(self):
        """Return every family, freshly folded up to the log's head."""
        families = self.metrics.read(lambda seq, state: (seq, metric_families(state)))
        metrics_seq, found = families
        cost_seq, cost_families = self.cost.read(lambda seq, state: (seq, _cost_families(self.loki_dir, state)))
        found += cost_families
        found += _log_families(self.loki_dir, {"metrics": metrics_seq, "cost": cost_seq})
        return iter(sorted(found, key=lambda f: f.name))


def render(loki_dir: Path) -> bytes:
    """Return the text exposition of a `.loki/` (what `lokilog metrics` prints)."""
    return exposition(list(LedgerCollector(loki_dir).collect()))


def _cost_families(loki_dir: Path, state: CostState) -> list:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    from projections.cost.budgets import current, spend
    from projections.cost.config import load_budgets, load_prices

    usd = CounterMetricFamily("loki_cost_usd", "Priced spend in USD by provider and model "
                              "(exact figures: lokilog cost --json)", labels=["provider", "model"])
    unknown = CounterMetricFamily("loki_cost_unknown_events", "Usage events whose cost is unknown "
                                  "(no price for the model, or a missing token count)", labels=["provider", "model"])
    families = [usd, unknown]
    try:
        prices = load_prices(loki_dir)
        budgets = load_budgets(loki_dir)
    except InvalidEventError:
        return families  # fail open: a broken config file must not take the metrics down
    for tally in breakdown(state, prices, ("provider", "model")):
        usd.add_metric(list(tally.key), float(tally.usd))
        unknown.add_metric(list(tally.key), tally.unknown_events)
    used = GaugeMetricFamily("loki_budget_used_ratio", "Spend over limit in each budget's current window",
                             labels=["budget", "unit", "window"])
    for budget in budgets:
        window = current(spend(state, prices, budget))
        used.add_metric([budget.name, budget.unit, window.window], float(window.spent / budget.limit))
    families.append(used)
    return families


def _log_families(loki_dir: Path, projection_seqs: dict[str, int]) -> list:
    from prometheus_client.core import GaugeMetricFamily

    paths = LokiPaths(loki_dir)
    with FileEventLog(loki_dir) as log:
        head = log.head_seq
    lag = GaugeMetricFamily("loki_projection_lag_events", "Events in the log not yet folded into a projection",
                            labels=["projection"])
    for name in sorted(projection_seqs):
        lag.add_metric([name], max(0, head - projection_seqs[name]))
    behind = GaugeMetricFamily("loki_subscriber_lag_events", "Events in the log after a subscriber's cursor",
                               labels=["subscriber"])
    for name, seq in _cursors(paths):
        behind.add_metric([name], max(0, head - seq))
    return [
        GaugeMetricFamily("loki_log_head_seq", "Seq of the newest event in the log", value=head),
        GaugeMetricFamily("loki_ingest_errors", "Drop-box files that are not events plus torn writes "
                          "moved to quarantine", value=_ingest_errors(paths)),
        lag, behind,
    ]


def _cursors(paths: LokiPaths) -> list[tuple[str, int]]:
    found = []
    for path in sorted(paths.cursors.glob("*.json")) if paths.cursors.is_dir() else []:
        try:
            seq = msgspec.json.decode(read_small(path)).get("seq", 0)
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(seq, int):
            found.append((path.stem, seq))
    return found


def _ingest_errors(paths: LokiPaths) -> int:
    bad = 0
    for path in list_pending(paths.pending):
        try:
            data, _ = read_regular(path)  # a planted FIFO or link is counted as bad, never followed
            check_json_depth(data, what=path.name)
            parse_file(path.name, data, own=is_own_file(path.name))  # Loki Mode's shapes too
        except FileNotFoundError:
            continue
        except EventDecodeError:
            bad += 1
    quarantined = sum(1 for p in paths.quarantine.iterdir() if p.is_file()) if paths.quarantine.is_dir() else 0
    return bad + quarantined


class MetricsServer:
    """`/metrics` over HTTP on a background thread, stopped by :meth:`stop`."""

    def __init__(self, loki_dir: Path, port: int, host: str = "127.0.0.1") -> None:
        from prometheus_client import CollectorRegistry, make_wsgi_app

        self.collector = _Locked(LedgerCollector(loki_dir))
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self.collector)
        self._server = _http_server(host, port, _only_metrics(make_wsgi_app(registry)))
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)
        self._thread.start()
        self.host, self.port = self._server.server_address[:2]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and wait (bounded) for the server thread to end."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout)

    def __enter__(self) -> "MetricsServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


METRICS_PATHS = ("/metrics", "/metrics/")


def _only_metrics(app):
    """Answer /metrics with ``app`` and every other path with 404, so a mistyped scrape URL shows."""
    def routed(environ, start_response):
        if environ.get("PATH_INFO", "") in METRICS_PATHS:
            return app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [f"not found: {environ.get('PATH_INFO', '')}; the metrics are at /metrics\n".encode()]
    return routed


def _http_server(host: str, port: int, app):
    """A threading WSGI server on ``host:port`` that does not log each request to stderr."""
    import socket
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]

    class Server(ThreadingMixIn, WSGIServer):
        address_family = family
        daemon_threads = True

    class Quiet(WSGIRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - the base class's name
            pass

    return make_server(host, port, app, Server, handler_class=Quiet)


class _Locked:
    # Scrapes run on one thread each: one at a time keeps the ledgers' folds in order.
    def __init__(self, collector: LedgerCollector) -> None:
        self.collector = collector
        self._lock = threading.Lock()

    def collect(self):
        with self._lock:
            return list(self.collector.collect())
