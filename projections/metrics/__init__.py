"""Run metrics folded from the log (`projection`, name `metrics`) and their views and Prometheus families (`views`)."""
from .projection import MetricsProjection, MetricsState

__all__ = ["MetricsProjection", "MetricsState"]
