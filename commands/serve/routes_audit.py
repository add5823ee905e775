"""The audit trail over HTTP (audit scope): verify, head, query, compliance reports."""
from __future__ import annotations

from dataclasses import asdict
from itertools import islice
from typing import Annotated, Any, Optional

import msgspec
from fastapi import APIRouter, Depends, Query, Request

from eventlog import InvalidEventError

from .auth import Principal, require
from .context import loki_dir
from .errors import not_found

router = APIRouter(tags=["audit"])


def sync(root) -> None:
    """Bring the chain up to the log's head first, as `lokilog audit sync` does."""
    from projections.audit import AuditProjection, AuditSettings
    from projections.engine import catch_up

    settings = AuditSettings.from_env()
    if not settings.disabled:
        catch_up(root, AuditProjection(settings))


@router.get("/api/audit/verify", summary="Recompute every hash and link and compare entries with the log")
def verify(request: Request, _: Principal = Depends(require("audit")),
           against: Annotated[Optional[str], Query(description="A head hash recorded earlier.")] = None) -> dict[str, Any]:
    from projections.audit.trail import verify_trail

    root = loki_dir(request)
    sync(root)
    return verify_trail(root, against=against).to_dict()


@router.get("/api/audit/head", summary="The chain's head, for anchoring elsewhere")
def head(request: Request, _: Principal = Depends(require("audit"))) -> dict[str, Any]:
    from projections.audit.trail import chain_head

    root = loki_dir(request)
    sync(root)
    return asdict(chain_head(root))


@router.get("/api/audit/query", summary="Audit entries filtered by who, what and time")
def query(
    request: Request, _: Principal = Depends(require("audit")),
    who: Optional[str] = None, what: Optional[str] = None, since: Optional[str] = None,
    until: Optional[str] = None, limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> dict[str, list[dict[str, Any]]]:
    return {"entries": [msgspec.to_builtins(e) for e in entries(loki_dir(request), who, what, since, until, limit)]}


def entries(root, who: str | None, what: str | None, since: str | None, until: str | None, limit: int) -> list:
    """Chain entries matching a query, after bringing the chain up to the log."""
    from projections.audit.trail import EntryQuery, read_entries

    sync(root)
    try:
        selection = EntryQuery.build(who, what, since, until)
    except ValueError as exc:
        raise InvalidEventError(str(exc)) from None
    return list(islice(read_entries(root, selection), limit))


@router.get("/api/audit/report/{framework}", summary="Evidence per control of soc2, iso27001 or gdpr")
def report(framework: str, request: Request, _: Principal = Depends(require("audit"))) -> dict[str, Any]:
    from projections.audit.compliance import build_report
    from projections.audit.trail import read_entries, verify_trail

    root = loki_dir(request)
    sync(root)
    name = framework.lower().replace("-", "")
    try:
        return build_report(name, read_entries(root), verify_trail(root)).to_dict()
    except ValueError:
        raise not_found(f"no report {framework!r}; choose soc2, iso27001 or gdpr") from None
