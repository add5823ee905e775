"""The `lokilog audit` command group, apart from its commands: audit_cli, audit_anchor_cli and
audit_proofs_cli each add theirs to it, and none of them imports another to find it."""
from __future__ import annotations

import typer

HELP = """\
The audit trail: a hash-chained projection of the log in .loki/lokilog/audit/audit.jsonl (and
its rotations; a chain an older lokilog kept in .loki/audit/ is moved there on first use). Each audited event becomes one entry {seq, timestamp, who, what, where, why,
metadata, previousHash, hash}; see docs/AUDIT.md for the canonical encoding.

Examples:

\b
  lokilog audit sync                      bring the chain up to the log's head
  lokilog audit verify --json             recompute the chain and compare it with the log
  lokilog audit head                      print the head to anchor it elsewhere
  lokilog audit verify --against sha256:...   prove the chain still contains that head
  lokilog audit verify --legacy           verify Loki Mode's own .loki/audit/audit.jsonl
  lokilog audit query --who agent-1 --since 2026-02-21T00:00:00Z
  lokilog audit report soc2               evidence per control, and what is missing
  lokilog audit residency --provider openai --region us-east-1
  lokilog audit sth                       sign and print the Merkle tree head
  lokilog audit prove 42 > proof.json     inclusion proof of the entry for seq 42
  lokilog audit consistency 1000          the tree of 1000 entries is a prefix of today's
  lokilog audit check-proof proof.json --head head.json
"""

audit_app = typer.Typer(help=HELP, no_args_is_help=True, rich_markup_mode=None)
