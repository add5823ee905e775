"""Self-healing as a process manager: failures in, one recorded decision each out.

:mod:`.rules` holds the rules (pure), :mod:`.history` the fold they judge against, and
:mod:`.manager` the subscriber that records and carries out the decisions. See
docs/GOVERNANCE-HEALING.md.
"""
