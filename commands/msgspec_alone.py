"""Import msgspec without typing_extensions, for the commands whose start-up is measured.

msgspec looks for typing_extensions first and falls back to typing; loading typing_extensions
(with the inspect, ast and dis it pulls in) costs more than all of msgspec. What msgspec takes
from it is, on Python >= 3.11 (the floor in pyproject.toml), the same as typing's: the same
``Required`` and ``NotRequired`` objects, and a ``get_type_hints`` that with
``include_extras=True`` returns typing's result unchanged; msgspec uses them only for
TypedDicts and dataclasses, never for the log's Structs. The block lasts for this one import:
anything imported later finds typing_extensions as usual.
"""
from __future__ import annotations

import sys


def import_msgspec() -> None:
    """Import msgspec, with typing_extensions hidden while it loads, unless either is loaded already."""
    if "msgspec" in sys.modules or "typing_extensions" in sys.modules or sys.version_info < (3, 11):
        return
    sys.modules["typing_extensions"] = None  # type: ignore[assignment] - what `import` reads as "not installed"
    try:
        import msgspec  # noqa: F401
    except ImportError:
        pass  # the import that needs it reports the problem, with the block gone
    finally:
        if sys.modules.get("typing_extensions", 0) is None:
            del sys.modules["typing_extensions"]
