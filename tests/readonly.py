"""Run `lokilog` commands against a `.loki/` on a really read-only file system (EROFS).

Root ignores permission bits, so chmod cannot make a directory read-only for it. Instead a
child process gets a mount namespace of its own (``unshare``), bind-mounts the directory
read-only there and runs the commands in-process: every write fails with EROFS as on a
read-only disk, and the mount disappears with the child, whatever happens to it.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import subprocess_env

DRIVER = r"""
import errno, json, os, sys, traceback
from typer.testing import CliRunner
from commands.cli import app

spec = json.load(open(sys.argv[1]))
probe = os.path.join(spec["mount"], ".write-probe")
try:
    open(probe, "w").close()
    proof = "writable"
except OSError as error:
    proof = errno.errorcode.get(error.errno, str(error.errno))
results = []
for case in spec["cases"]:
    result = CliRunner().invoke(app, case["args"], env=case.get("env"))
    crashed = result.exception if not isinstance(result.exception, SystemExit) else None
    results.append({"exit": result.exit_code, "stdout": result.stdout, "stderr": result.stderr,
                    "crash": "".join(traceback.format_exception(crashed)) if crashed else None})
json.dump({"proof": proof, "results": results}, sys.stdout)
"""

MOUNT = '{ mount --bind "$1" "$2" && mount -o remount,bind,ro "$2"; } || exit 97; shift 2; exec "$@"'
NO_NAMESPACE = 97
_WAYS = (["unshare", "--mount", "--map-root-user"], ["unshare", "--mount"])


def run_read_only(source: Path, mount: Path, cases: list[dict], work: Path, timeout: float = 120) -> list[dict]:
    """Run each case ({"args": [...], "env": {...}}) in-process with ``source`` mounted read-only at ``mount``."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        pytest.skip("read-only tests need unshare(1) and mount(1) (util-linux)")
    mount.mkdir(parents=True, exist_ok=True)
    driver, spec = work / "readonly_driver.py", work / "readonly_spec.json"
    driver.write_text(DRIVER)
    spec.write_text(json.dumps({"mount": str(mount), "cases": cases}))
    tried = []
    for way in _WAYS:
        done = subprocess.run([*way, "sh", "-c", MOUNT, "sh", str(source), str(mount), sys.executable, str(driver),
                               str(spec)], env=subprocess_env(), capture_output=True, text=True, timeout=timeout)
        if done.returncode == NO_NAMESPACE or done.stderr.startswith("unshare:"):
            tried.append(f"{' '.join(way)}: {done.stderr.strip()[-300:]}")
            continue
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["proof"] == "EROFS", f"the mount at {mount} is not read-only: {report['proof']}"
        return report["results"]
    pytest.skip("no read-only bind mount possible here (needs a mount namespace): " + " | ".join(tried))
