"""Crash capture for lokilog's own processes: an uncaught exception becomes a scrubbed `error` event.

Capture never raises and never blocks for long: everything runs inside one ``try``, the log
lock is waited for at most :data:`LOCK_TIMEOUT` seconds before the event goes to the drop box,
and no subprocess is started (the git remote is read from ``.git/config`` directly). The event
is scrubbed before it is written; if scrubbing fails, nothing is written at all. With
telemetry off (see :mod:`commands.telemetry.consent`) nothing is captured. Nothing is sent anywhere:
capture only appends to the local log.

Handled failures (exit codes 1, 2 and 3 with a one-line message) are outcomes the CLI
reports, not crashes, and are not recorded; any other non-zero exit is, as ``error.exit``.

This module is imported by every CLI start, so its imports are light; the scrubber and the
log are imported only when there is something to capture.
"""
from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Mapping

LOCK_TIMEOUT = 0.5
MESSAGE_CHARS = 4096
#: Exit codes the CLI uses for handled outcomes (see commands/errors.py), and Ctrl-C.
HANDLED_EXITS = frozenset({0, 1, 2, 3, 130})

_loki_dir: Path | None = None


def remember_loki_dir(path: Path | None) -> None:
    """Note the --loki-dir of this invocation, so a later crash is recorded in the right log."""
    global _loki_dir
    _loki_dir = Path(path) if path is not None else None


def guarded(run: Callable[[], Any], component: str = "cli") -> Any:
    """Run ``run`` and record an uncaught exception or an unexpected exit, then let it propagate."""
    try:
        return run()
    except SystemExit as done:
        code = done.code
        if code is not None and not (isinstance(code, int) and code in HANDLED_EXITS):
            record_exit(code if isinstance(code, int) else 1, component=component)
        raise
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # noqa: BLE001 - recorded, then re-raised unchanged
        capture_exception(error, component=component)
        raise


def install_thread_hook(component: str = "cli") -> None:
    """Record uncaught exceptions of threads too (the daemon's workers), then call the previous hook."""
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None and not isinstance(args.exc_value, SystemExit):
            capture_exception(args.exc_value, component=f"{component}:thread")
        previous(args)

    threading.excepthook = hook


def capture_exception(error: BaseException, *, component: str = "cli", exit_code: int = 1,
                      loki_dir: Path | None = None, env: Mapping[str, str] | None = None):
    """Record ``error`` as an `error.crash` event; return the receipt, or None if nothing was written."""
    try:
        import traceback

        stack = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        raw = {"action": "crash", "error_class": type(error).__name__, "message": str(error)[:MESSAGE_CHARS],
               "component": component, "stack": stack, "exit_code": exit_code}
        return _record(raw, loki_dir, env)
    except BaseException:  # noqa: BLE001 - capture must never raise over the crash it records
        return None


def record_exit(code: int, *, component: str = "cli", loki_dir: Path | None = None,
                env: Mapping[str, str] | None = None):
    """Record an unexpected non-zero exit as an `error.exit` event (error_class NonZeroExit)."""
    try:
        raw = {"action": "exit", "error_class": "NonZeroExit", "message": f"exit status {code}",
               "component": component, "exit_code": code}
        return _record(raw, loki_dir, env)
    except BaseException:  # noqa: BLE001
        return None


def record_friction(kind: str, *, message: str = "", component: str = "cli", loki_dir: Path | None = None,
                    env: Mapping[str, str] | None = None):
    """Record a friction signal (retry_loop, rate_limit_loop, gate_failure) as an `error.friction` event."""
    try:
        raw = {"action": "friction", "error_class": "Friction", "friction_kind": kind,
               "message": message[:MESSAGE_CHARS], "component": component}
        return _record(raw, loki_dir, env)
    except BaseException:  # noqa: BLE001
        return None


def _record(raw: dict[str, Any], loki_dir: Path | None, env: Mapping[str, str] | None):
    from eventlog import FileEventLog, LogSettings, resolve_loki_dir

    from ..telemetry import consent as telemetry

    env = os.environ if env is None else env
    if not telemetry.enabled(env):
        return None
    root = resolve_loki_dir(loki_dir or _loki_dir, env)
    if not root.is_dir():
        return None  # never create a .loki/ just to record a crash in it
    payload = scrubbed_event_payload(raw, root, env)
    if payload is None:
        return None
    settings = LogSettings.from_env(env)
    settings = LogSettings(durability=settings.durability, lock_timeout=min(settings.lock_timeout, LOCK_TIMEOUT),
                           segment_max_bytes=settings.segment_max_bytes, max_event_bytes=settings.max_event_bytes,
                           pending_fallback=True)
    with FileEventLog(root, settings=settings) as log:
        return log.append("error", "cli", payload, durability="always")


