"""Run the bash and TypeScript clients as real processes from tests."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BASH_EMIT = REPO / "scripts" / "lokilog-emit"
TS_DIR = REPO / "scripts" / "ts"
TS_DIST = TS_DIR / "dist" / "index.js"
VECTORS = json.loads((REPO / "tests" / "vectors" / "events.json").read_text(encoding="utf-8"))


def emit_env(loki: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOKI")}
    env["LOKI_DIR"] = str(loki)
    env.update(extra)
    return env


def bash_emit(*args: str | bytes, loki: Path, input: bytes | None = None, timeout: float = 30, **env: str):
    """Run `lokilog-emit ARGS` against ``loki``; returns the CompletedProcess (bytes)."""
    return subprocess.run(
        ["bash", str(BASH_EMIT), *args], env=emit_env(loki, **env), input=input,
        capture_output=True, timeout=timeout,
    )


def ts_client() -> Path:
    """Return the built TypeScript client, building it once if needed; skip without node."""
    if TS_DIST.exists():
        return TS_DIST
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node and npm are needed for the TypeScript client")
    subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=TS_DIR, check=True, timeout=300)
    subprocess.run(["npx", "--no-install", "tsc", "-p", "."], cwd=TS_DIR, check=True, timeout=300)
    return TS_DIST


def node_emit(events: list[dict], loki: Path, durable: bool = False, timeout: float = 60) -> list[str]:
    """Emit events with the TypeScript client in one node process; return the ids it printed."""
    script = (
        "const c = require(process.argv[1]);"
        "const events = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "for (const e of events) process.stdout.write(c.emit(e, {durable: process.argv[2] === '1'}) + '\\n');"
    )
    done = subprocess.run(
        ["node", "-e", script, str(ts_client()), "1" if durable else "0"], input=json.dumps(events).encode(),
        env=emit_env(loki), capture_output=True, timeout=timeout,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode().split()


def to_ts_event(event: dict) -> dict:
    """A vector's event in the TypeScript client's field names."""
    renames = {"correlation_id": "correlationId", "causation_id": "causationId"}
    return {renames.get(k, k): v for k, v in event.items()}


def bash_args(event: dict) -> list[str]:
    """The lokilog-emit arguments that produce a vector's event."""
    payload = dict(event.get("payload") or {})
    args = [event["type"], event["source"], payload.pop("action", "")]
    for key, value in payload.items():
        if isinstance(value, str):
            args.append(f"{key}={value}")
        else:
            args.append(f"{key}:={json.dumps(value, ensure_ascii=False)}")
    for field in ("id", "timestamp", "stream", "correlation_id", "causation_id"):
        if field in event:
            args += [f"--{field.replace('_', '-')}", event[field]]
    return args


def log_lines(loki: Path) -> list[bytes]:
    """Every line of every segment, in order, newlines included."""
    out: list[bytes] = []
    for segment in sorted((loki / "events" / "log").glob("*.jsonl")):
        out += segment.read_bytes().splitlines(keepends=True)
    return out


def pending_files(loki: Path) -> list[Path]:
    return sorted((loki / "events" / "pending").glob("*.json"))
