"""No module imports another module's private names (a leading underscore) or a dependency's.

A private name is free to change with the module that defines it; a caller elsewhere would break
silently. What another module needs is public there, under a name that says so.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("eventlog", "projections", "commands", "subscribers")


def private_imports() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom):
                    names = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                    module = node.module or ""
                    if any(part.startswith("_") and not part.startswith("__") for part in module.split(".")):
                        names.append(module)
                    found += [f"{path.relative_to(REPO)}:{node.lineno}: {name}" for name in names]
                elif isinstance(node, ast.Import):
                    found += [f"{path.relative_to(REPO)}:{node.lineno}: {a.name}" for a in node.names
                              if any(p.startswith("_") and not p.startswith("__") for p in a.name.split("."))]
    return found


def test_no_private_names_are_imported_across_modules():
    assert private_imports() == []
