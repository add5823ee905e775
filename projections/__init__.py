"""Pure folds of the log: (state, event) -> state, their snapshots and materialized views."""
