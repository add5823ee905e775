"""The API's OpenAPI document, generated from the routes; `python -m commands.serve.openapi` rewrites docs/openapi.json."""
from __future__ import annotations

import json
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def document() -> dict:
    """Return the OpenAPI document of the app (built over a placeholder directory; nothing is read)."""
    from .app import build_app
    from .settings import ServeSettings

    return build_app(ServeSettings(Path(".loki"))).openapi()


def render() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DOC
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
