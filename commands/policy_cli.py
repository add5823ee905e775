"""Policy and approval commands: `lokilog policy check|validate`, `approve`, `deny`, `approvals`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .context import loki_dir
from .output import echo_json, table

#: Exit codes of `lokilog policy check` (the decision, not an error).
EXIT_ALLOW, EXIT_DENY, EXIT_APPROVAL = 0, 1, 3

policy_app = typer.Typer(help="Governance as code: check actions against .loki/policies.yaml (or .json).",
                         no_args_is_help=True, rich_markup_mode=None)


def register(app: typer.Typer) -> None:
    from .demo_cli import add_section

    app.add_typer(policy_app, name="policy")
    app.command()(approve)
    app.command()(deny)
    app.command()(approvals)
    add_section("Policy checks (the reference policies.yaml)", _demo_section)
    from .doctor_cli import add_check

    add_check("policy", _doctor_policy)


def _doctor_policy(paths):
    """The policy in force, and why the policy file does not load (a broken edit is a problem)."""
    from .doctor_cli import OK, PROBLEM, Section
    from .policy.store import PolicyStore

    state = PolicyStore(paths.root).state
    if not state.configured:
        return Section(OK, ["no policies.yaml (.yml, .json): every check is allowed"], {"configured": False})
    data = {"configured": True, "error": state.error,
            "source": state.policy.source if state.policy else None, "digest": state.policy.digest if state.policy else None}
    if state.error:
        return Section(PROBLEM, [f"the policy file does not load: {state.error}"], data)
    return Section(OK, [f"in force: {state.policy.source} ({state.policy.digest[:16]})"], data)


DEMO_POLICY = """\
policies:
  pre_execution:
    - name: project-boundary
      rule: "file_path must start with project_dir"
      action: deny
    - name: agent-limit
      rule: "active_agents <= 5"
      action: require_approval
  resource:
    - name: token-budget
      max_tokens: 1000000
      alerts: [50, 80, 95]
      on_exceed: require_approval
      providers: [claude, codex]
  data:
    - name: secret-scan
      type: secret_detection
      action: deny
"""


def _demo_section(root: Path) -> str:
    from eventlog.redaction.secrets import redact_tree

    from .policy.gate import PolicyGate

    (root / "policies.yaml").write_text(DEMO_POLICY)
    project = str(root.parent)
    checks = [
        ("pre_execution", {"file_path": "src/app.py", "project_dir": project, "active_agents": 2}),
        ("pre_execution", {"file_path": "../other-project/app.py", "project_dir": project, "active_agents": 2}),
        ("pre_execution", {"file_path": "src/app.py", "project_dir": project, "active_agents": 7}),
        ("resource", {"provider": "claude", "tokens_consumed": 850_000}),
        ("data", {"content": "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE"}),
    ]
    lines = []
    with PolicyGate(root, source="runner") as gate:
        for point, context in checks:
            result = gate.check(point, context)
            shown = redact_tree({k: v for k, v in context.items() if k != "project_dir"})[0]
            lines.append(f"{result.verdict.decision.value:<16} {point:<14} {result.verdict.rule or '-':<17} "
                         f"{_json_preview(shown)}")
    lines.append("Each check is a policy.decision event; the approval is pending: lokilog approvals")
    return "\n".join(lines)


def _json_preview(value: dict) -> str:
    from .output import to_json

    text = to_json(value)
    return text if len(text) <= 70 else text[:69] + "…"


CHECK_HELP = """\
Decide whether an action is allowed at an enforcement point, and record the decision.

POINT is pre_execution (file_path, project_dir, active_agents), pre_deployment
(passed_gates), resource (provider, tokens_consumed) or data (content). The context is a
JSON object (--context '{...}', - for stdin, @FILE):

  lokilog policy check pre_execution --context '{"file_path":"src/a.py","project_dir":"/repo","active_agents":2}'

Every check is recorded as a policy.decision event naming the rule that decided. An
approval-required decision also records approval.requested; answer it with `lokilog approve ID`
or `lokilog deny ID --reason ...`. --wait SECONDS waits for that answer.

