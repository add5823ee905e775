"""The projection engine: runs projections over the log (snapshots, catch-up, rebuilds, time travel).

`runner` resumes each projection from its snapshot and folds what follows; `rebuilding` folds
them again from seq 1 (taking what `blocks` memoized where it can); `fold` is the pure
many-projections-in-one-pass fold with the poison policy; `snapshots` writes and checks the
files under `.loki/projections/<name>/`. The contract a projection implements is
`projections.base`; the list of built-in projections is `projections.registry`.
"""
from .health import health
from .rebuilding import rebuild
from .runner import ProjectionState, Runner, RunnerGroup, catch_up, state_at

__all__ = ["ProjectionState", "Runner", "RunnerGroup", "catch_up", "health", "rebuild", "state_at"]
