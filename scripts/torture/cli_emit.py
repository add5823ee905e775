"""Run `lokilog emit --json` once and turn its answer into an ``ACK <id> <seq> <seconds>`` line."""
from __future__ import annotations

import json
import subprocess
import sys
import time


def main(root: str, tag: str) -> int:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "commands", "--loki-dir", root, "emit", "task", f"tag={tag}",
         "--source", f"torture-{tag}", "--json"],
        capture_output=True, text=True, timeout=60,
    )
    took = time.monotonic() - started
    if done.returncode:
        print(f"ERR - exit{done.returncode} {done.stderr.strip().splitlines()[-1:]}", flush=True)
        return done.returncode
    answer = json.loads(done.stdout)
    print(f"ACK {answer['id']} {answer.get('seq') or 'pending'} {took:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