Exit codes: 0 allow, 1 deny, 3 approval required (still pending), 2 bad input.
"""


@policy_app.command(help=CHECK_HELP)
def check(
    ctx: typer.Context,
    point: str = typer.Argument(..., help="pre_execution, pre_deployment, resource or data."),
    context: str = typer.Option("{}", "--context", "-c", help="JSON object; '-' for stdin, '@FILE'."),
    source: str = typer.Option("policy", "--source", "-s", help="Who asks: runner, hook, cli, ..."),
    wait: float = typer.Option(0, "--wait", min=0, help="Seconds to wait for an approval's answer."),
    json: bool = typer.Option(False, "--json", help="Print the decision as JSON."),
) -> None:
    from commands.payloads import load_payload_text, parse_object

    from .errors import blame
    from .policy import approvals as approvals_mod
    from .policy.gate import PolicyGate

    with blame(ctx, "context"):
        body = parse_object(load_payload_text(context))
    with PolicyGate(loki_dir(ctx)) as gate:
        result = gate.check(point, body, source=source)
        code = {"allow": EXIT_ALLOW, "deny": EXIT_DENY, "require_approval": EXIT_APPROVAL}[result.verdict.decision.value]
        out = result.to_dict()
        if result.approval_id and wait > 0:
            final = approvals_mod.wait_for(gate.log, result.approval_id, wait)
            out["approval_status"] = final.status
            code = {"granted": EXIT_ALLOW, "denied": EXIT_DENY}.get(final.status, EXIT_APPROVAL)
    if json:
        echo_json(out)
    else:
        typer.echo(_describe(out))
    raise typer.Exit(code)


def _describe(out: dict) -> str:
    line = f"{out['decision'].upper()}  {out['point']}  rule={out['rule'] or '-'}  {out['reason']}"
    if out.get("approval_id"):
        line += f"\napproval {out['approval_id']} requested: lokilog approve {out['approval_id']}"
        if "approval_status" in out:
            line += f"  (now {out['approval_status']})"
    if out.get("notification"):
        n = out["notification"]
        line += f"\nwebhook: {'delivered' if n['delivered'] else 'not delivered'} after {n['attempts']} attempt(s)"
        line += f" ({n['error']})" if n.get("error") else ""
    return line


@policy_app.command()
def validate(
    ctx: typer.Context,
    file: Optional[Path] = typer.Argument(None, help="A policy file (default: the one in the .loki/ directory)."),
    json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Check a policy file and summarise its rules; errors name the file, line and field (exit 2)."""
    from eventlog.errors import InvalidEventError

    from .policy.loader import load_policy_file
    from .policy.store import PolicyStore

    if file is not None:
        policy = load_policy_file(file)
    else:
        state = PolicyStore(loki_dir(ctx)).state
        if state.policy is None:
            raise InvalidEventError(state.error or f"no policies.yaml (.yml, .json) in {loki_dir(ctx)}")
        policy = state.policy
    summary = {
        "source": policy.source, "digest": policy.digest,
        "points": {p: [r.name for r in rules] for p, rules in policy.points.items()},
        "approvals": {"timeout_seconds": policy.approvals.timeout_seconds, "on_timeout": policy.approvals.on_timeout,
                      "webhook": policy.approvals.webhook.url if policy.approvals.webhook else None},
    }
    if json:
        echo_json(summary)
        return
    typer.echo(f"ok: {policy.source}")
    for point, names in summary["points"].items():
        typer.echo(f"  {point}: {', '.join(names) or '(no rules)'}")


def approve(
    ctx: typer.Context,
    approval_id: str = typer.Argument(..., metavar="ID", help="The approval id (see `lokilog approvals`)."),
    by: str = typer.Option("cli", "--by", help="Who approves (recorded)."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Why (recorded)."),
) -> None:
    """Grant a pending approval (records approval.granted). Exit 3 if it was already answered."""
    _answer(ctx, approval_id, True, by, reason)


def deny(
    ctx: typer.Context,
    approval_id: str = typer.Argument(..., metavar="ID", help="The approval id (see `lokilog approvals`)."),
    reason: str = typer.Option(..., "--reason", help="Why (recorded; required)."),
    by: str = typer.Option("cli", "--by", help="Who denies (recorded)."),
) -> None:
    """Deny a pending approval (records approval.denied). Exit 3 if it was already answered."""
    _answer(ctx, approval_id, False, by, reason)


def _answer(ctx: typer.Context, approval_id: str, granted: bool, by: str, reason: Optional[str]) -> None:
    from .context import open_log
    from .policy.approvals import answer

    receipt = answer(open_log(ctx), approval_id, granted, by=by, reason=reason)
    typer.echo(f"{approval_id} {'granted' if granted else 'denied'}  (seq {receipt.seq})")


def approvals(
    ctx: typer.Context,
    all: bool = typer.Option(False, "--all", help="Show answered approvals too."),
    json: bool = typer.Option(False, "--json", help="Print JSON (one array)."),
) -> None:
    """List pending approvals; approvals past their timeout are answered first, as configured."""
    import msgspec

    from .context import open_log
    from .policy.approvals import approvals as fold
    from .policy.approvals import expire_due

    log = open_log(ctx)
    expire_due(log)
    state = fold(log)
    rows = sorted(state.approvals.values(), key=lambda a: a.requested_seq) if all else state.pending()
    if json:
        echo_json(msgspec.to_builtins(rows))
        return
    if not rows:
        typer.echo("no pending approvals" if not all else "no approvals")
        return
    typer.echo(table([[a.approval_id, a.status, a.point, a.rule, a.expires_at, a.reason] for a in rows],
                     ["ID", "STATUS", "POINT", "RULE", "EXPIRES", "REASON"]))
