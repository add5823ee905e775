"""The path rule against a real tree with symlinks: no generated path outside the project is allowed."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commands.policy import Decision, evaluate, load_policy_file
from commands.policy.gate import prepare_context

REFERENCE = Path(__file__).parent / "fixtures" / "policies" / "reference.yaml"


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("paths")
    (base / "proj" / "src").mkdir(parents=True)
    (base / "proj" / "src" / "a.py").write_text("x")
    (base / "proj-evil").mkdir()
    (base / "outside").mkdir()
    (base / "outside" / "secret").write_text("s")
    os.symlink("src", base / "proj" / "inlink")
    os.symlink(base / "outside", base / "proj" / "outlink")
    os.symlink("../..", base / "proj" / "src" / "up")
    os.symlink(base / "proj" / "src", base / "proj" / "abs_in")
    os.symlink("../proj-evil", base / "proj" / "evil")
    os.symlink("loop", base / "proj" / "loop")
    os.symlink(base / "proj", base / "projlink")
    return base


def _truly_inside(project_dir: str, file_path: str) -> bool:
    root = os.path.realpath(os.path.abspath(project_dir))
    real = os.path.realpath(os.path.join(os.path.abspath(project_dir), file_path))
    return os.path.commonpath([real, root]) == root


SEGMENTS = ["src", "inlink", "outlink", "up", "..", ".", "", "proj", "proj-evil", "outside", "a.py", "abs_in",
            "evil", "loop", "new.txt", "projlink", "secret"]


@given(data=st.data())
@settings(max_examples=300, deadline=None)
def test_no_generated_path_outside_the_project_is_ever_allowed(tree, data):
    base = str(tree)
    project_dir = data.draw(st.sampled_from([f"{base}/proj", f"{base}/proj/", f"{base}/projlink", f"{base}/proj/./src/.."]))
    prefix = data.draw(st.sampled_from(["", f"{base}/", f"{base}/proj/", "/", f"{base}/projlink/", f"{base}/proj-evil/"]))
    segments = data.draw(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=8))
    file_path = prefix + "/".join(segments)
    policy = load_policy_file(REFERENCE)
    context = prepare_context({"file_path": file_path, "project_dir": project_dir, "active_agents": 1})
    verdict = evaluate(policy, "pre_execution", context)
    expected = file_path != "" and _truly_inside(project_dir, file_path)
    assert (verdict.decision is Decision.ALLOW) == expected, (file_path, project_dir, verdict.reason)


def test_examples(tree):
    policy = load_policy_file(REFERENCE)
    base = str(tree)

    def decide(path: str, project: str = f"{base}/proj") -> str:
        context = prepare_context({"file_path": path, "project_dir": project, "active_agents": 1})
        return evaluate(policy, "pre_execution", context).decision.value

    assert decide("src/a.py") == "allow"
    assert decide("inlink/new.txt") == "allow"
    assert decide("outlink/secret") == "deny"
    assert decide("evil/x") == "deny"
    assert decide(f"{base}/proj-evil/x") == "deny"
    assert decide("src/up/outside/secret") == "deny"
    assert decide("src/a.py", f"{base}/projlink") == "allow"
    assert decide(f"{base}/proj/src/a.py", f"{base}/projlink") == "allow"


@given(root=st.sampled_from(["/proj", "/proj/", "/a/proj", "//proj"]),
       segments=st.lists(st.sampled_from(["..", ".", "", "proj", "proj-evil", "x", "/", "a"]), min_size=1, max_size=10),
       absolute=st.booleans())
@settings(max_examples=300, deadline=None)
def test_the_pure_lexical_check_never_allows_a_path_outside(root, segments, absolute):
    file_path = ("/" if absolute else "") + "/".join(segments)
    policy = load_policy_file(REFERENCE)
    verdict = evaluate(policy, "pre_execution", {"file_path": file_path, "project_dir": root, "active_agents": 1})
    if verdict.decision is Decision.ALLOW:
        real_root = "/" + os.path.normpath(root).lstrip("/")
        target = "/" + os.path.normpath(os.path.join(real_root, file_path)).lstrip("/")
        assert target == real_root or target.startswith(real_root + "/"), (file_path, root)
