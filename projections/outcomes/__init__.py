"""Learning from outcomes: the `outcomes` projection and the rules that turn its patterns into
suggestions (see docs/GOVERNANCE-HEALING.md)."""
from .projection import APPLIED_VIEW, SUMMARY_VIEW, OutcomesProjection
from .state import OutcomesState

__all__ = ["APPLIED_VIEW", "SUMMARY_VIEW", "OutcomesProjection", "OutcomesState"]
