"""watchdog is a core dependency: without it the watch daemon refuses to start instead of quietly polling."""
from __future__ import annotations

import subprocess
import sys

from conftest import subprocess_env

BLOCKED = """
import sys
sys.modules["watchdog"] = None  # as if it were not installed
from pathlib import Path
from subscribers.watch import Watcher
watcher = Watcher(Path(sys.argv[1]), [], notifications=True)
print("notifications" if watcher.using_notifications else "polling")
"""


def test_a_missing_watchdog_is_an_install_error_not_a_silent_fallback(loki):
    done = subprocess.run([sys.executable, "-c", BLOCKED, str(loki)], env=subprocess_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "polling" not in done.stdout
    assert "watchdog" in done.stderr and ("ImportError" in done.stderr or "ModuleNotFoundError" in done.stderr)
