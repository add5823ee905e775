"""Checkpoints: named log positions plus the state files the log does not hold, and rollback to them.

`lifecycle` creates, lists, imports and prunes checkpoints; `rollback` restores one (through
`restore`); `store` is the content-addressed object store under `.loki/checkpoints/`; `capture`
decides what a checkpoint holds; `git_snapshot` records the git working tree; `legacy` reads
Loki Mode's own checkpoints; `ids` mints and checks ids; `faults` injects crashes for tests.
The typer glue is `commands/checkpoint_cli.py`.
"""
from .lifecycle import Created, Pruned, Repair, catalogue, create, find, list_checkpoints, prune, repair
from .store import CheckpointError, CheckpointNotFoundError

__all__ = ["CheckpointError", "CheckpointNotFoundError", "Created", "Pruned", "Repair", "catalogue", "create",
           "find", "list_checkpoints", "prune", "repair"]
