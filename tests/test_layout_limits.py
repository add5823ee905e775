"""Size limits of the packages: modules of at most 400 lines, functions of at most 60.

A longer function is allowed when it says why: a comment ``# long: <reason>`` on the line just
above its ``def`` (or its decorators), or ``long: <reason>`` in its docstring's first line.
``KNOWN`` lists today's offenders in files being reworked elsewhere; shrink it, never grow it.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("eventlog", "projections", "commands", "subscribers")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
REASON = re.compile(r"\blong:\s*\S", re.IGNORECASE)

#: Modules allowed over the limit (none today); add one only with a reason beside it.
KNOWN_LONG_MODULES: set[str] = set()
KNOWN_LONG_FUNCTIONS = {("eventlog/appends.py", "plan")}


def _modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")


def _has_reason(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    above = lines[first - 2].strip() if first >= 2 else ""
    if above.startswith("#") and REASON.search(above):
        return True
    doc = ast.get_docstring(node, clean=False)
    return bool(doc) and bool(REASON.search(doc.strip().splitlines()[0]))


def long_functions(rel: str, text: str) -> list[str]:
    """The functions of one module over the limit without a reason, as ``path:line name (n lines)``."""
    lines = text.splitlines()
    found = []
    for node in ast.walk(ast.parse(text, rel)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        length = node.end_lineno - node.lineno + 1
        if length > MAX_FUNCTION_LINES and (rel, node.name) not in KNOWN_LONG_FUNCTIONS and not _has_reason(lines, node):
            found.append(f"{rel}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_module_is_over_400_lines():
    over = [f"{rel} ({len(text.splitlines())} lines)" for rel, text in _modules()
            if len(text.splitlines()) > MAX_MODULE_LINES and rel not in KNOWN_LONG_MODULES]
    assert not over, "split these modules (one job each): " + ", ".join(over)


def test_no_function_is_over_60_lines_without_a_reason():
    over = [entry for rel, text in _modules() for entry in long_functions(rel, text)]
    assert not over, "extract helpers, or say why above the def (# long: ...): " + ", ".join(over)


def test_a_reason_comment_or_docstring_allows_a_long_function():
    body = "".join(f"    x{i} = {i}\n" for i in range(70))
    bare = f"def f():\n{body}"
    commented = f"# long: one table, read top to bottom\ndef f():\n{body}"
    documented = f'def f():\n    """Build the table (long: one table, read top to bottom)."""\n{body}'
    assert long_functions("m.py", bare) == ["m.py:1 f (71 lines)"]
    assert long_functions("m.py", commented) == [] and long_functions("m.py", documented) == []
