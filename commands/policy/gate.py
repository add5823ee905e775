"""The API callers use: evaluate at an enforcement point, record the decision, open approvals.

    gate = PolicyGate(".loki")
    result = gate.check("pre_execution", {"file_path": p, "project_dir": root, "active_agents": 3})
    if not result.allowed: ...

Every check appends ``policy.decision`` (with the rule that decided); a REQUIRE_APPROVAL
verdict also appends ``approval.requested`` and, when a webhook is configured, posts it and
records ``approval.notified``. Recorded contexts never hold scanned content, and every other
string in them passes through the secret/PII redactor: fail closed for privacy.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from eventlog import EventLogError, FileEventLog, resolve_loki_dir
from eventlog.redaction.secrets import redact_tree

from . import approvals
from .model import Decision, Verdict
from .store import PolicyStore, PolicyWatcher


class PolicyDeniedError(EventLogError):
    """A policy denied the action (raised by :meth:`PolicyGate.enforce`)."""

    def __init__(self, result: "CheckResult") -> None:
        verdict = result.verdict
        super().__init__(f"policy {verdict.rule or '(none)'} denied {verdict.point}: {verdict.reason}")
        self.result = result


class ApprovalRequiredError(EventLogError):
    """The action needs an approval first (raised by :meth:`PolicyGate.enforce`)."""

    def __init__(self, result: "CheckResult") -> None:
        verdict = result.verdict
        super().__init__(f"policy {verdict.rule} requires approval {result.approval_id} for {verdict.point}: "
                         f"{verdict.reason} (lokilog approve {result.approval_id})")
        self.result = result


@dataclass(frozen=True)
class CheckResult:
    """A verdict and what was recorded for it."""

    verdict: Verdict
    event_id: str
    seq: int | None
    approval_id: str | None = None
    delivery: Any = None

    @property
    def allowed(self) -> bool:
        return self.verdict.decision is Decision.ALLOW

    def to_dict(self) -> dict[str, Any]:
        out = {**self.verdict.to_dict(), "event_id": self.event_id, "seq": self.seq}
        if self.approval_id:
            out["approval_id"] = self.approval_id
        if self.delivery is not None:
            out["notification"] = self.delivery.to_dict()
        return out


def prepare_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """Add what only the file system knows: absolute paths and, under ``resolved``, their real paths.

    A relative ``file_path`` is taken relative to ``project_dir``; a relative ``project_dir``
    relative to the working directory. The pure path rule checks both the lexical and the
    resolved paths, so a symlink that leads out of the project is caught.
    """
    out = dict(context)
    file_path, project_dir = out.get("file_path"), out.get("project_dir")
    if isinstance(file_path, str) and isinstance(project_dir, str) and file_path and project_dir \
            and "\0" not in file_path + project_dir:
        project_dir = os.path.abspath(project_dir)
        out["project_dir"] = project_dir
        out["resolved"] = {
            "file_path": os.path.realpath(os.path.join(project_dir, file_path)),
            "project_dir": os.path.realpath(project_dir),
        }
    return out


def sanitize_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """What of a context may be recorded: no scanned content, and every string redacted."""
    out = {k: v for k, v in context.items() if k != "content"}
    if isinstance(context.get("content"), str):
        out["content_length"] = len(context["content"])
    return redact_tree(out)[0]


class PolicyGate:
    """Evaluates and records policy decisions for one `.loki/` directory."""

    def __init__(self, loki_dir: str | os.PathLike[str] | None = None, *, log=None, store: PolicyStore | None = None,
                 source: str = "policy", env: Mapping[str, str] | None = None) -> None:
        self.loki_dir = Path(resolve_loki_dir(loki_dir))
        self.store = store or PolicyStore(self.loki_dir)
        self._own_log = log is None
        self.log = log if log is not None else FileEventLog(self.loki_dir)
        self.source = source
        self.env = env
        self.store.add_listener(self._record_load_error)
        if self.store.state.error:
            self._record_load_error(self.store.state)

    def _record_load_error(self, state) -> None:
        # A broken policy file must be visible in the log, once per distinct error: the id is
        # derived from the error, so a repeat (another gate, another process) is not stored twice.
        error = redact_tree(state.error)[0]
        kept = {"source": state.policy.source, "digest": state.policy.digest} if state.policy is not None else None
        digest = hashlib.sha256(f"{error}\n{kept}".encode()).hexdigest()[:32]
        self.log.append("policy", self.source, {"action": "load_failed", "error": error, "kept": kept},
                        id=f"policy-load-failed-{digest}")

    def evaluate(self, point: str, context: Mapping[str, Any]) -> Verdict:
        """Decide without recording (the file-system facts are gathered first)."""
        return self.store.evaluate(point, prepare_context(context))

    def check(self, point: str, context: Mapping[str, Any], *, source: str | None = None,
              correlation_id: str | None = None, notify: bool = True) -> CheckResult:
        """Decide at ``point`` and record the decision (and an approval request when one is needed)."""
        prepared = prepare_context(context)
        verdict = self.store.evaluate(point, prepared)
        recorded = sanitize_context(prepared)
        state = self.store.state
        payload = {"action": "decision", **verdict.to_dict(), "context": recorded}
        payload["reason"] = redact_tree(verdict.reason)[0]
        if state.policy is not None:
            payload["policy"] = {"source": state.policy.source, "digest": state.policy.digest}
        if state.error:
            payload["policy_error"] = state.error
        who = source or self.source
        receipt = self.log.append("policy", who, payload, correlation_id=correlation_id)
        if verdict.decision is not Decision.REQUIRE_APPROVAL:
            return CheckResult(verdict, receipt.id, receipt.seq)
        settings = state.policy.approvals if state.policy is not None else approvals.ApprovalSettings()
        approval_id, requested, body = approvals.request(
            self.log, verdict, recorded, settings, source=who, causation_id=receipt.id, correlation_id=correlation_id,
        )
        delivery = None
        if notify and settings.webhook is not None:
            from .webhook import notify as post

            delivery = post(settings.webhook, {**body, "event_id": requested.id}, requested.id, env=self.env)
            approvals.record_notification(self.log, approval_id, delivery, source=who, causation_id=requested.id)
        return CheckResult(verdict, receipt.id, receipt.seq, approval_id, delivery)

    def enforce(self, point: str, context: Mapping[str, Any], **options: Any) -> CheckResult:
        """Like :meth:`check`, but raise unless the action is allowed."""
        result = self.check(point, context, **options)
        if result.verdict.decision is Decision.DENY:
            raise PolicyDeniedError(result)
        if result.verdict.decision is Decision.REQUIRE_APPROVAL:
            raise ApprovalRequiredError(result)
        return result

    def watch(self, interval: float = 1.0) -> PolicyWatcher:
        """Start reloading the policy when its file changes; stop the returned watcher when done."""
        return PolicyWatcher(self.store, interval).start()

    def close(self) -> None:
        if self._own_log:
            self.log.close()

    def __enter__(self) -> "PolicyGate":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