def scrubbed_event_payload(raw: Mapping[str, Any], root: Path, env: Mapping[str, str]) -> dict[str, Any] | None:
    """The event payload: ``raw`` plus machine facts, scrubbed with this machine's context; None if scrubbing failed."""
    from eventlog.redaction import scrub

    remote = git_remote(root.resolve().parent)
    context = scrub.ScrubContext(home_dirs=_homes(env), user_names=_users(env),
                                 repositories=tuple(r for r in [scrub.repository_of(remote or "")] if r))
    facts = {
        "os": _uname("sysname"), "arch": _uname("machine"), "loki_version": _version(),
        "runtime": {"python": ".".join(map(str, sys.version_info[:3]))},
        "project_id_hash": scrub.project_id_hash(remote) if remote else None,
        "rarv_phase": env.get("LOKI_RARV_PHASE") or None,
    }
    try:
        cleaned, count = scrub.scrub_tree({**raw, **{k: v for k, v in facts.items() if v is not None}},
                                          scrub.detectors_for(context))
    except Exception:  # noqa: BLE001 - fail closed: no scrub, no write
        return None
    cleaned.update({"scrubbed": True, "rules_version": scrub.RULES_VERSION, "redactions": count})
    return cleaned


def _homes(env: Mapping[str, str]) -> tuple[str, ...]:
    found = {env.get("HOME") or "", env.get("USERPROFILE") or ""}
    try:
        found.add(str(Path.home()))
    except (RuntimeError, KeyError):
        pass
    return tuple(h for h in found if h and h not in ("/", "/root"))


def _users(env: Mapping[str, str]) -> tuple[str, ...]:
    found = {env.get(k) or "" for k in ("USER", "LOGNAME", "USERNAME")}
    try:
        import pwd

        found.add(pwd.getpwuid(os.getuid()).pw_name)
    except (ImportError, KeyError, OSError):
        pass
    return tuple(u for u in found if u)


def _uname(field: str) -> str | None:
    try:
        return getattr(os.uname(), field)
    except (AttributeError, OSError):
        import platform

        return platform.system() if field == "sysname" else platform.machine()


def _version() -> str | None:
    try:
        from importlib.metadata import version

        return version("lokilog")
    except Exception:  # noqa: BLE001 - not installed (a checkout on PYTHONPATH)
        return None


def git_remote(start: Path, max_levels: int = 64) -> str | None:
    """The URL of the ``origin`` remote (else the first one) of the repository holding ``start``.

    Reads the config file directly, worktrees included (``.git`` file -> ``commondir``): no
    git process, so capture cannot hang on one.
    """
    directory = start
    for _ in range(max_levels):
        dot_git = directory / ".git"
        if dot_git.exists():
            config = _git_config(dot_git)
            return _remote_url(config) if config is not None else None
        if directory.parent == directory:
            return None
        directory = directory.parent
    return None


def _git_config(dot_git: Path) -> Path | None:
    try:
        if dot_git.is_file():
            text = dot_git.read_text(errors="replace")[:4096]
            if not text.startswith("gitdir:"):
                return None
            git_dir = (dot_git.parent / text[len("gitdir:"):].strip()).resolve()
            common = git_dir / "commondir"
            if common.is_file():
                git_dir = (git_dir / common.read_text(errors="replace").strip()).resolve()
            return git_dir / "config"
        return dot_git / "config"
    except OSError:
        return None


def _remote_url(config: Path) -> str | None:
    try:
        with open(config, "rb") as handle:
            text = handle.read(1024 * 1024).decode("utf-8", "replace")
    except OSError:
        return None
    urls: dict[str, str] = {}
    section = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]").strip()
        elif section and section.startswith("remote ") and line.startswith("url") and "=" in line:
            name = section[len("remote "):].strip().strip('"')
            urls.setdefault(name, line.split("=", 1)[1].strip())
    return urls.get("origin") or next(iter(urls.values()), None)
