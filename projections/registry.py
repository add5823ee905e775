"""Every projection lokilog maintains, by name. `lokilog rebuild` and `lokilog watch` use this list."""
from __future__ import annotations

from .base import Projection


def all_projections() -> list[Projection]:
    """Return fresh instances of every built-in projection (imported lazily: CLI start-up stays fast)."""
    from .approvals import ApprovalsProjection
    from .checkpoints import CheckpointProjection
    from .cost import CostProjection
    from .crash_reports import CrashReportsProjection
    from .metrics import MetricsProjection
    from .outcomes import OutcomesProjection
    from .run_state import RunStateProjection
    from .trackers import TrackerProjection

    found: list[Projection] = [
        RunStateProjection(), CheckpointProjection(), CostProjection(), MetricsProjection(),
        ApprovalsProjection(), TrackerProjection(), CrashReportsProjection(), OutcomesProjection(),
    ]
    found += _audit()
    return found


def _audit() -> list[Projection]:
    from projections.audit.settings import AuditSettings

    settings = AuditSettings.from_env()
    if settings.disabled:  # LOKI_AUDIT_DISABLED=true
        return []
    from projections.audit.merkle.projection import MerkleProjection
    from projections.audit.projection import AuditProjection

    return [AuditProjection(settings), MerkleProjection(settings)]


def view_paths() -> tuple[str, ...]:
    """Every path (relative to `.loki/`) that some projection's views occupy."""
    return tuple(sorted({path for p in all_projections() for path in getattr(p, "views", ())}))
