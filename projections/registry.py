"""Every projection lokilog maintains, by name. `lokilog rebuild` and `lokilog watch` use this list."""
from __future__ import annotations

from .base import Projection


def all_projections() -> list[Projection]:
    """Return fresh instances of every built-in projection (imported lazily: CLI start-up stays fast)."""
    from .run_state import RunStateProjection

    found: list[Projection] = [RunStateProjection()]
    return found
