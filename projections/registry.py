"""Every projection lokilog maintains, by name. `lokilog rebuild` and `lokilog watch` use this list."""
from __future__ import annotations

from .base import Projection


def all_projections() -> list[Projection]:
    """Return fresh instances of every built-in projection (imported lazily: CLI start-up stays fast)."""
    from .approvals import ApprovalsProjection
    from .checkpoints import CheckpointProjection
    from .crash_reports import CrashReportsProjection

    found: list[Projection] = [CheckpointProjection(), ApprovalsProjection(), CrashReportsProjection()]
    return found
