"""Spans folded from events: project (session) -> task -> RARV phase -> gate / agent / council.

A pure fold: :func:`apply` reads one event, updates the open spans in :class:`SpanState` and
returns the spans that event finished. Every id is derived from event ids (a trace from its
session, a span from the event that opened it), so folding the same log again, after a crash
or on another machine, gives byte-identical spans that a backend recognises as the same.

Work per event is bounded by the spans open in its own trace, never by the size of the log.
"""
from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from eventlog import Event

from .vocabulary import AGENT_ENDS, AGENT_STARTS, PASSED, council_verdict, gate_result, number, text, time_ns

AttributeValue = str | bool | int | float
PROJECT_TRACE = "_project"  # events that belong to no session share one trace per project


class Span(msgspec.Struct, kw_only=True):
    """One span as it will be exported; ``end_ns`` is 0 while it is open."""

    trace_id: str                 # 32 hex digits
    span_id: str                  # 16 hex digits
    parent_span_id: str = ""
    name: str
    start_ns: int
    end_ns: int = 0
    attributes: dict[str, AttributeValue] = {}
    error: str | None = None      # the status message of a span that failed
    first_seq: int = 0
    last_seq: int = 0


class Trace(msgspec.Struct, kw_only=True):
    """The open spans of one trace, by key, and which of them new children hang under."""

    key: str                      # the session id (or correlation id) it was opened for
    trace_id: str
    root: str | None = None       # key of the project span (the session)
    tasks: dict[str, None] = {}   # open task keys, oldest first
    phase: str | None = None      # key of the open RARV phase
    open: dict[str, None] = {}    # every open key of this trace


class SpanState(msgspec.Struct, kw_only=True):
    """Everything :func:`apply` needs between events (persisted with the exporter's cursor)."""

    project_id: str = "project"
    spans: dict[str, Span] = {}       # open spans by key
    traces: dict[str, Trace] = {}     # open traces by trace key
    owner: dict[str, str] = {}        # open span key -> its trace key
    current: str | None = None        # the most recently started open session


def initial_state(project_id: str) -> SpanState:
    return SpanState(project_id=project_id)


#: The types this fold reads; any other event is skipped after its envelope.
TYPES = frozenset({"session", "task", "state", "quality", "agent", "council", "otel",
                   "otel_span_start", "otel_span_end"})


def apply(state: SpanState, event: Event) -> list[Span]:
    """Fold one event; return the spans it finished (possibly none)."""
    handler = _HANDLERS.get(event.type)
    if handler is None:
        return []
    return handler(state, event)


# ---------------------------------------------------------------------------- handlers

def _on_session(state: SpanState, event: Event) -> list[Span]:
    action = event.action
    key = text(event.payload.get("session_id")) or event.stream or event.id
    if action == "start":
        trace = _trace(state, key)
        if trace.root is not None:
            return []  # a repeated start: the session is already open
        _open(state, trace, f"session:{key}", "loki.project", event, parent="",
              attributes={"loki.project.id": state.project_id, "loki.session.id": key,
                          **_pick(event.payload, model="loki.model", provider="loki.provider")})
        trace.root = f"session:{key}"
        state.current = key
        return []
    if action in ("end", "stop", "complete", "completed"):
        if key not in state.traces:
            return []
        status = text(event.payload.get("status"))
        error = f"session {status}" if status in ("failed", "error", "crashed") else None
        return _close_trace(state, key, event, error)
    return []


def _on_task(state: SpanState, event: Event) -> list[Span]:
    action = event.action
    task_id = text(event.payload.get("task_id")) or event.stream
    if not task_id:
        return []
    key = f"task:{task_id}"
    if action in ("created", "claimed", "started", "start", "assigned"):
        if key not in state.spans:
            trace = _trace(state, _trace_key(state, event))
            _open(state, trace, key, "loki.task", event, parent=_under(state, trace, tasks=False, phase=False),
                  attributes={"loki.task.id": task_id, **_pick(event.payload, title="loki.task.title")})
            trace.tasks[key] = None
        return []
    if action in ("completed", "complete", "failed", "fail", "cancelled"):
        failed = action in ("failed", "fail")
        error = (text(event.payload.get("error")) or "task failed") if failed else None
        if key not in state.spans:
            # Only the end was seen: the span still exists, reaching back by its duration.
            trace = _trace(state, _trace_key(state, event))
            end = time_ns(event)
            start = end - int(number(event.payload.get("duration_ms")) * 1_000_000)
            span = _span(trace, "loki.task", event, parent=_under(state, trace, tasks=False, phase=False),
                         attributes={"loki.task.id": task_id}, start_ns=start)
            return [_finish(span, event, error)]
        return _close_task(state, key, event, error)
    return []


