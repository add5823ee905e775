"""Every third-party package the code imports is declared in pyproject.toml.

A package that happens to be installed on the machine (as click once was, beside an older
typer) must not make an undeclared import pass: the imports are read from the source (ast)
and matched to distributions through importlib.metadata, then to pyproject's declarations.
"""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("eventlog", "commands", "projections", "subscribers")


def imported_modules(source: str) -> set[str]:
    """Top-level names of every absolute import in ``source``, wherever it stands."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def third_party_imports() -> dict[str, set[str]]:
    """Map each third-party top-level module to the files that import it."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for name in imported_modules(path.read_text()):
                if name in sys.stdlib_module_names or name in PACKAGES or name == "__future__":
                    continue
                found.setdefault(name, set()).add(str(path.relative_to(REPO)))
    return found


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> dict[str, str]:
    """Map each declared distribution to where it is declared: 'core' or the extra's name."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    where = {normalise(_name_of(req)): "core" for req in project["dependencies"]}
    for extra, reqs in project.get("optional-dependencies", {}).items():
        for req in reqs:
            where.setdefault(normalise(_name_of(req)), extra)
    return where


def _name_of(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement).group(0)


def test_the_import_reader_sees_imports_inside_functions_and_skips_relative_ones():
    source = "import a.b\nfrom c import d\nfrom . import e\nfrom .f import g\ndef h():\n    import i\n"
    assert imported_modules(source) == {"a", "c", "i"}


def test_every_imported_third_party_package_is_declared_in_pyproject():
    distributions = packages_distributions()
    declarations = declared()
    problems = []
    for module, files in sorted(third_party_imports().items()):
        owners = distributions.get(module)
        if not owners:
            problems.append(f"{module} (imported by {', '.join(sorted(files))}) is not installed")
        elif not any(normalise(d) in declarations for d in owners):
            problems.append(f"{module} (imported by {', '.join(sorted(files))}) comes from "
                            f"{', '.join(owners)}, which pyproject.toml does not declare")
    assert not problems, "\n".join(problems)


def test_the_test_runner_and_its_time_limit_are_declared_in_the_test_extra():
    declarations = declared()
    assert {name: declarations.get(name) for name in ("pytest", "hypothesis", "pytest-timeout")} == {
        "pytest": "test", "hypothesis": "test", "pytest-timeout": "test"}


def test_python_versions_below_the_tested_one_are_not_claimed():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    assert sys.version_info >= (3, 11)


def _release_line(version: str) -> tuple[int, ...]:
    """The part of a version that marks a line of releases: the major, or 0.minor before 1.0."""
    parts = [int(p) for p in re.findall(r"\d+", version)[:2]] + [0]
    return (parts[0],) if parts[0] else (0, parts[1])


def test_every_lower_bound_names_the_release_line_the_suite_runs_against():
    # A bound older than what the suite installs claims support nobody tested
    # (cryptography>=42 while 50 ran): keep each bound on the tested line.
    from importlib.metadata import PackageNotFoundError, version

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for reqs in project.get("optional-dependencies", {}).values():
        requirements.extend(r for r in reqs if not r.startswith("lokilog"))
    stale = []
    for requirement in requirements:
        bound = re.search(r">=\s*([0-9][0-9.]*)", requirement)
        if not bound:
            continue
        try:
            installed = version(_name_of(requirement))
        except PackageNotFoundError:
            stale.append(f"{requirement}: not installed by the test command")
            continue
        if _release_line(bound.group(1)) != _release_line(installed):
            stale.append(f"{requirement}: the suite runs {installed}")
    assert not stale, "\n".join(stale)
