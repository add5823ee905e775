"""The policy engine: governance as code, evaluated by the command handlers before they append.

``model`` (decisions), ``rules`` (the pure evaluators), ``loader`` (files -> a PolicySet, with
errors naming file, line and field), ``engine`` (pure, synchronous, I/O-free evaluation),
``store`` (the policy in force, reloaded on change), ``gate`` (the API callers use: evaluate and
record), ``approvals`` and ``webhook`` (approval gates).
"""
from .engine import evaluate
from .loader import PolicyLoadError, load_policy_file, parse_policies
from .model import Decision, PolicySet, Verdict

__all__ = ["Decision", "PolicyLoadError", "PolicySet", "Verdict", "evaluate", "load_policy_file", "parse_policies"]
