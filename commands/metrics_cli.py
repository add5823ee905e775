"""`lokilog metrics`: the Prometheus text exposition, printed once or served on /metrics."""
from __future__ import annotations

import signal
import threading
from typing import Optional

import typer

from .context import loki_dir

METRICS_HELP = """\
Prometheus metrics folded from the log: task durations, quality gates, active agents, tokens by
model and agent type, council approval rate, spend, budgets, events by type and source, ingest
errors and projection lag.

Examples:

\b
  lokilog metrics                      print the text exposition format once
  lokilog metrics serve --port 9464    serve http://127.0.0.1:9464/metrics until Ctrl-C
"""


def register(app: typer.Typer) -> None:
    from .demo_cli import add_section

    add_section("Metrics (lokilog metrics, a few lines)", _demo_metrics)
    group = typer.Typer(help=METRICS_HELP, invoke_without_command=True, rich_markup_mode=None)
    group.callback(invoke_without_command=True)(metrics)
    group.command("serve")(serve)
    app.add_typer(group, name="metrics")


def metrics(ctx: typer.Context) -> None:
    """Print every metric in the Prometheus text exposition format."""
    if ctx.invoked_subcommand is not None:
        return
    from subscribers.prometheus import render

    typer.echo(render(loki_dir(ctx)).decode(), nl=False)


def serve(
    ctx: typer.Context,
    port: int = typer.Option(9464, "--port", "-p", min=0, max=65535, help="TCP port (0 picks a free one)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (0.0.0.0 to expose beyond this machine)."),
    duration: Optional[float] = typer.Option(None, "--duration", min=0, help="Stop after this many seconds "
                                             "(default: until interrupted or terminated)."),
) -> None:
    """Serve /metrics over HTTP; each scrape folds only the events appended since the last one."""
    from subscribers.prometheus import MetricsServer

    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        try:
            server = MetricsServer(loki_dir(ctx), port, host)
        except OSError as exc:
            typer.echo(f"lokilog: error: cannot serve on {host}:{port}: {exc.strerror or exc}", err=True)
            raise typer.Exit(1) from None
        with server:
            typer.echo(f"serving {server.url}")
            try:
                stop.wait(duration)
            except KeyboardInterrupt:
                pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _demo_metrics(root) -> str:
    from subscribers.prometheus import render

    wanted = ("loki_tokens_consumed_total", "loki_quality_gate_", "loki_task_duration_seconds_count",
              "loki_tasks_total", "loki_cost_usd_total", "loki_events_total{source=\"runner\",type=\"task\"}")
    lines = render(root).decode().splitlines()
    return "\n".join(line for line in lines if line.startswith(wanted))