def _on_state(state: SpanState, event: Event) -> list[Span]:
    if event.action != "phase":
        return []
    phase = (text(event.payload.get("phase")) or "").upper()
    if not phase:
        return []
    trace = _trace(state, _trace_key(state, event))
    done = _close(state, trace.phase, event, None) if trace.phase else []
    trace.phase = None
    key = f"phase:{event.id}"
    attributes: dict[str, AttributeValue] = {"loki.rarv.phase": phase}
    if "iteration" in event.payload:
        attributes["loki.iteration"] = text(event.payload["iteration"]) or ""
    _open(state, trace, key, "loki.rarv_phase", event, parent=_under(state, trace, phase=False),
          attributes=attributes)
    trace.phase = key
    return done


def _on_quality(state: SpanState, event: Event) -> list[Span]:
    if event.action != "gate":
        return []
    gate, result = gate_result(event)
    passed = result in PASSED
    task_id = text(event.payload.get("task_id")) or event.stream
    task_key = f"task:{task_id}"
    # A gate of an open task belongs to that task's trace, whatever session runs now.
    trace = _trace(state, state.owner[task_key] if task_key in state.owner else _trace_key(state, event))
    parent = _gate_parent(state, trace, task_id)
    span = _span(trace, "loki.quality_gate", event, parent=parent, attributes={
        "loki.quality_gate.name": gate, "loki.quality_gate.result": result, "loki.quality_gate.passed": passed,
        **({"loki.task.id": task_id} if task_id else {}),
    })
    return [_finish(span, event, None if passed or result in ("", "skipped", "not_run", "inconclusive")
                    else f"gate {gate} {result}")]


def _on_agent(state: SpanState, event: Event) -> list[Span]:
    action = event.action or ""
    agent_id = text(event.payload.get("agent_id")) or event.stream
    if not agent_id:
        return []
    key = f"agent:{agent_id}"
    if action in AGENT_STARTS:
        if key in state.spans:
            return []
        trace = _trace(state, _trace_key(state, event))
        _open(state, trace, key, "loki.agent", event, parent=_under(state, trace), attributes={
            "loki.agent.id": agent_id, "loki.agent.type": text(event.payload.get("agent_type")) or "",
            "loki.agent.action": "spawn",
        })
        return []
    if action in AGENT_ENDS:
        span = state.spans.get(key)
        if span is None:
            return []
        span.attributes["loki.agent.action"] = "fail" if action.startswith("fail") else "complete"
        return _close(state, key, event, "agent failed" if action.startswith("fail") else None)
    span = state.spans.get(key)
    if span is not None:
        span.attributes["loki.agent.action"] = action or "work"
    return []


def _on_council(state: SpanState, event: Event) -> list[Span]:
    verdict, approved = council_verdict(event)
    trace = _trace(state, _trace_key(state, event))
    span = _span(trace, "loki.council", event, parent=_under(state, trace), attributes={
        "loki.council.reviewer": text(event.payload.get("reviewer")) or "",
        "loki.council.verdict": verdict, "loki.council.approved": approved,
    })
    return [_finish(span, event, None)]


def _on_custom(state: SpanState, event: Event) -> list[Span]:
    """Loki Mode's runner writes ``otel_span_start`` / ``otel_span_end`` around work of its own."""
    kind = event.type if event.type != "otel" else f"otel_{event.action or ''}"
    trace_key = _trace_key(state, event)
    name = text(event.payload.get("name")) or text(event.payload.get("span_name")) or "loki.span"
    ident = (text(event.payload.get("span_id")) or text(event.payload.get("span"))
             or text(event.payload.get("id")) or name)
    key = f"custom:{trace_key}:{ident}"
    if kind == "otel_span_start":
        if key in state.spans:
            return []
        trace = _trace(state, trace_key)
        attributes = {f"loki.{k}": v for k, v in event.payload.items()
                      if isinstance(v, (str, bool, int, float)) and k not in ("name", "span_name")}
        _open(state, trace, key, name, event, parent=_under(state, trace), attributes=attributes)
        return []
    if kind == "otel_span_end":
        status = (text(event.payload.get("status")) or "").lower()
        return _close(state, key, event, f"span {status}" if status in ("error", "failed", "fail") else None)
    return []


_HANDLERS = {
    "session": _on_session, "task": _on_task, "state": _on_state, "quality": _on_quality,
    "agent": _on_agent, "council": _on_council, "otel": _on_custom,
    "otel_span_start": _on_custom, "otel_span_end": _on_custom,
}


