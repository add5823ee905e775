"""Prometheus metric families from the metrics ledger, and its view `.loki/metrics/metrics.prom`.

Names, types and labels follow the reference system's metric definitions; the log's own
metrics (`loki_events_total`, `loki_errors_total`) are added. Families are sorted by name and
samples by label values so the exposition text is a function of the state alone.
"""
from __future__ import annotations

from pathlib import Path

from ..cost.state import SEP
from ..view_files import WrittenFiles
from .state import DURATION_BUCKETS, MetricsState


def metric_families(state: MetricsState) -> list:
    """Return prometheus_client metric families for every metric the ledger holds."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    families = [
        _duration_histogram(state),
        _labelled(CounterMetricFamily, "loki_tasks", "Tasks finished, by outcome", ["outcome"], state.tasks),
        _labelled(CounterMetricFamily, "loki_quality_gate_pass", "Quality gate passes by gate name",
                  ["gate"], state.gate_pass),
        _labelled(CounterMetricFamily, "loki_quality_gate_fail", "Quality gate failures by gate name",
                  ["gate"], state.gate_fail),
        GaugeMetricFamily("loki_agent_active", "Currently active agents", value=len(state.agents)),
        _labelled(CounterMetricFamily, "loki_tokens_consumed", "Token consumption by model and agent type "
                  "(input, output, cache read and cache write tokens)", ["model", "agent_type"], state.tokens),
        CounterMetricFamily("loki_council_votes", "Council verdicts recorded", value=state.council_votes),
        _labelled(CounterMetricFamily, "loki_events", "Events in the log by type and source",
                  ["type", "source"], state.events),
        _labelled(CounterMetricFamily, "loki_errors", "Error events by kind", ["kind"], state.errors),
    ]
    if state.council_votes:
        # A rate of no votes is undefined: the gauge is absent rather than a made-up 0.
        families.append(GaugeMetricFamily("loki_council_approval_rate", "Council approval rate (0.0-1.0)",
                                          value=state.council_approved / state.council_votes))
    return families


def _labelled(kind, name: str, documentation: str, labels: list[str], counts: dict[str, int]):
    family = kind(name, documentation, labels=labels)
    for key in sorted(counts):
        family.add_metric(key.split(SEP), counts[key])
    return family


def _duration_histogram(state: MetricsState):
    from prometheus_client.core import HistogramMetricFamily

    buckets, running = [], 0
    for bound, count in zip([*map(str, DURATION_BUCKETS), "+Inf"], state.durations):
        running += count
        buckets.append((f"{float(bound)}" if bound != "+Inf" else bound, running))
    return HistogramMetricFamily("loki_task_duration_seconds", "Task execution duration",
                                 buckets=buckets, sum_value=state.duration_sum_ms / 1000)


def exposition(families) -> bytes:
    """Render families in the Prometheus text format (via prometheus_client's own writer)."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(families))
    return generate_latest(registry)


class _Fixed:
    def __init__(self, families) -> None:
        self.families = sorted(families, key=lambda f: f.name)

    def collect(self):
        return iter(self.families)


def write_metrics_views(state: MetricsState, loki_dir: Path, files: WrittenFiles | None = None) -> None:
    """Write `.loki/metrics/metrics.prom` (the ledger's metrics as a text exposition) atomically.

    ``files`` skips the write when no event was folded since it last wrote this state: every
    event counts in ``state.events``, so their sum moves whenever anything else does.
    """
    target = Path(loki_dir) / "metrics" / "metrics.prom"
    files = files or WrittenFiles()
    count = sum(state.events.values())
    if files.current(target, state, count):
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    # Not fsynced, like the run state's views: rebuilt from the log, rewritten at every engine start.
    files.write(target, exposition(metric_families(state)), durable=False, state=state, changes=count)
