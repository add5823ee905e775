"""`lokilog otel`: send the run's spans and metrics to an OpenTelemetry collector over OTLP/HTTP."""
from __future__ import annotations

import os

import typer

from .context import loki_dir
from .output import echo_json

OTEL_HELP = """\
OpenTelemetry export: the run as one trace per session (project -> task -> RARV phase ->
quality gate / agent / council review) and the six run metrics, sent over OTLP/HTTP.

Set LOKI_OTEL_ENDPOINT (or OTEL_EXPORTER_OTLP_ENDPOINT), e.g. http://127.0.0.1:4318; then
`lokilog watch` exports as events arrive, and `lokilog otel export --once` sends everything
not yet sent and exits (for CI). Also read: OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME,
OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf or http/json),
OTEL_EXPORTER_OTLP_TIMEOUT (ms). Needs the otel extra: pip install 'lokilog[otel]'.

Examples:

\b
  LOKI_OTEL_ENDPOINT=http://127.0.0.1:4318 lokilog otel export --once
  lokilog otel status --json
"""


def register(app: typer.Typer) -> None:
    group = typer.Typer(help=OTEL_HELP, no_args_is_help=True, rich_markup_mode=None)
    group.command("export")(export)
    group.command("status")(status)
    app.add_typer(group, name="otel")


def export(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="Send what is pending and exit (what export always does; "
                              "`lokilog watch` exports continuously)."),
    json: bool = typer.Option(False, "--json", help="Print what was sent as JSON."),
) -> None:
    """Send the spans and metrics of every event after the exporter's cursor, then exit.

    Spans still open (a session that has not ended) are sent when they end. Exit 1 when the
    collector did not accept a batch: the cursor stays, and the next run resends from there.
    """
    del once  # accepted so CI scripts can say what they mean
    from eventlog import FileEventLog
    from subscribers.otel.exporter import OtelExporter
    from subscribers.otel.settings import OtelSettings
    from subscribers.otel.transport import ExportError

    root = loki_dir(ctx)
    exporter = OtelExporter(root, OtelSettings.from_env(os.environ, root))
    try:
        with FileEventLog(root) as log:
            try:
                sent = exporter.drain(log, force=True)
            except ExportError as exc:
                typer.echo(f"lokilog: error: {exc}; {exporter.sent_spans} spans sent, the rest stays queued "
                           f"from seq {exporter.position + 1}", err=True)
                raise typer.Exit(1) from None
            head = log.head_seq
    finally:
        exporter.close()
    result = {"spans_sent": sent, "position": exporter.position, "head": head,
              "traces_url": exporter.settings.traces_url}
    if json:
        echo_json(result)
    else:
        typer.echo(f"sent {sent} spans to {exporter.settings.traces_url}; exported up to seq {exporter.position} "
                   f"of {head}")


def status(ctx: typer.Context, json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Say whether export is configured, where it sends, and how far it has got."""
    from eventlog import FileEventLog
    from subscribers.otel.exporter import OtelExporter
    from subscribers.otel.settings import OtelSettings, otel_configured

    root = loki_dir(ctx)
    if not otel_configured(os.environ):
        result = {"configured": False}
        text = "OpenTelemetry export is off: set LOKI_OTEL_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT"
    else:
        exporter = OtelExporter(root, OtelSettings.from_env(os.environ, root))
        with FileEventLog(root) as log:
            head = log.head_seq
        result = {"configured": True, "traces_url": exporter.settings.traces_url,
                  "metrics_url": exporter.settings.metrics_url, "protocol": exporter.settings.protocol,
                  "position": exporter.position, "head": head}
        text = (f"exporting to {exporter.settings.traces_url} ({exporter.settings.protocol}); "
                f"exported up to seq {exporter.position} of {head}")
    if json:
        echo_json(result)
    else:
        typer.echo(text)
