"""Checkpoints with rollback and undo, and approvals: the control actions (control scope)."""
from __future__ import annotations

from typing import Annotated, Any, Optional

import msgspec
from fastapi import APIRouter, Depends, Query, Request

from .auth import Principal, require
from .context import loki_dir, open_log
from .schemas import AnswerRequest, CheckpointCreate, RollbackOut, RollbackRequest, UndoCall

router = APIRouter(tags=["control"])


@router.get("/api/checkpoints", summary="Every checkpoint, oldest first")
def list_checkpoints(request: Request, _: Principal = Depends(require("read"))) -> dict[str, list[dict[str, Any]]]:
    from commands.checkpoints.lifecycle import list_checkpoints as listed
    from projections.checkpoints import public

    return {"checkpoints": [public(r) for r in listed(loki_dir(request))]}


@router.post("/api/checkpoints", summary="Take a checkpoint", status_code=201)
def create_checkpoint(body: CheckpointCreate, request: Request,
                      _: Principal = Depends(require("control"))) -> dict[str, Any]:
    from commands.checkpoints.lifecycle import catalogue, create

    root = loki_dir(request)
    made = create(root, body.message)
    catalogue(root)
    manifest = made.manifest
    return {"id": manifest.id, "log_seq": manifest.log_seq, "files": sum(e.kind == "file" for e in manifest.entries),
            "git_error": made.git_error, "skipped": list(manifest.skipped)}


@router.post("/api/checkpoints/{checkpoint_id}/rollback", response_model=RollbackOut,
             summary="Roll back to a checkpoint (a pre-rollback checkpoint is taken first: the undo)")
def rollback(checkpoint_id: str, request: Request, body: Optional[RollbackRequest] = None,
             _: Principal = Depends(require("control"))):
    """`checkpoint_id` is an id or `latest`; ids that could reach outside `.loki/` are refused (400)."""
    from commands.checkpoints.ids import check_id
    from commands.checkpoints.rollback import rollback as do_rollback

    if checkpoint_id != "latest":
        check_id(checkpoint_id)
    code = bool(body and body.code)
    result = do_rollback(loki_dir(request), checkpoint_id, code=code)
    undo_body = {"code": True} if result.code_restored else {}
    return RollbackOut(
        checkpoint_id=result.checkpoint_id, pre_rollback_checkpoint=result.pre_rollback_checkpoint,
        to_seq=result.to_seq, restored=list(result.outcome.restored), removed=list(result.outcome.removed),
        errors=list(result.outcome.errors + result.errors), code_restored=result.code_restored,
        undo=UndoCall(method="POST", path=f"/api/checkpoints/{result.pre_rollback_checkpoint}/rollback",
                      body=undo_body, command=result.undo_command),
    )


@router.get("/api/approvals", summary="Approval requests (pending by default)")
def list_approvals(
    request: Request, _: Principal = Depends(require("read")),
    status: Annotated[str, Query(pattern="^(pending|granted|denied|all)$")] = "pending",
) -> dict[str, list[dict[str, Any]]]:
    from commands.policy.approvals import approvals

    with open_log(request) as log:
        found = sorted(approvals(log).approvals.values(), key=lambda a: a.requested_seq)
    return {"approvals": [msgspec.to_builtins(a) for a in found if status == "all" or a.status == status]}


def _answer(request: Request, approval_id: str, granted: bool, body: Optional[AnswerRequest], principal: Principal):
    from commands.policy.approvals import answer

    with open_log(request) as log:
        receipt = answer(log, approval_id, granted, by=principal.who, reason=body.reason if body else None,
                         source="api")
    return {"approval_id": approval_id, "status": "granted" if granted else "denied", "seq": receipt.seq}


@router.post("/api/approvals/{approval_id}/approve", summary="Grant a pending approval (409 if already answered)")
def approve(approval_id: str, request: Request, body: Optional[AnswerRequest] = None,
            principal: Principal = Depends(require("control"))) -> dict[str, Any]:
    return _answer(request, approval_id, True, body, principal)


@router.post("/api/approvals/{approval_id}/deny", summary="Deny a pending approval (409 if already answered)")
def deny(approval_id: str, request: Request, body: Optional[AnswerRequest] = None,
         principal: Principal = Depends(require("control"))) -> dict[str, Any]:
    return _answer(request, approval_id, False, body, principal)
