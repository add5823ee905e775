"""`lokilog serve` (the HTTP API and dashboard) and `lokilog token` (its bearer tokens)."""
from __future__ import annotations

import importlib.util
from typing import List, Optional

import typer

from .context import loki_dir
from .errors import bad_input
from .output import echo_json, table

SERVE_HELP = """\
Serve the HTTP API and the live dashboard over this .loki/ (needs the serve extra:
pip install 'lokilog[serve]').

Binds 127.0.0.1:57374 by default (the port Loki Mode's SDK assumes). Every request needs a
bearer token; without any configured (`lokilog token create`), a session token with every
scope is minted for this process and printed once, with the dashboard's URL. Binding beyond
this machine (--host 0.0.0.0) is refused unless tokens are configured.

\b
  lokilog demo ./play && LOKI_DIR=./play/.loki lokilog serve
  lokilog token create --scope control --name ci   then   lokilog serve --host 0.0.0.0
  lokilog serve --port 0 --duration 60             a free port, for 60 seconds
"""

TOKEN_HELP = """\
Bearer tokens for `lokilog serve`, stored hashed in .loki/config.yaml (serve.tokens).

Scopes: read (replay, tail, state), control (rollback, approvals, emit; implies read),
audit (the audit trail). Tokens can also come from $LOKILOG_SERVE_TOKENS as
SCOPE[+SCOPE]:TOKEN items separated by commas.

\b
  lokilog token create --scope control --name ci     prints the token once
  lokilog token list
  lokilog token rotate ci --grace 3600               the old token works one more hour
  lokilog token revoke ci
"""

_NEEDED = ("fastapi", "uvicorn", "sse_starlette")


def register(app: typer.Typer) -> None:
    app.command(help=SERVE_HELP)(serve)
    group = typer.Typer(help=TOKEN_HELP, no_args_is_help=True, rich_markup_mode=None)
    group.command("create")(token_create)
    group.command("list")(token_list)
    group.command("rotate")(token_rotate)
    group.command("revoke")(token_revoke)
    app.add_typer(group, name="token")
    from .demo_cli import add_section

    add_section("Control plane (lokilog serve)", _demo)


def _demo(root) -> str:
    return (f"Watch this run live, roll it back and undo it in a browser:\n"
            f"  LOKI_DIR={root} lokilog serve        then open the printed URL")


def missing_extra() -> list[str]:
    """The serve extra's packages that are not installed."""
    missing = []
    for name in _NEEDED:
        try:
            found = importlib.util.find_spec(name) is not None
        except ValueError:  # present in sys.modules as None: imports of it are blocked
            found = False
        if not found:
            missing.append(name)
    return missing


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; beyond loopback needs configured tokens."),
    port: int = typer.Option(57374, "--port", "-p", min=0, max=65535, help="TCP port (0 picks a free one)."),
    duration: Optional[float] = typer.Option(None, "--duration", min=0, help="Stop after this many seconds."),
    session_token: bool = typer.Option(True, "--session-token/--no-session-token",
                                       help="Mint a printed all-scope token for this process when none is configured."),
    json: bool = typer.Option(False, "--json", help="Print {url, port, token} as one JSON line when ready."),
) -> None:
    missing = missing_extra()
    if missing:
        typer.echo(f"lokilog: error: `lokilog serve` needs the serve extra ({', '.join(missing)} missing): "
                   "pip install 'lokilog[serve]'", err=True)
        raise typer.Exit(1)
    from .serve.server import bind, serve as run
    from .serve.settings import ServeSettings, is_loopback
    from .serve.token_store import TokenStore
    from .serve.tokens import SCOPES, mint

    root = loki_dir(ctx)
    configured = TokenStore(root).all()
    if not is_loopback(host) and not configured:
        raise bad_input(f"refusing to serve on {host}: it is reachable beyond this machine and no tokens are "
                        "configured (`lokilog token create` makes one)")
    extra, token = [], None
    if session_token and not configured:
        minted = mint("session", SCOPES)
        extra, token = [minted.record], minted.token
    try:
        sock = bind(host, port)
    except OSError as exc:
        typer.echo(f"lokilog: error: cannot serve on {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}"

    def ready() -> None:
        page = f"{url}/dashboard/" + (f"#token={token}" if token else "")
        if json:
            echo_json({"url": url, "port": bound, "dashboard": page, "token": token, "loki_dir": str(root)})
        else:
            typer.echo(f"lokilog serve: {root} on {url}  (API docs {url}/docs)")
            typer.echo(f"dashboard: {page}")
            if token:
                typer.echo(f"session token (every scope, this process only; shown once): {token}")

    settings = ServeSettings.from_env(root, host=host, port=bound)
    try:
        run(settings, sock, extra_tokens=extra, duration=duration, on_ready=ready)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()


def token_create(
    ctx: typer.Context,
    scope: List[str] = typer.Option(..., "--scope", "-s", help="read, control or audit (repeatable)."),
    name: Optional[str] = typer.Option(None, "--name", "-n", help="A name for listings and events (default: its id)."),
    json: bool = typer.Option(False, "--json", help="Print {token, id, name, scopes} as JSON."),
) -> None:
    """Create a token and print it once; only its sha256 digest is stored (in .loki/config.yaml)."""
    from .serve.token_store import TokenStore

    parts = [s for item in scope for s in item.split(",")]
    store = TokenStore(loki_dir(ctx))
    minted = store.create(name, parts)
    if json:
        echo_json({"token": minted.token, **minted.record.public()})
        return
    typer.echo(minted.token)
    typer.echo(f"(token {minted.record.id} '{minted.record.name}', scopes {', '.join(minted.record.scopes)}; "
               "shown once: store it now)", err=True)


def token_list(ctx: typer.Context, json: bool = typer.Option(False, "--json")) -> None:
    """List tokens (ids, names, scopes; never secrets)."""
    from .serve.token_store import TokenStore

    records = TokenStore(loki_dir(ctx)).all()
    if json:
        echo_json([r.public() for r in records])
        return
    if not records:
        typer.echo("No tokens. Create one with: lokilog token create --scope read")
        return
    typer.echo(table([[r.id, r.name, ",".join(r.scopes), r.origin, r.created_at or "-", r.expires_at or "-"]
                      for r in records], ["ID", "NAME", "SCOPES", "FROM", "CREATED", "EXPIRES"]))


def token_rotate(
    ctx: typer.Context,
    identifier: str = typer.Argument(..., metavar="ID|NAME"),
    grace: float = typer.Option(0, "--grace", min=0, help="Seconds the old token keeps working."),
    json: bool = typer.Option(False, "--json"),
) -> None:
    """Give a token a new secret and print it once."""
    from .serve.token_store import TokenStore

    minted = TokenStore(loki_dir(ctx)).rotate(identifier, grace)
    if json:
        echo_json({"token": minted.token, **minted.record.public()})
    else:
        typer.echo(minted.token)


def token_revoke(ctx: typer.Context, identifier: str = typer.Argument(..., metavar="ID|NAME")) -> None:
    """Remove a token: it stops working at the server's next request."""
    from .serve.token_store import TokenStore

    removed = TokenStore(loki_dir(ctx)).revoke(identifier)
    typer.echo(f"revoked {removed.id} '{removed.name}'")
