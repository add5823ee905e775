"""Run status, projection state with time travel and diffs, cost and budgets, Prometheus metrics."""
from __future__ import annotations

from typing import Annotated, Any, Optional

import msgspec
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse

from eventlog import InvalidEventError

from .auth import Principal, require
from .context import loki_dir, open_log
from .errors import not_found
from .schemas import DiffOut, StateOut

router = APIRouter(tags=["state"])


@router.get("/api/status", summary="The run: session, RARV phase, agents, tasks, gates")
def status(request: Request, _: Principal = Depends(require("read"))) -> dict[str, Any]:
    from projections.engine import catch_up
    from projections.run_state import RunStateProjection, summary

    root = loki_dir(request)
    result = catch_up(root, RunStateProjection())
    with open_log(request) as log:
        head = log.head_seq
    run = summary(result.state)
    session = run["session"] or {}
    return {"status": "ok", "service": "lokilog", "head_seq": head, "tail_position": request.app.state.tail.position,
            "session_status": session.get("status"), "phase": run["phase"], "run": run,
            "notices": list(result.notices)}


@router.get("/api/health", summary="Is the server following the log: head, live-tail and index positions")
def health(request: Request, _: Principal = Depends(require("read"))) -> dict[str, Any]:
    tail = request.app.state.tail
    with open_log(request) as log:
        head = log.head_seq
    return {"status": "ok", "head_seq": head, "tail_position": tail.position, "indexed_seq": tail.indexed,
            "sse_clients": len(tail.subscribers)}


def _projection(name: str):
    from projections.registry import all_projections

    for projection in all_projections():
        if projection.name == name:
            return projection
    raise not_found(f"no projection {name!r}; known: {', '.join(sorted(p.name for p in all_projections()))}")


@router.get("/api/state", summary="The projections this log keeps")
def projections(_: Principal = Depends(require("read"))) -> dict[str, list[str]]:
    from projections.registry import all_projections

    return {"projections": sorted(p.name for p in all_projections())}


@router.get("/api/state/{projection}", response_model=StateOut, summary="A projection's state, now or as of a seq or time")
def state(
    projection: str, request: Request, _: Principal = Depends(require("read")),
    at_seq: Annotated[Optional[int], Query(ge=0, description="State as of this seq (inclusive).")] = None,
    at: Annotated[Optional[str], Query(description="State as of this RFC 3339 time (inclusive).")] = None,
):
    from projections.engine import state_at

    if at_seq is not None and at is not None:
        raise InvalidEventError("give at_seq or at, not both")
    result = state_at(loki_dir(request), _projection(projection), seq=at_seq, timestamp=at)
    return StateOut(name=projection, seq=result.seq, state=msgspec.to_builtins(result.state))


@router.get("/api/state/{projection}/diff", response_model=DiffOut, summary="What changed in a projection between two points")
def diff(
    projection: str, request: Request, _: Principal = Depends(require("read")),
    from_: Annotated[str, Query(alias="from", description="A seq or an RFC 3339 time.")] = "0",
    to: Annotated[Optional[str], Query(description="A seq or an RFC 3339 time (default: now).")] = None,
):
    from projections.diff import diff_states
    from projections.engine import state_at

    chosen = _projection(projection)
    root = loki_dir(request)
    before = state_at(root, chosen, **_point(from_))
    after = state_at(root, chosen, **(_point(to) if to is not None else {}))
    return DiffOut(name=projection, from_seq=before.seq, to_seq=after.seq,
                   changes=msgspec.to_builtins(diff_states(before.state, after.state)))


def _point(text: str) -> dict:
    return {"seq": int(text)} if text.strip().isdigit() else {"timestamp": text}


@router.get("/api/cost", summary="Token usage and spend, with budget windows")
def cost(
    request: Request, _: Principal = Depends(require("read")),
    by: Annotated[str, Query(description="Comma-separated: model, provider, agent, task, session, hour, day.")] = "model",
) -> dict[str, Any]:
    from projections.cost.budgets import current, spend
    from projections.cost import CostProjection
    from projections.cost.config import load_budgets, load_prices
    from projections.cost.detail import state_for
    from projections.cost.report import GROUPS, breakdown, total
    from projections.engine import catch_up

    dims = tuple(p.strip() for p in by.split(",") if p.strip())
    if not dims or any(d not in GROUPS for d in dims):
        raise InvalidEventError(f"by={by!r}: choose from {', '.join(GROUPS)}")
    root = loki_dir(request)
    prices, budgets = load_prices(root), load_budgets(root)
    ledger = catch_up(root, CostProjection(), write_views=False)
    state = ledger.state
    return {
        "by": list(dims), "rows": [t.to_dict(dims) for t in breakdown(state_for(root, state, ledger.seq, dims), prices, dims)],
        "total": total(state, prices).to_dict(()),
        "budgets": [current(spend(state, prices, b)).to_dict() for b in budgets],
    }


@router.get("/metrics", response_class=PlainTextResponse, tags=["metrics"], summary="Prometheus text exposition",
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics(request: Request, _: Principal = Depends(require("read"))):
    from subscribers.prometheus import render

    return PlainTextResponse(render(loki_dir(request)), media_type="text/plain; version=0.0.4; charset=utf-8")