# ---------------------------------------------------------------------------- span bookkeeping

def _trace(state: SpanState, key: str) -> Trace:
    trace = state.traces.get(key)
    if trace is None:
        trace = state.traces[key] = Trace(key=key, trace_id=derive_id("trace", key, 16))
    return trace


def _trace_key(state: SpanState, event: Event) -> str:
    # The session named by the event, else its correlation id, else the session that is running.
    named = text(event.payload.get("session_id"))
    if named:
        return named
    if event.correlation_id and event.correlation_id in state.traces:
        return event.correlation_id
    return state.current or event.correlation_id or PROJECT_TRACE


def _under(state: SpanState, trace: Trace, *, tasks: bool = True, phase: bool = True) -> str:
    """The span id new children hang under: the open phase, else the newest task, else the root."""
    for key in ([trace.phase] if phase else []) + ([next(reversed(trace.tasks), None)] if tasks else []) + [trace.root]:
        if key is not None and key in state.spans:
            return state.spans[key].span_id
    return ""


def _gate_parent(state: SpanState, trace: Trace, task_id: str | None) -> str:
    task_key = f"task:{task_id}" if task_id else None
    task = state.spans.get(task_key) if task_key else None
    phase = state.spans.get(trace.phase) if trace.phase else None
    if phase is not None and (task is None or phase.parent_span_id == task.span_id):
        return phase.span_id
    if task is not None:
        return task.span_id
    return _under(state, trace)


def _span(trace: Trace, name: str, event: Event, *, parent: str,
          attributes: dict[str, AttributeValue], start_ns: int | None = None) -> Span:
    return Span(trace_id=trace.trace_id, span_id=derive_id("span", event.id, 8), parent_span_id=parent,
                name=name, start_ns=time_ns(event) if start_ns is None else start_ns,
                attributes=attributes, first_seq=event.seq, last_seq=event.seq)


def _open(state: SpanState, trace: Trace, key: str, name: str, event: Event, *,
          parent: str, attributes: dict[str, AttributeValue]) -> None:
    state.spans[key] = _span(trace, name, event, parent=parent, attributes=attributes)
    state.owner[key] = trace.key
    trace.open[key] = None


def _close(state: SpanState, key: str | None, event: Event, error: str | None) -> list[Span]:
    span = state.spans.pop(key, None) if key else None
    if span is None:
        return []
    trace_key = state.owner.pop(key)
    trace = state.traces.get(trace_key)
    if trace is not None:
        trace.open.pop(key, None)
        trace.tasks.pop(key, None)
        if trace.phase == key:
            trace.phase = None
    return [_finish(span, event, error)]


def _close_task(state: SpanState, key: str, event: Event, error: str | None) -> list[Span]:
    trace = state.traces.get(state.owner.get(key, ""))
    task = state.spans.get(key)
    done: list[Span] = []
    if trace is not None and trace.phase and task is not None:
        phase = state.spans.get(trace.phase)
        if phase is not None and phase.parent_span_id == task.span_id:
            done += _close(state, trace.phase, event, None)  # a phase inside the task ends with it
    return done + _close(state, key, event, error)


def _close_trace(state: SpanState, trace_key: str, event: Event, error: str | None) -> list[Span]:
    trace = state.traces[trace_key]
    root = trace.root
    done: list[Span] = []
    for key in reversed([k for k in trace.open if k != root]):  # children before their parents
        done += _close(state, key, event, None)
    if root is not None:
        done += _close(state, root, event, error)
    del state.traces[trace_key]
    if state.current == trace_key:
        state.current = next(reversed([k for k, t in state.traces.items() if t.root]), None)
    return done


def _finish(span: Span, event: Event, error: str | None) -> Span:
    span.end_ns = max(time_ns(event), span.start_ns)
    span.last_seq = event.seq
    span.error = error
    return span


# ---------------------------------------------------------------------------- small pure helpers

def derive_id(kind: str, key: str, size: int) -> str:
    """A deterministic, non-zero id of ``size`` bytes (hex) for a trace or span."""
    digest = hashlib.sha256(f"lokilog.{kind}\0{key}".encode()).digest()[:size]
    if not any(digest):  # all-zero ids are invalid in OTLP
        digest = b"\x01" + digest[1:]
    return digest.hex()


def _pick(payload: dict[str, Any], **names: str) -> dict[str, AttributeValue]:
    return {attribute: found for key, attribute in names.items() if (found := text(payload.get(key)))}
