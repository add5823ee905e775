"""The OTLP exporter: a subscriber that folds the log into spans and metrics and sends them.

Its cursor file holds the fold's state beside the seq, written in one atomic replace after the
spans finished up to that seq were accepted: a crash resends at most the last batch, and since
every id is derived from events, the resent spans are identical (backends keep one of each).
A collector that is down or slow never blocks a writer: the exporter only reads the log, waits
at most its deadline per batch and then backs off, holding its position until the batch lands.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

import msgspec

from eventlog import FileEventLog, LokiPaths
from eventlog.fsutil import atomic_write
from eventlog.retry import backoff_delay

from . import metrics as metric_fold
from . import spans as span_fold
from .settings import OtelSettings
from .transport import ExportError

_log = logging.getLogger("lokilog.otel")
NAME = "otel"
FORMAT = 1


class Checkpoint(msgspec.Struct, kw_only=True):
    """The cursor file: a subscriber cursor (seq, id) plus the fold state at that seq."""

    seq: int = 0
    id: str | None = None
    format: int = FORMAT
    spans: span_fold.SpanState = msgspec.field(default_factory=span_fold.SpanState)
    metrics: metric_fold.MetricState = msgspec.field(default_factory=metric_fold.MetricState)


class OtelExporter:
    """Drives the folds from the log and sends batches; ``drain`` is called by `lokilog watch`."""

    name = NAME

    def __init__(self, loki_dir: Path, settings: OtelSettings, *, sender=None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.loki_dir = Path(loki_dir)
        self.settings = settings
        self.path = LokiPaths(self.loki_dir).cursors / f"{NAME}.json"
        self._sender = sender
        self._clock = clock
        self._state: Checkpoint | None = None     # folded up to _state.seq (ahead of the file)
        self._pending: list[span_fold.Span] = []      # finished, not yet accepted
        self._pending_since = 0.0
        self._metrics_dirty = False
        self._retry_at = 0.0
        self._failures = 0
        self._committed_seq = 0
        self._committed_at = 0.0
        self._metrics_at = 0.0
        self.sent_spans = 0

    # ------------------------------------------------------------------ public

    def drain(self, log: FileEventLog, *, force: bool = False) -> int:
        """Fold new events and send what is due (everything with ``force``); return spans sent.

        Raises ExportError when a due batch was not accepted; the position stays where it was.
        """
        if self._clock() < self._retry_at and not force:
            return 0  # backing off after a failure: no network, no reading
        state = self._load(log)
        before = self.sent_spans
        try:
            if self._pending and len(self._pending) >= self.settings.batch_size:
                self._flush(state)
            for batch in log.read_batches(state.seq + 1):
                for event in batch:
                    self._fold(state, event)
                    if len(self._pending) >= self.settings.batch_size:
                        self._flush(state)
            if self._pending and (force or self._clock() - self._pending_since >= self.settings.batch_seconds):
                self._flush(state)
            if not self._pending:
                self._commit(state)
                if self._metrics_dirty and (force or self._clock() - self._metrics_at >= self.settings.batch_seconds):
                    self._send_metrics(state)
        except ExportError:
            self._failures += 1
            self._retry_at = self._clock() + backoff_delay(self._failures - 1, 2.0, 60.0)
            raise
        self._failures = 0
        return self.sent_spans - before

    def handle(self, event) -> None:  # the Subscriber protocol; drain() is what runs
        raise NotImplementedError("the OTLP exporter is driven by drain(), in batches")

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()

    @property
    def position(self) -> int:
        """The seq up to which everything is delivered (the cursor on disk)."""
        return self._read_checkpoint().seq

    # ------------------------------------------------------------------ folding and sending

    def _fold(self, state: Checkpoint, event) -> None:
        finished = span_fold.apply(state.spans, event)
        if metric_fold.apply(state.metrics, event):
            self._metrics_dirty = True
        state.seq, state.id = event.seq, event.id
        if finished:
            if not self._pending:
                self._pending_since = self._clock()
            self._pending.extend(finished)

    def _flush(self, state: Checkpoint) -> None:
        from .encode import to_bytes, trace_request

        batch, self._pending = self._pending, []
        try:
            self._sender_or_new().send(self.settings.traces_url, to_bytes(trace_request(batch, self.settings), self.settings))
        except ExportError as exc:
            if not exc.dropped:
                self._pending = batch + self._pending
                raise
            _log.error("otel: %s; %d spans dropped", exc, len(batch))  # a 400 will not change on retry
        self.sent_spans += len(batch)
        # The cursor lags by at most a second of batches: losing that much to a crash only
        # resends spans with the same ids, while committing every batch would cost an fsync each.
        if self._clock() - self._committed_at >= 1.0:
            self._commit(state)

    def _send_metrics(self, state: Checkpoint) -> None:
        from .encode import metrics_request, to_bytes

        try:
            self._sender_or_new().send(self.settings.metrics_url,
                                       to_bytes(metrics_request(state.metrics, self.settings), self.settings))
            self._metrics_dirty = False
            self._metrics_at = self._clock()
        except ExportError as exc:  # cumulative: the next send carries everything
            _log.warning("otel: metrics not delivered: %s", exc)

    def _sender_or_new(self):
        if self._sender is None:
            from .transport import OtlpSender

            self._sender = OtlpSender(self.settings)
        return self._sender

    # ------------------------------------------------------------------ the cursor file

    def _load(self, log: FileEventLog) -> Checkpoint:
        if self._state is None:
            self._state = self._checked(self._read_checkpoint(), log)
            self._committed_seq = self._state.seq
        return self._state

    def _read_checkpoint(self) -> Checkpoint:
        try:
            found = msgspec.json.decode(self.path.read_bytes(), type=Checkpoint)
        except FileNotFoundError:
            return self._fresh()
        except (msgspec.DecodeError, msgspec.ValidationError):
            _log.warning("otel: %s is unreadable; exporting from the first event again", self.path)
            return self._fresh()
        if found.format != FORMAT:
            return self._fresh()
        return found

    def _checked(self, found: Checkpoint, log: FileEventLog) -> Checkpoint:
        # A position the log does not back up (lost tail, replaced log) starts over: resent
        # spans carry the same ids, so starting over costs bandwidth, never duplicates.
        if found.seq == 0:
            return found
        event = log.get(found.seq) if found.seq <= log.head_seq else None
        if event is None or event.id != found.id:
            _log.warning("otel: the log no longer holds seq %d as exported; exporting from the first event again",
                         found.seq)
            return self._fresh()
        return found

    def _fresh(self) -> Checkpoint:
        return Checkpoint(spans=span_fold.initial_state(self.settings.project_id))

    def _commit(self, state: Checkpoint) -> None:
        if state.seq == self._committed_seq:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, msgspec.json.encode(state))
        self._committed_seq, self._committed_at = state.seq, self._clock()
