"""The write side of the audit trail: witness anchors, signed tree heads, data residency.

`anchors` publishes and checks the chain head with an external witness (`witness`); `heads`
signs Merkle tree heads; `residency` checks model providers against the residency policy. The
trail itself is the projection `projections.audit`; the typer glue is `commands/audit_*cli.py`.
"""
