"""Fork detection without a syscall per check.

Descriptors, flocks and SQLite connections must not be reused by a forked child (they share
the parent's open file descriptions, and so its lock). Comparing ``os.getpid()`` on every
append costs a syscall; instead a counter is bumped in every child right after fork.
"""
from __future__ import annotations

import os

generation = 0


def _in_child() -> None:
    global generation
    generation += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_in_child)
